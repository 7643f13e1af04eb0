import Foundation
import GGUF
import LoRA
import TensorCore

/// A base model read from a GGUF file (llama.cpp / Ollama): config from the `<arch>.*` keys, tokenizer from
/// `tokenizer.ggml.*`, chat template from `tokenizer.chat_template`, weights dequantized once to Float32 and renamed
/// to Hugging Face names, with `llama` q/k rows un-permuted from llama.cpp's rotary layout.
///
/// Letters as in `ModelConfig`; GGUF dims are innermost-first, `GGUFFile.tensor` returns row-major `[out, in]`.
enum GGUFModel {
    /// The architectures dnd runs, by `general.architecture`.
    static let architectures: [String: ModelArchitecture] = ["llama": .llama, "qwen2": .qwen2]

    /// The model's config from its metadata and tensor shapes.
    static func config(_ file: GGUFFile) throws -> ModelConfig {
        let m = file.metadata
        let path = file.url.path
        let archName = try file.architecture
        guard let arch = architectures[archName] else {
            throw DNDError("\(path): general.architecture is '\(archName)'; dnd runs llama and qwen2 models (Llama 2/3, SmolLM, Qwen2/2.5, …)")
        }
        func key(_ k: String) -> String { "\(archName).\(k)" }
        func positive(_ k: String) throws -> Int {
            let v = try m.int(key(k))
            guard v > 0 else { throw DNDError("\(path): metadata key '\(key(k))' is \(v); it must be positive") }
            return v
        }
        let hidden = try positive("embedding_length")
        let layers = try positive("block_count")
        let heads = try positive("attention.head_count")
        let kvHeads = try m.intIfPresent(key("attention.head_count_kv")) ?? heads
        let ffn = try positive("feed_forward_length")
        let headDim = try m.intIfPresent(key("attention.key_length")) ?? hidden / heads
        if let vLen = try m.intIfPresent(key("attention.value_length")), vLen != headDim {
            throw DNDError("\(path): \(key("attention.value_length")) = \(vLen) differs from the key length \(headDim); dnd runs attention with equal key and value sizes")
        }
        if let ropeDims = try m.intIfPresent(key("rope.dimension_count")), ropeDims != headDim {
            throw DNDError("\(path): \(key("rope.dimension_count")) = \(ropeDims) covers part of a head of \(headDim); dnd implements full-head rotary embeddings only")
        }
        if let scaling = try m.stringIfPresent(key("rope.scaling.type")), scaling != "none" {
            throw DNDError("\(path): \(key("rope.scaling.type")) = '\(scaling)'; dnd implements the default rotary embedding only (no \(scaling) scaling)")
        }
        if file.contains("rope_freqs.weight") {
            throw DNDError("\(path): the file holds rope_freqs.weight (Llama 3.1-style rotary frequency scaling); dnd implements the default rotary embedding only")
        }
        guard let embed = file.info("token_embd.weight"), embed.shape.count == 2, embed.shape[1] == hidden else {
            throw DNDError("\(path): tensor 'token_embd.weight' is missing or not [vocabulary, \(hidden)]; the file is not a complete \(archName) model")
        }
        let vocab = try m.intIfPresent(key("vocab_size")) ?? embed.shape[0]
        let eps = try m.floatIfPresent(key("attention.layer_norm_rms_epsilon")) ?? 1e-6
        let theta = try m.floatIfPresent(key("rope.freq_base")) ?? 10000
        let context = try m.intIfPresent(key("context_length")) ?? 32768
        let hasBias = file.contains("blk.0.attn_q.bias")
        let bos = try m.intIfPresent("tokenizer.ggml.bos_token_id")
        let eos = try m.intIfPresent("tokenizer.ggml.eos_token_id")
        var config = ModelConfig(architecture: arch, vocabSize: vocab, hiddenSize: hidden, intermediateSize: ffn,
                                 numHiddenLayers: layers, numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim: headDim,
                                 rmsNormEps: eps, ropeTheta: theta, tieWordEmbeddings: !file.contains("output.weight"),
                                 attentionBias: arch == .qwen2 ? true : hasBias, maxPositionEmbeddings: context,
                                 bosTokenId: bos, eosTokenIds: eos.map { [$0] } ?? [], dtype: "float32")
        if arch == .qwen2 && !hasBias { config.attentionBias = false }
        do { try config.validate() } catch let e as DNDError { throw DNDError("\(path): \(e.message)") }
        return config
    }

