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

    /// The default `dnd pretrain` shape (hidden 128, 4 layers, 4/2 heads, MLP 384) with a 512-id vocabulary.
    static func demo() -> ModelConfig {
        ModelConfig(architecture: .qwen2, vocabSize: 515, hiddenSize: 128, intermediateSize: 384, numHiddenLayers: 4,
                    numAttentionHeads: 4, numKeyValueHeads: 2, eosTokenIds: [512])
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

/// `dnd bench llm`: scoring, decoding and LoRA-training throughput of the causal LM, on a real model (`--model`) or
/// at the Qwen2.5-0.5B shape with random weights; `--peer` runs transformers (+ PEFT) on the same model side by side.
struct BenchLLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm",
        abstract: "Scoring / decoding / LoRA-training tokens/s and % of sgemm peak, on a real model or the Qwen2.5-0.5B shape.",
        discussion: """
        Each scored sequence is a prompt of seq-len/2 tokens and a response of seq-len/2 tokens; only response rows go
        through the LM head. With --model, the ids are random ids of the model's vocabulary; with --peer PYTHON,
        tools/bench/transformers_llm.py measures transformers (and PEFT for training) on the same model and shapes in
        the same run, and the ratios are printed.
        """
    )

    @Option(help: "A real base model (Hugging Face folder, .gguf file, or a folder holding one); default: random Qwen2.5-0.5B-shaped weights.") var model: String?
    @Option(help: "Sequences per forward pass.") var batch = 4
    @Option(help: "Tokens per sequence.") var seqLen = 128
    @Option(help: "Decoder layers of the random model (24 is the real Qwen2.5-0.5B; fewer for a quick run).") var layers = 24
    @Option(help: "Rank of the LoRA adapter (all seven modules) for the adapter and training runs; 0 skips them.") var rank = 8
    @Option(help: "Tokens to generate greedily for the decode rates; 0 skips them.") var decodeTokens = 16
    @Option(help: "Sequences decoded together for the batched decode rate.") var decodeBatch = 16
    @Option(help: "Timed repetitions (best is reported).") var repeats = 2
    @Option(help: "A Python with torch + transformers (+ peft) to measure the reference on the same model (needs --model).") var peer: String?

    func validate() throws {
        guard batch > 0, seqLen >= 2, layers > 0, repeats > 0, rank >= 0, decodeTokens >= 0, decodeBatch > 0 else {
            throw ValidationError("--batch, --layers, --repeats, --decode-batch must be positive, --seq-len at least 2")
        }
        if peer != nil && model == nil { throw ValidationError("--peer compares on a real model: give --model too") }
    }

    /// What one measurement gave, for the table and the peer comparison.
    struct Rates: Codable {
        var score: Double?
        var scoreLoRA: Double?
        var decode: Double?
        var decodeBatched: Double?
        var train: Double?
        enum CodingKeys: String, CodingKey {
            case score = "score_tokens_per_s", scoreLoRA = "score_lora_tokens_per_s", decode = "decode_tokens_per_s"
            case decodeBatched = "decode_batched_tokens_per_s", train = "train_tokens_per_s"
        }
    }

    func run() throws {
        let t0 = Date()
        let lm: CausalLM
        if let model {
            lm = try BaseModel.load(model)
            let c = lm.config
            print("causal LM bench: \(model) (\(c.architecture.modelType), hidden \(c.hiddenSize), \(c.numHiddenLayers) layers, \(c.numAttentionHeads)/\(c.numKeyValueHeads) heads, MLP \(c.intermediateSize), vocab \(c.vocabSize)), \(BLAS.threads) BLAS threads")
        } else {
            lm = try BenchShapes.model(BenchShapes.qwen05B(layers: layers))
            print("causal LM bench: Qwen2.5-0.5B shape (hidden 896, \(layers) layers, 14/2 heads, MLP 4864, vocab 151936), random F32 weights, \(BLAS.threads) BLAS threads")
        }
        let config = lm.config
        print(String(format: "loaded %.0fM parameters in %.2f s; resident memory %.0f MB (float32 weights: %.0f MB)", Double(config.parameterCount) / 1e6,
                     Date().timeIntervalSince(t0), Double(ProcessMemory.residentBytes()) / 1e6, Double(config.parameterCount) * 4 / 1e6))
        let peak = sgemmPeakGFLOPS()
        print(String(format: "sgemm peak (1024³): %.1f GFLOPS", peak))
        var rng = SeededRNG(seed: 5)
        let half = seqLen / 2, vocab = min(config.vocabSize, lm.tokenizer.vocabularySize)
        let turns = (0..<batch).map { _ in
            (prompt: (0..<half).map { _ in rng.int(below: vocab) }, response: (0..<(seqLen - half)).map { _ in rng.int(below: vocab) })
        }
        let tokens = batch * seqLen
        let flops = BenchShapes.forwardFLOPs(config, sequences: Array(repeating: seqLen, count: batch), headRows: batch * (seqLen - half))
        print("\(batch) sequences × \(seqLen) tokens = \(tokens) tokens per pass, \(batch * (seqLen - half)) scored")
        print("run                 seconds   tokens/s   GFLOPS   % of sgemm")
        func report(_ label: String, _ t: Double, _ f: Double, tokens n: Int = tokens) {
            print(label.padding(toLength: 18, withPad: " ", startingAt: 0)
                  + String(format: "%9.3f %10.0f %8.1f %10.0f%%", t, Double(n) / t, f / t / 1e9, 100 * f / t / 1e9 / peak))
        }
        var rates = Rates()
        let base = bestTime(repeats: repeats) { _ = try! lm.scoreIds(turns, lora: nil, tokenBudget: tokens) }
        report("score", base, flops)
        rates.score = Double(tokens) / base
        var adapter: LoRAAdapter?
        if rank > 0 {
            let a = BenchShapes.adapter(for: lm, rank: rank)
            adapter = a
            let lora = try lm.bind(a)
            let fl = BenchShapes.forwardFLOPs(config, sequences: Array(repeating: seqLen, count: batch), headRows: batch * (seqLen - half), loraRank: rank)
            let t = bestTime(repeats: repeats) { _ = try! lm.scoreIds(turns, lora: lora, tokenBudget: tokens) }
            report("score+LoRA r\(rank)", t, fl)
            rates.scoreLoRA = Double(tokens) / t
            // One LoRA training step (forward + backward, no optimizer): ≈ 2× the forward's FLOPs (input gradients only; the base is frozen).
            let inputs = turns.map { $0.prompt + $0.response }
            let labels = turns.map { [Int](repeating: -100, count: $0.prompt.count) + $0.response }
            let shards = lm.transformer.defaultShards(batch: batch)
            let tt = bestTime(repeats: repeats) { _ = lm.transformer.lossAndGradients(inputs: inputs, labels: labels, lora: lora, trainBase: false, shards: shards) }
            report("train LoRA r\(rank)", tt, 2 * fl)
            rates.train = Double(tokens) / tt
        }
        if decodeTokens > 0 {
            let prompt = turns[0].prompt
            let start = Date()
            let n = try lm.generate(ids: prompt, maxTokens: decodeTokens, lora: nil).count
            let t = Date().timeIntervalSince(start)
            rates.decode = Double(n) / t
            print(String(format: "greedy decode, 1 sequence: %d prompt + %d new tokens in %.2f s (%.1f new tokens/s incl. prefill)", prompt.count, n, t, Double(n) / t))
            let prompts = (0..<decodeBatch).map { i in turns[i % turns.count].prompt }
            let b0 = Date()
            let outs = try lm.generate(batch: prompts, maxTokens: Array(repeating: decodeTokens, count: decodeBatch), lora: nil)
            let bt = Date().timeIntervalSince(b0)
            let made = outs.reduce(0) { $0 + $1.count }
            rates.decodeBatched = Double(made) / bt
            print(String(format: "greedy decode, %d sequences together: %d new tokens in %.2f s (%.1f new tokens/s incl. prefill)", decodeBatch, made, bt, Double(made) / bt))
        }
        _ = adapter
        if let peer, let model {
            try comparePeer(python: peer, model: model, ours: rates)
        }
    }

    /// Runs the reference script on the same model and shapes and prints dnd / reference per rate.
    func comparePeer(python: String, model: String, ours: Rates) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/bench/transformers_llm.py")
        guard FileManager.default.fileExists(atPath: script.path) else {
            throw DNDError("\(script.path): the reference script is missing (it ships with the dnd sources)")
        }
        print("running the reference: \(python) \(script.path) (transformers, torch with \(Parallel.cores) threads)…")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, script.path, "--model", URL(fileURLWithPath: model).path, "--batch", "\(batch)", "--seq-len", "\(seqLen)",
                       "--rank", "\(rank)", "--decode-tokens", "\(decodeTokens)", "--decode-batch", "\(decodeBatch)", "--repeats", "\(repeats)",
                       "--threads", "\(Parallel.cores)"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let line = String(data: data, encoding: .utf8)?.split(separator: "\n").last,
              let theirs = try? JSONDecoder().decode(Rates.self, from: Data(line.utf8)) else {
            throw DNDError("the reference script failed (exit \(p.terminationStatus)); run it by hand to see why: \(python) \(script.path) --model \(model)")
        }
        print("rate (tokens/s)        dnd   transformers   dnd / transformers")
        func row(_ name: String, _ a: Double?, _ b: Double?) {
            guard let a, let b else { return }
            print(name.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: "%9.0f %14.0f %16.2f×", a, b, a / b))
        }
        row("score", ours.score, theirs.score)
        row("score+LoRA", ours.scoreLoRA, theirs.scoreLoRA)
        row("train LoRA", ours.train, theirs.train)
        row("decode 1", ours.decode, theirs.decode)
        row("decode batched", ours.decodeBatched, theirs.decodeBatched)
    }
}

/// The process's resident memory, from /proc/self/status.
enum ProcessMemory {
    static func residentBytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
}
