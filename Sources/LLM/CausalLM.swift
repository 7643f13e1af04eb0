import Foundation
import GGUF
import LoRA
import SafeTensors
import TensorCore

/// A Qwen2/Llama-family causal language model loaded from a Hugging Face folder or a GGUF file, with its tokenizer
/// and its chat template; runs LoRA adapters on top without merging them.
public final class CausalLM: @unchecked Sendable {
    public let config: ModelConfig
    public let tokenizer: BPETokenizer
    /// How a prompt is laid out: the model's own chat template, ChatML, or the prompt as is.
    public let template: ChatTemplate
    /// The decoder stack (config and weights).
    public let transformer: Transformer
    /// Where the model came from (nil for a model built in memory).
    public let source: ModelSource?
    /// The model's public id when its files name one (config.json `_name_or_path` that is not a local path, GGUF
    /// `general.source.huggingface.repository` or a Hugging Face `general.source.url`).
    public let publicID: String?
    /// What a user should know about this model (a vocabulary without some bytes, …), printed once at load.
    public let warnings: [String]

    /// The folder of a Hugging Face model (nil for GGUF files and models built in memory).
    public var folder: URL? { source?.format == .huggingFace ? source?.url : nil }

    public var weights: ModelWeights { transformer.weights }

    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` (or the shards listed in
    /// `model.safetensors.index.json`). F32 weights stay memory-mapped (no copy); BF16/F16 ones are converted to
    /// Float32 once (4 bytes per parameter in memory) and the file is unmapped.
    public convenience init(folder: URL) throws {
        let config = try ModelConfig.load(folder: folder)
        let tokURL = folder.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: tokURL.path) else {
            throw DNDError("\(folder.path): no tokenizer.json; dnd needs the Hugging Face fast-tokenizer file next to config.json")
        }
        let tokenizer = try BPETokenizer(tokenizerJSON: tokURL)
        let raw = try CausalLM.readWeights(folder: folder)
        let weights = try ModelWeights(named: CausalLM.sanitize(weights: raw, config: config), config: config, origin: folder.path)
        try self.init(config: config, weights: weights, tokenizer: tokenizer,
                      template: try ChatTemplate.load(folder: folder, tokenizer: tokenizer),
                      source: ModelSource(url: folder, format: .huggingFace), publicID: ModelConfig.publicID(folder: folder))
    }

    /// Loads a GGUF file: weights dequantized once to Float32 (F32 tensors stay memory-mapped), `llama` q/k rows
    /// un-permuted, config, tokenizer and chat template from the metadata.
    public convenience init(gguf url: URL) throws {
        let file = try GGUFFile(url: url)
        let config = try GGUFModel.config(file)
        let tokenizer = try GGUFModel.tokenizer(file)
        let weights = try GGUFModel.weights(file, config: config)
        let source = try file.metadata.stringIfPresent("tokenizer.chat_template")
        let template = try ChatTemplate.make(source: source, origin: "\(url.path): tokenizer.chat_template", tokenizer: tokenizer)
        try self.init(config: config, weights: weights, tokenizer: tokenizer, template: template,
                      source: ModelSource(url: url, format: .gguf), publicID: GGUFModel.publicID(file))
    }

    /// A base model from a path: a Hugging Face folder, a `.gguf` file, or a folder holding one `.gguf` file.
    public static func load(_ url: URL) throws -> CausalLM {
        let source = try ModelSource.resolve(url)
        switch source.format {
        case .huggingFace: return try CausalLM(folder: source.url)
        case .gguf: return try CausalLM(gguf: source.url)
        }
    }

    /// A model from weights in memory (a freshly trained or randomly initialised one). Without a template, the
    /// prompt layout follows the tokenizer (ChatML when it has `<|im_start|>`, the prompt as is otherwise).
    public init(config: ModelConfig, weights: ModelWeights, tokenizer: BPETokenizer, template: ChatTemplate? = nil,
                source: ModelSource? = nil, publicID: String? = nil) throws {
        try config.validate()
        let origin = source?.url.path ?? "model"
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw DNDError("\(origin): the tokenizer has ids up to \(tokenizer.vocabularySize - 1) but vocab_size is \(config.vocabSize); the tokenizer does not belong to this model")
        }
        self.config = config; self.tokenizer = tokenizer; self.source = source; self.publicID = publicID
        self.template = template ?? ChatTemplate(tokenizer: tokenizer)
        self.transformer = Transformer(config: config, weights: weights)
        self.warnings = tokenizer.warnings
    }

    /// Checkpoint quirks, in one place: rotary `inv_freq` buffers are dropped, and so is a saved `lm_head.weight`
    /// when the embeddings are tied (transformers writes it in some versions).
    public static func sanitize(weights: [String: Tensor], config: ModelConfig) -> [String: Tensor] {
        var w = weights.filter { !$0.key.hasSuffix("rotary_emb.inv_freq") }
        if config.tieWordEmbeddings { w["lm_head.weight"] = nil }
        return w
    }

    /// Every tensor of the folder's safetensors file(s), by name.
    static func readWeights(folder: URL) throws -> [String: Tensor] {
        let fm = FileManager.default
        let single = folder.appendingPathComponent("model.safetensors")
        let index = folder.appendingPathComponent("model.safetensors.index.json")
        var out: [String: Tensor] = [:]
        if fm.fileExists(atPath: single.path) {
            let f = try SafeTensorsFile(url: single)
            for t in f.tensors { out[t.name] = try f.tensor(t.name) }
            return out
        }
        guard let data = fm.contents(atPath: index.path) else {
            throw DNDError("\(folder.path): no model.safetensors or model.safetensors.index.json; dnd reads safetensors weights (convert .bin checkpoints first)")
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let map = obj["weight_map"] as? [String: String] else {
            throw DNDError("\(index.path): expected a JSON object with a \"weight_map\" of tensor name → shard file")
        }
        for shard in Set(map.values).sorted() {
            guard !shard.contains("/") else { throw DNDError("\(index.path): shard name '\(shard)' must be a file in the model folder") }
            let f = try SafeTensorsFile(url: folder.appendingPathComponent(shard))
            for (name, file) in map where file == shard {
                guard f.contains(name) else { throw DNDError("\(folder.appendingPathComponent(shard).path): tensor '\(name)' listed in the index is missing") }
                out[name] = try f.tensor(name)
            }
        }
        return out
    }

    // MARK: shapes and adapters

    /// `(in, out)` of a linear module in any layer: what a LoRA `A [r, in]` and `B [out, r]` must fit.
    public func linearShape(layer: Int, module: LoRAModule) -> (in: Int, out: Int) {
        ModelWeights.linearShape(module, config: config)
    }

    /// Checks that every module of `adapter` exists in this model and that its A and B fit the module's shape.
    public func validate(adapter: LoRAAdapter) throws {
        _ = try bind(adapter)
    }

    /// The adapter checked and laid out per layer for the forward pass.
    public func bind(_ adapter: LoRAAdapter) throws -> BoundLoRA {
        try config.check(adapter)
        var layers = [[LoRAModule: Linear.LoRA]](repeating: [:], count: config.numHiddenLayers)
        let scale = adapter.scaling
        for site in adapter.sites {
            let (a, b) = adapter.weights[site]!
            layers[site.layer][site.module] = Linear.LoRA(a: a, b: b, scale: scale)
        }
        return BoundLoRA(adapter: adapter, layers: layers)
    }

    func bindOptional(_ adapter: LoRAAdapter?) throws -> BoundLoRA? { try adapter.map(bind) }

    /// A model whose targeted weights are `W + s·B·A` (merged LoRA). Only the targeted matrices are copied;
    /// every other tensor is shared with `self`.
    public func merged(with adapter: LoRAAdapter) throws -> CausalLM {
        let bound = try bind(adapter)
        var w = weights
        for (l, mods) in bound.layers.enumerated() {
            for (m, lora) in mods {
                var base = w.layers[l].weight(m)   // [out, in]
                let (i, o) = linearShape(layer: l, module: m)
                base.withUnsafeMutableBufferPointer { p in
                    // W [out, in] += s · B [out, r] · A [r, in]
                    BLAS.gemm(m: o, n: i, k: lora.rank, alpha: lora.scale, a: lora.b.pointer, lda: lora.rank,
                              b: lora.a.pointer, ldb: i, beta: 1, c: p.baseAddress!, ldc: i)
                }
                w.layers[l].setWeight(m, base)
            }
        }
        return try CausalLM(config: config, weights: w, tokenizer: tokenizer, template: template, source: source, publicID: publicID)
    }

    // MARK: logits

    func checkIds(_ ids: [Int]) throws {
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw DNDError("token id \(bad) is outside the vocabulary (0..<\(config.vocabSize))")
        }
    }

    /// Logits `[T, V]` of one sequence from position 0; row `t` predicts the token after `ids[t]`.
    public func logits(_ ids: [Int], adapter: LoRAAdapter?) throws -> Tensor {
        try logits(ids, lora: bindOptional(adapter))
    }

    public func logits(_ ids: [Int], lora: BoundLoRA?) throws -> Tensor {
        try checkIds(ids)
        guard !ids.isEmpty else { return Tensor(zeros: [0, config.vocabSize]) }
        let pass = transformer.forward(PackedBatch([ids]), lora: lora, keep: false)
        return transformer.logits(pass.normed)
    }

    /// Logits of several sequences in one forward pass, right-padded: `[B, Tmax, V]`, rows past a sequence's
    /// length are zero. The sequences are packed without padding internally (one GEMM per linear layer).
    public func logits(batch: [[Int]], adapter: LoRAAdapter?) throws -> Tensor {
        let lora = try bindOptional(adapter)
        for s in batch { try checkIds(s) }
        let packed = PackedBatch(batch.filter { !$0.isEmpty })
        let tmax = batch.map(\.count).max() ?? 0, v = config.vocabSize
        let out = Tensor(zeros: [batch.count, tmax, v])
        guard packed.n > 0 else { return out }
        let pass = transformer.forward(packed, lora: lora, keep: false)
        let all = transformer.logits(pass.normed)   // [N, V]
        var row = 0
        for (b, s) in batch.enumerated() where !s.isEmpty {
            (out.mutablePointer + b * tmax * v).update(from: all.pointer + row * v, count: s.count * v)
            row += s.count
        }
        return out
    }

    // MARK: prompts

    /// The text the model sees before a response, laid out by the model's chat template (see `ChatTemplate`).
    public func formatPrompt(_ prompt: String, system: String? = nil) throws -> String {
        try template.format(prompt, system: system)
    }

    /// Token ids that end a generation: the EOS ids of config and tokenizer, and the template's end-of-turn token.
    public var stopTokenIds: Set<Int> {
        var s = Set(config.eosTokenIds)
        if let e = tokenizer.eosTokenId { s.insert(e) }
        if let e = template.endOfTurnId(tokenizer) { s.insert(e) }
        return s
    }
}