    /// GGUF tensor name → Hugging Face name, for one layer's tensors and the global ones.
    static func huggingFaceNames(config c: ModelConfig) -> [(gguf: String, hf: String)] {
        var names: [(String, String)] = [("token_embd.weight", "model.embed_tokens.weight"), ("output_norm.weight", "model.norm.weight")]
        if !c.tieWordEmbeddings { names.append(("output.weight", "lm_head.weight")) }
        // q, k, v first: the biases are theirs.
        let modules = LoRAModule.allCases.map { ($0.ggufName, "\($0.parent).\($0.rawValue)") }
        for l in 0..<c.numHiddenLayers {
            let p = "model.layers.\(l)."
            names.append(("blk.\(l).attn_norm.weight", p + "input_layernorm.weight"))
            names.append(("blk.\(l).ffn_norm.weight", p + "post_attention_layernorm.weight"))
            for (g, h) in modules { names.append(("blk.\(l).\(g).weight", p + h + ".weight")) }
            if c.attentionBias {
                for (g, h) in modules.prefix(3) { names.append(("blk.\(l).\(g).bias", p + h + ".bias")) }
                if c.architecture == .llama { names.append(("blk.\(l).attn_output.bias", p + "self_attn.o_proj.bias")) }
            }
        }
        return names
    }

    /// Every weight, dequantized, by Hugging Face name. Tensors the engine has no use for are refused by name, so a
    /// file of another layout is not silently half-read.
    static func weights(_ file: GGUFFile, config c: ModelConfig) throws -> ModelWeights {
        let path = file.url.path
        let names = huggingFaceNames(config: c)
        let known = Set(names.map(\.gguf))
        if let extra = file.tensors.first(where: { !known.contains($0.name) }) {
            throw DNDError("\(path): tensor '\(extra.name)' is not part of a \(c.architecture.modelType) model as dnd runs it; the file holds more than a plain \(c.architecture.modelType) decoder")
        }
        var out: [String: Tensor] = [:]
        out.reserveCapacity(names.count)
        for (g, h) in names {
            guard file.contains(g) else {
                throw DNDError("\(path): tensor '\(g)' is missing; the file is not a complete \(c.architecture.modelType) model (re-convert it)")
            }
            // Owned memory for every tensor (F32 ones would otherwise borrow from the mapping and keep the whole file
            // mapped and resident next to the dequantized weights): the model holds one Float32 copy and nothing more.
            var t = try file.tensor(g).owned()
            if c.architecture == .llama {
                if g.hasSuffix("attn_q.weight") || g.hasSuffix("attn_q.bias") { t = RotaryRows.unpermute(t, heads: c.numAttentionHeads) }
                if g.hasSuffix("attn_k.weight") || g.hasSuffix("attn_k.bias") { t = RotaryRows.unpermute(t, heads: c.numKeyValueHeads) }
            }
            out[h] = t
        }
        return try ModelWeights(named: out, config: c, origin: path)
    }

