import Foundation
import Prompts
import TensorCore

/// `dnd pretrain --config FILE`: the model shape, tokenizer size and training schedule (snake_case keys, all defaulted).
public struct PretrainConfig: Codable, Sendable, Equatable {
    public var hiddenSize = 128
    public var numHiddenLayers = 4
    public var numAttentionHeads = 4
    public var numKeyValueHeads = 2
    public var intermediateSize = 384
    public var ropeTheta: Float = 10000
    public var rmsNormEps: Float = 1e-6
    public var tieWordEmbeddings = false
    public var maxPositionEmbeddings = 512
    /// BPE merges learned on the data on top of the 256 byte tokens (0: a pure byte-level vocabulary).
    public var bpeMerges = 256
    public var seqLen = 128
    public var batchSize = 16
    public var steps = 600
    public var learningRate: Float = 3e-3
    /// Warmup steps (default: a tenth of the steps, at most 30).
    public var warmupSteps: Int?
    public var minLRFactor: Float = 0.1
    /// Weight decay on matrices (norm weights and biases are not decayed).
    public var weightDecay: Float = 0.1
    public var maxGradNorm: Float = 1
    public var initStd: Float = 0.02
    public var seed: UInt64 = 0
    /// Wall-clock budget in seconds (tokenizer training included): the step count is fitted to it from the measured
    /// step time, after 3 steps and every 50, never above `steps`; the learning-rate schedule follows.
    public var maxSeconds: Double?
    /// Data-parallel shards per step; nil picks `Transformer.defaultShards`.
    public var shards: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", intermediateSize = "intermediate_size", ropeTheta = "rope_theta"
        case rmsNormEps = "rms_norm_eps", tieWordEmbeddings = "tie_word_embeddings", maxPositionEmbeddings = "max_position_embeddings"
        case bpeMerges = "bpe_merges", seqLen = "seq_len", batchSize = "batch_size", steps, learningRate = "learning_rate"
        case warmupSteps = "warmup_steps", minLRFactor = "min_lr_factor", weightDecay = "weight_decay", maxGradNorm = "max_grad_norm"
        case initStd = "init_std", seed, maxSeconds = "max_seconds", shards
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        let x = PretrainConfig()
        func get<T: Decodable>(_ k: CodingKeys, _ dflt: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? dflt }
        hiddenSize = try get(.hiddenSize, x.hiddenSize); numHiddenLayers = try get(.numHiddenLayers, x.numHiddenLayers)
        numAttentionHeads = try get(.numAttentionHeads, x.numAttentionHeads); numKeyValueHeads = try get(.numKeyValueHeads, x.numKeyValueHeads)
        intermediateSize = try get(.intermediateSize, x.intermediateSize); ropeTheta = try get(.ropeTheta, x.ropeTheta)
        rmsNormEps = try get(.rmsNormEps, x.rmsNormEps); tieWordEmbeddings = try get(.tieWordEmbeddings, x.tieWordEmbeddings)
        maxPositionEmbeddings = try get(.maxPositionEmbeddings, x.maxPositionEmbeddings); bpeMerges = try get(.bpeMerges, x.bpeMerges)
        seqLen = try get(.seqLen, x.seqLen); batchSize = try get(.batchSize, x.batchSize); steps = try get(.steps, x.steps)
        learningRate = try get(.learningRate, x.learningRate); warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps)
        minLRFactor = try get(.minLRFactor, x.minLRFactor); weightDecay = try get(.weightDecay, x.weightDecay)
        maxGradNorm = try get(.maxGradNorm, x.maxGradNorm); initStd = try get(.initStd, x.initStd); seed = try get(.seed, x.seed)
        maxSeconds = try c.decodeIfPresent(Double.self, forKey: .maxSeconds)
        shards = try c.decodeIfPresent(Int.self, forKey: .shards)
        try validate()
    }

    /// Rejects shapes and schedules that cannot train, naming the key.
    public func validate() throws {
        for (k, v) in [("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                       ("num_key_value_heads", numKeyValueHeads), ("intermediate_size", intermediateSize), ("seq_len", seqLen),
                       ("batch_size", batchSize), ("steps", steps)] where v < 1 {
            throw DNDError("\(k) = \(v) must be at least 1")
        }
        guard hiddenSize % numAttentionHeads == 0, (hiddenSize / numAttentionHeads) % 2 == 0 else {
            throw DNDError("hidden_size \(hiddenSize) must split into num_attention_heads \(numAttentionHeads) heads of even size")
        }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw DNDError("num_attention_heads \(numAttentionHeads) must be a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        guard bpeMerges >= 0, seqLen <= maxPositionEmbeddings else { throw DNDError("bpe_merges must be ≥ 0 and seq_len ≤ max_position_embeddings") }
        guard learningRate > 0 else { throw DNDError("learning_rate must be positive") }
        if let w = warmupSteps { guard w >= 0 && w < steps else { throw DNDError("warmup_steps = \(w) must be below steps = \(steps)") } }
        if let m = maxSeconds { guard m > 0 else { throw DNDError("max_seconds must be positive") } }
        if let s = shards { guard s >= 1 else { throw DNDError("shards must be at least 1") } }
    }

    var warmup: Int { warmupSteps ?? min(30, steps / 10) }

    /// The model config for a tokenizer of `vocab` ids with end-of-text `eos`.
    func modelConfig(vocab: Int, eos: Int?) -> ModelConfig {
        ModelConfig(architecture: .qwen2, vocabSize: vocab, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
                    numHiddenLayers: numHiddenLayers, numAttentionHeads: numAttentionHeads, numKeyValueHeads: numKeyValueHeads,
                    rmsNormEps: rmsNormEps, ropeTheta: ropeTheta, tieWordEmbeddings: tieWordEmbeddings,
                    maxPositionEmbeddings: maxPositionEmbeddings, eosTokenIds: eos.map { [$0] } ?? [])
    }
}

/// What `Pretrainer.pretrain` reports every step.
public struct PretrainProgress: Sendable {
    public var step: Int
    public var steps: Int
    public var loss: Double
    public var learningRate: Float
    public var tokensPerSecond: Double
    public var elapsed: Double
}

/// Trains a small Qwen2-architecture model from scratch (all weights) and writes a Hugging Face folder.
public enum Pretrainer {
    /// Documents of a training file: `.txt` is one document; `.jsonl`/`.json` records are `{"text": …}` documents or
    /// prompt records (`prompt` with `response`/`answer`/`choices`), laid out as ChatML conversations.
    public static func readDocuments(_ url: URL) throws -> [String] {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else { throw DNDError("\(path): cannot read the training data") }
        guard let text = String(data: data, encoding: .utf8) else { throw DNDError("\(path): not UTF-8 text") }
        let ext = url.pathExtension.lowercased()
        if ext != "jsonl" && ext != "json" && ext != "ndjson" {
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw DNDError("\(path): the file is empty") }
            return [text]
        }
        var items: [(Int, Any)] = []
        if ext == "json" {
            guard let arr = (try? JSONSerialization.jsonObject(with: data)) as? [Any] else { throw DNDError("\(path): expected a JSON array of records") }
            items = arr.enumerated().map { ($0 + 1, $1) }
        } else {
            for line in LineSplitter.lines(of: data) {  // LF, CRLF or CR
                let t = String(decoding: line.bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
                if t.isEmpty { continue }
                guard let o = try? JSONSerialization.jsonObject(with: Data(t.utf8)) else { throw DNDError("\(path): line \(line.number) is not valid JSON") }
                items.append((line.number, o))
            }
        }
        var docs: [String] = []
        for (line, o) in items {
            if let t = (o as? [String: Any])?["text"] as? String { docs.append(t); continue }
            let recs: [PromptRecord]
            do { recs = try PromptFile.parse(JSONSerialization.data(withJSONObject: [o]), name: "\(path) line \(line)", format: .json) } catch let e as DNDError {
                throw DNDError("\(e.message) (or give a \"text\" field)")
            }
            for r in recs {
                let answer = r.response ?? r.correctChoice.flatMap { i in r.choices.map { $0[i] } } ?? ""
                docs.append(try ChatTemplate.chatML.format(r.prompt, system: r.system) + answer + "<|im_end|>\n")
            }
        }
        guard !docs.isEmpty else { throw DNDError("\(path): no documents found") }
        return docs
    }

    /// Learns the tokenizer, trains the model on random windows of the token stream (documents joined by
    /// `<|endoftext|>`), writes the folder `out`, and returns the trained model.
    public static func pretrain(config p: PretrainConfig, documents: [String], out: URL,
                                progress: (PretrainProgress) -> Void = { _ in }) throws -> CausalLM {
        try p.validate()
        let t0 = Date()
        let tokenizer = p.bpeMerges > 0 ? BPETrainer.train(texts: documents, merges: p.bpeMerges) : BPETrainer.byteLevel()
        let eos = tokenizer.eosTokenId!
        var stream: [Int] = []
        for d in documents { stream += tokenizer.encode(d); stream.append(eos) }
        guard stream.count >= 3 else { throw DNDError("the training data has \(stream.count) tokens; give pretraining at least a few KB of text") }
        let seqLen = min(p.seqLen, stream.count - 1)
        let cfg = p.modelConfig(vocab: tokenizer.vocabularySize, eos: eos)
        var params = ModelWeights.random(config: cfg, std: p.initStd, seed: p.seed).named
        var decayed = AdamW(weightDecay: p.weightDecay), plain = AdamW(weightDecay: 0)
        var steps = p.steps
        var schedule = LRSchedule(peak: p.learningRate, warmupSteps: p.warmup, totalSteps: steps, minFactor: p.minLRFactor)
        let trainStart = Date()
        var step = 0
        while step < steps {
            let s0 = Date()
            var rng = SeededRNG(seed: p.seed &+ 0x9E37_79B9 &* UInt64(step + 1))
            var inputs: [[Int]] = [], labels: [[Int]] = []
            for _ in 0..<p.batchSize {
                let o = rng.int(below: stream.count - seqLen)
                inputs.append(Array(stream[o..<(o + seqLen)])); labels.append(Array(stream[(o + 1)...(o + seqLen)]))
            }
            let model = Transformer(config: cfg, weights: try ModelWeights(named: params, config: cfg, origin: "pretrain"))
            let r = model.lossAndGradients(inputs: inputs, labels: labels, lora: nil, trainBase: true,
                                           shards: p.shards ?? model.defaultShards(batch: p.batchSize))
            guard r.loss.isFinite else { throw DNDError("pretraining diverged at step \(step + 1) (loss \(r.loss)); lower learning_rate in the config") }
            var grads = r.gradients.named
            AdamW.clip(&grads, maxNorm: p.maxGradNorm)
            let lr = schedule.rate(at: step)
            decayed.update(&params, grads: grads.filter { $0.value.rank == 2 }, lr: lr)
            plain.update(&params, grads: grads.filter { $0.value.rank != 2 }, lr: lr)
            step += 1
            if let budget = p.maxSeconds, step == 3 || step % 50 == 0 {
                // Fit the step count into the time budget from the measured step time (refined every 50 steps);
                // the cosine schedule follows the new length.
                let per = Date().timeIntervalSince(trainStart) / Double(step)
                let fit = min(p.steps, max(step + 1, step + Int(0.95 * (budget - Date().timeIntervalSince(t0)) / per)))
                if fit != steps {
                    steps = fit
                    schedule = LRSchedule(peak: p.learningRate, warmupSteps: min(p.warmup, steps / 2), totalSteps: steps, minFactor: p.minLRFactor)
                }
            }
            progress(PretrainProgress(step: step, steps: steps, loss: r.loss, learningRate: lr,
                                      tokensPerSecond: Double(r.tokens) / max(1e-9, Date().timeIntervalSince(s0)), elapsed: Date().timeIntervalSince(t0)))
        }
        let model = try CausalLM(config: cfg, weights: ModelWeights(named: params, config: cfg, origin: "pretrain"), tokenizer: tokenizer, source: ModelSource(url: out, format: .huggingFace))
        try model.save(to: out)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(p), to: out.appendingPathComponent("pretrain_config.json"))
        return model
    }
}
