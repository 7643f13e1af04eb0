import ArgumentParser
import Foundation
import LLM
import TensorCore

/// `dnd bench train`: training tokens/s (LoRA, and full training for small models) against forward-only scoring.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "LoRA (and full) training tokens/s at the tiny, demo and Qwen2.5-0.5B shapes, compared with forward-only.",
        discussion: """
        Random weights built in memory; every token of every sequence carries a loss. 'forward' is the scoring pass
        (no activations kept); 'LoRA step' is forward + backward for a rank-r adapter on all seven modules with the
        base frozen; 'full step' also computes every base gradient (pretraining). Optimizer time is not included.
        """
    )

    @Option(help: "Shapes to run: tiny, demo, 0.5b.") var shapes: [String] = ["tiny", "demo", "0.5b"]
    @Option(help: "LoRA rank.") var rank = 8
    @Option(help: "Timed repetitions (best is reported).") var repeats = 3
    @Option(help: "Data-parallel shards of a training step (threads with single-threaded BLAS; 1 = one multi-threaded BLAS; default: dnd's choice per shape).") var shards: Int?

    func validate() throws {
        for s in shapes where !["tiny", "demo", "0.5b"].contains(s) { throw ValidationError("unknown shape '\(s)'; use tiny, demo or 0.5b") }
        guard rank >= 1, repeats >= 1 else { throw ValidationError("--rank and --repeats must be positive") }
    }

    func run() throws {
        let peak = sgemmPeakGFLOPS()
        print(String(format: "training bench, %d BLAS threads, sgemm peak (1024³) %.1f GFLOPS, LoRA rank %d on all modules", BLAS.threads, peak, rank))
        print("shape                          batch×len  shards  forward tok/s   LoRA step tok/s (×fwd)   full step tok/s (×fwd)")
        for s in shapes {
            let (name, config, batch, len, full): (String, ModelConfig, Int, Int, Bool)
            switch s {
            case "tiny": (name, config, batch, len, full) = ("tiny (64 hidden, 2 layers)", BenchShapes.tiny(), 8, 64, true)
            case "demo": (name, config, batch, len, full) = ("demo (128 hidden, 4 layers)", BenchShapes.demo(), 16, 128, true)
            default: (name, config, batch, len, full) = ("Qwen2.5-0.5B (896, 24 layers)", BenchShapes.qwen05B(), 2, 64, false)
            }
            let model = try BenchShapes.model(config)
            let lora = try model.bind(BenchShapes.adapter(for: model, rank: rank))
            var rng = SeededRNG(seed: 9)
            let seqs = (0..<batch).map { _ in (0..<(len + 1)).map { _ in rng.int(below: 256) } }
            let inputs = seqs.map { Array($0.dropLast()) }, labels = seqs.map { Array($0.dropFirst()) }
            let tokens = Double(batch * len)
            let turns = inputs.map { (prompt: [$0[0]], response: Array($0.dropFirst())) }
            let reps = s == "0.5b" ? max(1, repeats - 1) : repeats
            let tf = bestTime(repeats: reps) { _ = try! model.scoreIds(turns, lora: nil) }
            let k = shards ?? model.transformer.defaultShards(batch: batch)
            let tl = bestTime(repeats: reps) { _ = model.transformer.lossAndGradients(inputs: inputs, labels: labels, lora: lora, trainBase: false, shards: k) }
            var line = name.padding(toLength: 31, withPad: " ", startingAt: 0) + "\(batch)×\(len)".padding(toLength: 11, withPad: " ", startingAt: 0)
                + "\(k)".padding(toLength: 4, withPad: " ", startingAt: 0)
            line += String(format: "%13.0f   %15.0f (%.2f×)", tokens / tf, tokens / tl, tf / tl)
            if full {
                let tb = bestTime(repeats: reps) { _ = model.transformer.lossAndGradients(inputs: inputs, labels: labels, lora: nil, trainBase: true, shards: k) }
                line += String(format: "   %15.0f (%.2f×)", tokens / tb, tf / tb)
            } else {
                line += "   (not run: 0.5B full training)"
            }
            print(line)
        }
    }
}
