import ArgumentParser
import Foundation
import Generator
import LoRA
import Pipeline
import TensorCore

/// `dnd bench generate`: wall time of one adapter generation (the work of `dnd generate` after loading).
struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Time one adapter generation (encode N prompts, decoder forward, detokenize, write PEFT files) for a base-model shape.",
        discussion: """
        The generator is the default CPU chain for the target (GeneratorConfig.cpuDefault, automatic budget) with
        random weights: the time does not depend on training. Presets: qwen0.5b (hidden 896, 24 layers, KV 128,
        MLP 4864; all seven modules, r=8, cw=128 → 4296 tokens of 10×130) and tiny (hidden 128, 4 layers, KV 64,
        MLP 384; all seven modules, r=8, cw=64).
        """
    )

    @Option(help: "Base-model shape: qwen0.5b or tiny.") var preset = "qwen0.5b"
    @Option(help: "Prompts per condition (N).") var prompts = TrainSettings().prompts
    @Option(help: "Tokens per prompt (L).") var length = TrainSettings().length
    @Option(help: "LoRA rank.") var rank = 8
    @Option(help: "Timed repetitions (best is reported).") var repeats = 3
    @OptionGroup var encoder: EncoderOptions

    func run() throws {
        let (hidden, layers, kv, mlp, cw): (Int, Int, Int, Int, Int)
        switch preset {
        case "qwen0.5b": (hidden, layers, kv, mlp, cw) = (896, 24, 128, 4864, 128)
        case "tiny": (hidden, layers, kv, mlp, cw) = (128, 4, 64, 384, 64)
        default: throw DNDError("--preset \(preset): use qwen0.5b or tiny")
        }
        let shapes: [LoRAModule: (Int, Int)] = [.q_proj: (hidden, hidden), .k_proj: (hidden, kv), .v_proj: (hidden, kv), .o_proj: (hidden, hidden),
                                               .up_proj: (hidden, mlp), .gate_proj: (hidden, mlp), .down_proj: (mlp, hidden)]
        var sites: [(LoRASite, in: Int, out: Int)] = []
        for l in 0..<layers { for m in LoRAModule.allCases { sites.append((LoRASite(layer: l, module: m), shapes[m]!.0, shapes[m]!.1)) } }
        let layout = try TokenLayout(rank: rank, chunkWidth: cw, sites: sites)
        let enc = try encoder.load()
        var config = try GeneratorConfig.cpuDefault(prompts: prompts, length: length, hidden: enc.hiddenSize, tokenCount: layout.count,
                                                    rank: rank, chunkWidth: cw)
        config.layers = layers
        config.moduleShapes = LoRAModule.allCases.map { GeneratorConfig.ModuleShape(name: $0.rawValue, inFeatures: shapes[$0]!.0, outFeatures: shapes[$0]!.1) }
        let t0 = Date()
        let generator = HyperConvGenerator(config: config, seed: 1)
        let build = Date().timeIntervalSince(t0)
        let texts = (0..<prompts).map { "Question \($0): what is \($0) plus \($0 + 3)? Answer in square brackets." }
        let loraConfig = LoRAConfig(r: rank, loraAlpha: Float(2 * rank), targetModules: LoRAModule.allCases, baseModel: preset)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnd-bench-generate-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        var best: [Double] = [.infinity, .infinity, .infinity, .infinity]
        for _ in 0..<(repeats + 1) {
            var t = Date()
            let (h, _) = enc.encode(texts, length: length)
            let te = Date().timeIntervalSince(t); t = Date()
            let tokens = try generator.forward(h.reshaped([1] + h.shape))
            let tf = Date().timeIntervalSince(t); t = Date()
            let adapter = try WeightTokenizer.detokenize(tokens.reshaped(Array(tokens.shape.dropFirst())), layout: layout, config: loraConfig)
            let td = Date().timeIntervalSince(t); t = Date()
            try adapter.write(to: dir)
            let tw = Date().timeIntervalSince(t)
            for (i, v) in [te, tf, td, tw].enumerated() { best[i] = min(best[i], v) }
        }
        let gflops = config.forwardFLOPs / best[1] / 1e9
        print("adapter generation, preset \(preset): \(layers) layers × 7 modules, r=\(rank), cw=\(cw) → \(layout.count) tokens of \(rank + 2)×\(cw + 2)")
        print("generator: default CPU chain \(config.chain.map { "(\($0.map(String.init).joined(separator: ",")))" }.joined(separator: "→")), kernel \(config.kernel), \(generator.parameterCount) parameters (built in \(String(format: "%.2f", build)) s)")
        print(String(format: "encode %d prompts (L=%d)   %8.3f s", prompts, length, best[0]))
        print(String(format: "decoder forward            %8.3f s  (%.1f GFLOPS)", best[1], gflops))
        print(String(format: "detokenize                 %8.3f s", best[2]))
        print(String(format: "write PEFT files           %8.3f s", best[3]))
        print(String(format: "total                      %8.3f s  (best of %d)", best.reduce(0, +), repeats))
    }
}
