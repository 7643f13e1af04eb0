import ArgumentParser
import Foundation
import LLM
import LoRA
import TensorCore

/// Model shapes the LLM benchmarks run at.
enum BenchShapes {
    /// Qwen2.5-0.5B: hidden 896, 24 layers, 14 heads, 2 KV heads, MLP 4864, vocabulary 151936, tied embeddings.
    static func qwen05B(layers: Int = 24) -> ModelConfig {
        ModelConfig(architecture: .qwen2, vocabSize: 151_936, hiddenSize: 896, intermediateSize: 4864, numHiddenLayers: layers,
                    numAttentionHeads: 14, numKeyValueHeads: 2, rmsNormEps: 1e-6, ropeTheta: 1_000_000, tieWordEmbeddings: true,
                    maxPositionEmbeddings: 32768, eosTokenIds: [])
    }

    /// The fixture's tiny Qwen2 shape (hidden 64, 2 layers), with a byte-level vocabulary.
    static func tiny() -> ModelConfig {
        ModelConfig(architecture: .qwen2, vocabSize: 259, hiddenSize: 64, intermediateSize: 128, numHiddenLayers: 2,
                    numAttentionHeads: 4, numKeyValueHeads: 2, eosTokenIds: [256])
    }

    /// A model with random weights built in memory and a byte-level tokenizer.
    static func model(_ config: ModelConfig) throws -> CausalLM {
        try CausalLM(config: config, weights: ModelWeights.random(config: config, seed: 1, normal: false), tokenizer: BPETrainer.byteLevel())
    }

    /// A random LoRA adapter of rank `r` on every linear module.
    static func adapter(for model: CausalLM, rank r: Int, seed: UInt64 = 2) -> LoRAAdapter {
        var rng = SeededRNG(seed: seed)
        var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for l in 0..<model.config.numHiddenLayers {
            for m in LoRAModule.allCases {
                let (i, o) = model.linearShape(layer: l, module: m)
                w[LoRASite(layer: l, module: m)] = (Tensor.randomNormal([r, i], std: 0.02, rng: &rng), Tensor.randomNormal([o, r], std: 0.02, rng: &rng))
            }
        }
        return LoRAAdapter(config: LoRAConfig(r: r, loraAlpha: Float(2 * r), targetModules: LoRAModule.allCases, baseModel: "bench"), weights: w)
    }

    /// Forward FLOPs over `sequences` token counts: every linear layer (2·in·out per token), attention scores and
    /// context as computed (the full T×T square per head), and the LM head on `headRows` rows.
    static func forwardFLOPs(_ c: ModelConfig, sequences: [Int], headRows: Int, loraRank: Int = 0) -> Double {
        let tokens = Double(sequences.reduce(0, +))
        var perToken = 0.0
        for m in LoRAModule.allCases {
            let (i, o) = ModelWeights.linearShape(m, config: c)
            perToken += 2 * Double(i * o) + (loraRank > 0 ? 2 * Double(loraRank * (i + o)) : 0)
        }
        let attention = sequences.reduce(0.0) { $0 + 4 * Double($1 * $1) * Double(c.qWidth) }
        return Double(c.numHiddenLayers) * (tokens * perToken + attention) + 2 * Double(headRows) * Double(c.hiddenSize * c.vocabSize)
    }
}

/// `dnd bench llm`: scoring throughput of the causal LM at the Qwen2.5-0.5B shape.
struct BenchLLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm",
        abstract: "Scoring tokens/s and % of sgemm peak at the Qwen2.5-0.5B shape (random weights built in memory).",
        discussion: "Each scored sequence is a prompt of seq-len/2 tokens and a response of seq-len/2 tokens; only response rows go through the LM head."
    )

    @Option(help: "Sequences per forward pass.") var batch = 4
    @Option(help: "Tokens per sequence.") var seqLen = 128
    @Option(help: "Decoder layers (24 is the real model; fewer for a quick run).") var layers = 24
    @Option(help: "Rank of the random LoRA adapter (all seven modules) for the adapter run; 0 skips it.") var rank = 8
    @Option(help: "Tokens to generate greedily for the decode rate; 0 skips it.") var decodeTokens = 16
    @Option(help: "Timed repetitions (best is reported).") var repeats = 2

    func validate() throws {
        guard batch > 0, seqLen >= 2, layers > 0, repeats > 0, rank >= 0, decodeTokens >= 0 else {
            throw ValidationError("--batch, --layers, --repeats must be positive, --seq-len at least 2")
        }
    }

    func run() throws {
        let config = BenchShapes.qwen05B(layers: layers)
        print("causal LM bench: Qwen2.5-0.5B shape (hidden 896, \(layers) layers, 14/2 heads, MLP 4864, vocab 151936), random F32 weights, \(BLAS.threads) BLAS threads")
        let t0 = Date()
        let model = try BenchShapes.model(config)
        print(String(format: "built %.0fM parameters in %.1f s (%.2f GB)", Double(config.parameterCount) / 1e6, Date().timeIntervalSince(t0),
                     Double(config.parameterCount) * 4 / 1e9))
        let peak = sgemmPeakGFLOPS()
        print(String(format: "sgemm peak (1024³): %.1f GFLOPS", peak))
        var rng = SeededRNG(seed: 5)
        let half = seqLen / 2
        let turns = (0..<batch).map { _ in
            (prompt: (0..<half).map { _ in rng.int(below: 256) }, response: (0..<(seqLen - half)).map { _ in rng.int(below: 256) })
        }
        let tokens = batch * seqLen
        let flops = BenchShapes.forwardFLOPs(config, sequences: Array(repeating: seqLen, count: batch), headRows: batch * (seqLen - half))
        print("\(batch) sequences × \(seqLen) tokens = \(tokens) tokens per pass, \(batch * (seqLen - half)) scored")
        print("run              seconds   tokens/s   GFLOPS   % of sgemm")
        func report(_ label: String, _ t: Double, _ f: Double) {
            print(label.padding(toLength: 15, withPad: " ", startingAt: 0)
                  + String(format: "%9.3f %10.0f %8.1f %10.0f%%", t, Double(tokens) / t, f / t / 1e9, 100 * f / t / 1e9 / peak))
        }
        let base = bestTime(repeats: repeats) { _ = try! model.scoreIds(turns, lora: nil, tokenBudget: tokens) }
        report("score", base, flops)
        if rank > 0 {
            let lora = try model.bind(BenchShapes.adapter(for: model, rank: rank))
            let fl = BenchShapes.forwardFLOPs(config, sequences: Array(repeating: seqLen, count: batch), headRows: batch * (seqLen - half), loraRank: rank)
            let t = bestTime(repeats: repeats) { _ = try! model.scoreIds(turns, lora: lora, tokenBudget: tokens) }
            report("score+LoRA r\(rank)", t, fl)
        }
        if decodeTokens > 0 {
            let prompt = turns[0].prompt
            var generated = 0
            let start = Date()
            generated = try model.generate(ids: prompt, maxTokens: decodeTokens, lora: nil).count
            let t = Date().timeIntervalSince(start)
            print(String(format: "greedy decode: %d prompt + %d new tokens in %.2f s (%.1f new tokens/s incl. prefill)", prompt.count, generated, t, Double(generated) / t))
        }
    }
}
