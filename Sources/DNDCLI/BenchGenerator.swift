import ArgumentParser
import CBLAS
import Foundation
import Generator
import TensorCore

/// The same batch every step: the bench times the trainer, not a data pipeline.
struct FixedBatch: TrainingSampleSource {
    let condition: Tensor, target: Tensor
    mutating func nextBatch(size: Int, rng: inout SeededRNG) throws -> (condition: Tensor, target: Tensor) { (condition, target) }
}

/// `dnd bench generator`: speed and memory of the hyper-convolutional decoder.
struct BenchGenerator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generator",
        abstract: "Hyper-convolutional decoder: forward and forward+backward time, GFLOPS, % of sgemm peak, activation memory.",
        discussion: """
        Chains: the default CPU chain (GeneratorConfig.cpuDefault, automatic budget) for a demo-like target and for
        the Qwen2.5-0.5B target (all seven modules, r=8, cw=128: 4296 tokens of 10×130), and a scaled-down
        reference-like chain (kernel 9, seven blocks). FLOPs count the convolutions' multiply-adds ×2; a training
        step (forward + backward) costs 3× the forward.
        """
    )

    @Option(help: "Prompts per condition N.") var prompts = 16
    @Option(help: "Tokens per prompt L.") var length = 64
    @Option(help: "Encoder hidden size H.") var hidden = 384
    @Option(help: "Training batch size for the timings.") var batch = 4
    @Option(help: "Timed repetitions (best is reported).") var repeats = 5
    @Option(help: "Forward FLOPs budget of the reference-like chain, in GFLOPs per sample.") var referenceBudget = 12.0
    @Option(help: "Which chains to run: demo, qwen, reference (default: all).") var only: [String] = []

    func validate() throws {
        guard batch >= 1, repeats >= 1, prompts >= 1, length >= 1, hidden >= 1 else { throw ValidationError("sizes must be positive") }
        let known: Set = ["demo", "qwen", "reference"]
        if let bad = only.first(where: { !known.contains($0) }) { throw ValidationError("--only \(bad): use demo, qwen or reference") }
    }

    func run() throws {
        // The best of three: other work on the machine only ever lowers a measurement.
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "?"
        let peak = (0..<3).map { _ in sgemmPeakGFLOPS() }.max()!
        print("hyper-convolutional decoder, condition \(prompts)×\(length)×\(hidden), training batch \(batch), \(BLAS.threads) BLAS threads")
        print(String(format: "sgemm peak (1024³): %.1f GFLOPS; load average before the run: %@ (other work makes every number noisy)", peak, load))
        var runs: [(String, String, GeneratorConfig)] = []
        if only.isEmpty || only.contains("demo") {
            runs.append(("demo", "default CPU chain, demo target (256 tokens of 10×34: r=8, cw=32)",
                         try GeneratorConfig.cpuDefault(prompts: prompts, length: length, hidden: hidden, tokenCount: 256, rank: 8, chunkWidth: 32)))
        }
        if only.isEmpty || only.contains("qwen") {
            runs.append(("qwen", "default CPU chain, Qwen2.5-0.5B target (4296 tokens of 10×130: r=8, cw=128)",
                         try GeneratorConfig.cpuDefault(prompts: prompts, length: length, hidden: hidden, tokenCount: 4296, rank: 8, chunkWidth: 128)))
        }
        if only.isEmpty || only.contains("reference") {
            let chain = try ChainBuilder.build(condition: [prompts, length, hidden], target: [256, 10, 34], kernel: 9, blocks: 7,
                                               budget: .flops(referenceBudget * 1e9))
            runs.append(("reference", "reference-like chain, kernel 9, seven blocks, demo target", try GeneratorConfig(chain: chain, kernel: 9)))
        }
        for (_, title, config) in runs { try measure(title, config, peak: peak) }
    }

    func measure(_ title: String, _ config: GeneratorConfig, peak: Double) throws {
        let g = HyperConvGenerator(config: config, seed: 1)
        var rng = SeededRNG(seed: 2)
        let x1 = Tensor.randomNormal([1] + config.conditionShape, rng: &rng)
        let x = Tensor.randomNormal([batch] + config.conditionShape, rng: &rng)
        let target = Tensor.randomNormal([batch] + config.tokenShape, rng: &rng)
        let weights = Tensor(shape: [config.tokenCount], repeating: 1)
        let flops = config.forwardFLOPs
        print("")
        print(title)
        print("  chain \(config.chain), kernel \(config.kernel)")
        print(String(format: "  %.2f M parameters, %.3f GFLOP per sample forward", Double(config.parameterCount) / 1e6, flops / 1e9))

        let t1 = bestTime(repeats: repeats) { _ = try? g.forward(x1) }
        print(String(format: "  generate (B=1):     %9.2f ms  %7.1f GFLOPS  (%3.0f%% of sgemm)", t1 * 1e3, flops / t1 / 1e9, 100 * flops / t1 / 1e9 / peak))
        let tf = bestTime(repeats: repeats) { _ = try? g.forward(x) }
        let ff = flops * Double(batch)
        print(String(format: "  forward (B=%d):      %9.2f ms  %7.1f GFLOPS  (%3.0f%% of sgemm)", batch, tf * 1e3, ff / tf / 1e9, 100 * ff / tf / 1e9 / peak))

        var saved = 0
        func step() {
            guard let (y, cache) = try? g.forwardWithCache(x) else { return }
            saved = cache.bytes + 4 * y.count
            var grads: [String: Tensor] = [:]
            g.backward(&grads, dOut: WeightedMSE.backward(y, target: target, weights: weights), cache: cache)
        }
        let tb = bestTime(repeats: repeats, step)

        let fb = 3 * ff
        print(String(format: "  forward+backward (B=%d): %6.2f ms  %7.1f GFLOPS  (%3.0f%% of sgemm)", batch, tb * 1e3, fb / tb / 1e9, 100 * fb / tb / 1e9 / peak))
        var options = HyperConvTrainerOptions()
        options.batchSize = batch
        options.steps = 1_000_000
        options.checkpointEvery = 0
        var trainer = try HyperConvTrainer(generator: g, options: options)
        var source = FixedBatch(condition: x, target: target)
        let ts = bestTime(repeats: repeats) { _ = try? trainer.trainStep(source: &source) }
        print(String(format: "  training step (B=%d): %8.2f ms  (forward+backward, noise on conditions and targets, loss, clipping, AdamW)", batch, ts * 1e3))
        let peakRSS = peakResidentGrowth(step)
        print(String(format: "  activations saved for backward (with the output): %.1f MiB; peak resident growth during forward+backward: %@",
                     Double(saved) / 1048576, peakRSS.map { String(format: "%.1f MiB", Double($0) / 1048576) } ?? "n/a (no /proc/self/clear_refs)"))
    }

    /// Growth of the resident set while `body` runs, above what was resident before: free heap pages are
    /// returned first (`malloc_trim`), then the kernel's high-water mark is reset (`/proc/self/clear_refs`).
    func peakResidentGrowth(_ body: () -> Void) -> Int? {
        malloc_trim(0)
        guard (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil,
              let before = statusKiB("VmRSS") else { return nil }
        body()
        guard let peak = statusKiB("VmHWM") else { return nil }
        return max(0, peak - before) * 1024
    }

    /// A `kB` field of `/proc/self/status`.
    func statusKiB(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
}