    /// Llama.cpp's token types (`tokenizer.ggml.token_type`).
    enum TokenType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    /// The byte-level BPE tokenizer of `tokenizer.ggml.*` (model `gpt2`), as Hugging Face builds it from the file:
    /// control and user-defined tokens are added tokens (control ones special), the pre-tokenizer is the one
    /// `tokenizer.ggml.pre` names.
    static func tokenizer(_ file: GGUFFile) throws -> BPETokenizer {
        let m = file.metadata
        let path = file.url.path
        let model = try m.string("tokenizer.ggml.model")
        switch model {
        case "gpt2": break
        case "llama":
            throw DNDError("\(path): tokenizer.ggml.model is 'llama' (a SentencePiece vocabulary, as in Llama 2, Mistral, TinyLlama); dnd reads byte-level BPE vocabularies (gpt2: Llama 3, SmolLM, Qwen2) — use a model with one")
        default:
            throw DNDError("\(path): tokenizer.ggml.model is '\(model)'; dnd reads byte-level BPE vocabularies (tokenizer.ggml.model = gpt2)")
        }
        let tokens = try m.stringArray("tokenizer.ggml.tokens")
        let types = try m.intArrayIfPresent("tokenizer.ggml.token_type") ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw DNDError("\(path): tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens; the file is corrupt")
        }
        let mergeLines = try m.stringArrayIfPresent("tokenizer.ggml.merges") ?? []
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeLines.count)
        for (i, line) in mergeLines.enumerated() {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw DNDError("\(path): tokenizer.ggml.merges[\(i)] '\(line)' is not two tokens separated by a space")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(tokens.count)
        var added: [BPETokenizer.AddedToken] = []
        for (id, t) in tokens.enumerated() {
            let type = types.isEmpty ? TokenType.normal : TokenType(rawValue: types[id]) ?? .normal
            switch type {
            case .control, .userDefined:
                guard !t.isEmpty else { continue }
                added.append(.init(id: id, content: t, special: type == .control))
            default:
                if vocab[t] == nil { vocab[t] = id }
            }
        }
        let pre = try PreTokenizer.gguf(pre: m.stringIfPresent("tokenizer.ggml.pre") ?? "default", origin: path)
        func text(_ key: String) throws -> String? {
            guard let id = try m.intIfPresent(key) else { return nil }
            guard id >= 0 && id < tokens.count else {
                throw DNDError("\(path): \(key) = \(id) is outside the vocabulary of \(tokens.count) tokens; the file is corrupt")
            }
            return tokens[id]
        }
        var special: [String: String] = [:]
        special["bos_token"] = try text("tokenizer.ggml.bos_token_id")
        special["eos_token"] = try text("tokenizer.ggml.eos_token_id")
        special["pad_token"] = try text("tokenizer.ggml.padding_token_id")
        special["unk_token"] = try text("tokenizer.ggml.unknown_token_id")
        return try BPETokenizer(vocab: vocab, merges: merges, addedTokens: added, normalizer: nil, preTokenizer: pre,
                                eosToken: special["eos_token"], padToken: special["pad_token"], specialTokens: special, origin: path)
    }

    /// The tokenizer and chat template of a GGUF file (its weights are not read).
    static func text(_ url: URL) throws -> (tokenizer: BPETokenizer, template: ChatTemplate) {
        let file = try GGUFFile(url: url)
        let tokenizer = try tokenizer(file)
        let source = try file.metadata.stringIfPresent("tokenizer.chat_template")
        return (tokenizer, try ChatTemplate.make(source: source, origin: "\(url.path): tokenizer.chat_template", tokenizer: tokenizer))
    }

    /// The model's public id when the file names one: `general.source.huggingface.repository`, else the
    /// `owner/name` of a Hugging Face `general.source.url`.
    static func publicID(_ file: GGUFFile) -> String? {
        let m = file.metadata
        if let repo = try? m.stringIfPresent("general.source.huggingface.repository"), !repo.isEmpty { return repo }
        if let url = try? m.stringIfPresent("general.source.url"), let r = ModelSource.huggingFaceRepository(url: url) { return r }
        return nil
    }
}

extension BPETokenizer {
    /// The tokenizer of a GGUF file alone (its weights are not read).
    public static func load(gguf url: URL) throws -> BPETokenizer {
        try GGUFModel.tokenizer(GGUFFile(url: url))
    }
}
