import Foundation
import TensorCore

/// The model families dnd runs: Qwen2 (q/k/v biases) and Llama (optional attention bias).
public enum ModelArchitecture: String, Codable, Sendable {
    case qwen2 = "Qwen2ForCausalLM"
    case llama = "LlamaForCausalLM"

    /// `model_type` as Hugging Face writes it.
    public var modelType: String { self == .qwen2 ? "qwen2" : "llama" }
}

/// `config.json` of a Hugging Face causal LM, the keys dnd uses (snake_case, defaults as transformers has them).
///
/// Letters used across the module: V vocabulary, H hidden, L layers, Hq query heads, Hkv key/value heads,
/// hd head size, I MLP (intermediate) size, N packed token rows, T a sequence's length.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var architecture: ModelArchitecture
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    /// Per-head size; `hidden_size / num_attention_heads` unless the config says otherwise.
    public var headDim: Int
    public var rmsNormEps: Float = 1e-6
    public var ropeTheta: Float = 10000
    public var tieWordEmbeddings: Bool = false
    /// Biases on q/k/v (always for Qwen2, `attention_bias` for Llama; Llama then has an o_proj bias too).
    public var attentionBias: Bool
    public var maxPositionEmbeddings: Int = 32768
    public var bosTokenId: Int?
    public var eosTokenIds: [Int] = []
    /// The dtype the weights were saved in (informational: dnd computes in Float32).
    public var dtype: String?

    public init(architecture: ModelArchitecture = .qwen2, vocabSize: Int, hiddenSize: Int, intermediateSize: Int,
                numHiddenLayers: Int, numAttentionHeads: Int, numKeyValueHeads: Int, headDim: Int? = nil,
                rmsNormEps: Float = 1e-6, ropeTheta: Float = 10000, tieWordEmbeddings: Bool = false,
                attentionBias: Bool? = nil, maxPositionEmbeddings: Int = 32768, bosTokenId: Int? = nil,
                eosTokenIds: [Int] = [], dtype: String? = "float32") {
        self.architecture = architecture; self.vocabSize = vocabSize; self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize; self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads; self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim ?? hiddenSize / max(1, numAttentionHeads)
        self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta; self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias ?? (architecture == .qwen2)
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds; self.dtype = dtype
    }

    enum CodingKeys: String, CodingKey {
        case architectures, modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads", headDim = "head_dim"
        case rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling", tieWordEmbeddings = "tie_word_embeddings", attentionBias = "attention_bias"
        case mlpBias = "mlp_bias", maxPositionEmbeddings = "max_position_embeddings", bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id", hiddenAct = "hidden_act", useSlidingWindow = "use_sliding_window"
        case torchDtype = "torch_dtype", dtype
    }

    /// The rotary settings object (`rope_parameters` in transformers 5, `rope_scaling` before).
    struct RopeParameters: Codable {
        var ropeTheta: Float?
        var ropeType: String?
        var type: String?
        enum CodingKeys: String, CodingKey { case ropeTheta = "rope_theta", ropeType = "rope_type", type }
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        let archs = try c.decodeIfPresent([String].self, forKey: .architectures) ?? []
        let modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
        if let a = archs.lazy.compactMap(ModelArchitecture.init(rawValue:)).first {
            architecture = a
        } else if archs.isEmpty, let t = modelType, let a = [ModelArchitecture.qwen2, .llama].first(where: { $0.modelType == t }) {
            architecture = a
        } else {
            throw DNDError("architectures \(archs) (model_type \(modelType ?? "none")) is not supported; dnd runs Qwen2ForCausalLM and LlamaForCausalLM models")
        }
        func required(_ k: CodingKeys) throws -> Int {
            guard let v = try c.decodeIfPresent(Int.self, forKey: k) else { throw DNDError("missing '\(k.stringValue)'") }
            guard v > 0 else { throw DNDError("'\(k.stringValue)' is \(v), it must be positive") }
            return v
        }
        vocabSize = try required(.vocabSize)
        hiddenSize = try required(.hiddenSize)
        intermediateSize = try required(.intermediateSize)
        numHiddenLayers = try required(.numHiddenLayers)
        numAttentionHeads = try required(.numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / numAttentionHeads
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        let ropeParams = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let ropeScaling = try? c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? ropeParams?.ropeTheta ?? 10000
        for p in [ropeParams, ropeScaling ?? nil].compactMap({ $0 }) {
            let kind = p.ropeType ?? p.type ?? "default"
            guard kind == "default" else {
                throw DNDError("rotary scaling '\(kind)' is not supported; dnd implements the default rotary embedding only")
            }
        }
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        attentionBias = architecture == .qwen2 ? true : (try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false)
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true {
            throw DNDError("mlp_bias = true is not supported; dnd runs bias-free MLPs")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) == true {
            throw DNDError("use_sliding_window = true is not supported; dnd runs full causal attention")
        }
        let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        guard act == "silu" else { throw DNDError("hidden_act '\(act)' is not supported; dnd runs SiLU-gated MLPs") }
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 32768
        bosTokenId = try? c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        if let one = try? c.decodeIfPresent(Int.self, forKey: .eosTokenId) { eosTokenIds = [one] }
        else if let many = try? c.decodeIfPresent([Int].self, forKey: .eosTokenId) { eosTokenIds = many }
        dtype = (try? c.decodeIfPresent(String.self, forKey: .dtype)) ?? (try? c.decodeIfPresent(String.self, forKey: .torchDtype))
        try validate()
    }

    public func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode([architecture.rawValue], forKey: .architectures)
        try c.encode(architecture.modelType, forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize); try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize); try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads); try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(Double(rmsNormEps), forKey: .rmsNormEps); try c.encode(Double(ropeTheta), forKey: .ropeTheta)
        try c.encode(RopeParameters(ropeTheta: ropeTheta, ropeType: "default"), forKey: .ropeParameters)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        if architecture == .llama { try c.encode(attentionBias, forKey: .attentionBias); try c.encode(false, forKey: .mlpBias) }
        else { try c.encode(false, forKey: .useSlidingWindow) }
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(bosTokenId, forKey: .bosTokenId)
        if eosTokenIds.count == 1 { try c.encode(eosTokenIds[0], forKey: .eosTokenId) } else { try c.encode(eosTokenIds, forKey: .eosTokenId) }
        try c.encode("silu", forKey: .hiddenAct)
        try c.encode(dtype ?? "float32", forKey: .dtype)
    }

    /// Checks that the sizes are consistent (heads divide, head size even for rotary).
    public func validate() throws {
        guard numKeyValueHeads > 0, numAttentionHeads % numKeyValueHeads == 0 else {
            throw DNDError("num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        guard headDim > 0, headDim % 2 == 0 else { throw DNDError("head size \(headDim) must be positive and even (rotary embeddings pair its halves)") }
        guard rmsNormEps > 0, ropeTheta > 0 else { throw DNDError("rms_norm_eps and rope_theta must be positive") }
    }

    /// Reads `config.json` in a model folder.
    public static func load(folder: URL) throws -> ModelConfig {
        let url = folder.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DNDError("\(folder.path): no config.json; a Hugging Face model folder holds config.json, model.safetensors and tokenizer.json")
        }
        do { return try JSONDecoder().decode(ModelConfig.self, from: data) } catch let e as DNDError {
            throw DNDError("\(url.path): \(e.message)")
        } catch {
            throw DNDError("\(url.path): not a valid model config (\(error.localizedDescription))")
        }
    }

    /// The public id a Hugging Face folder names in config.json's `_name_or_path` (nil when that is a local path).
    public static func publicID(folder: URL) -> String? {
        guard let d = FileManager.default.contents(atPath: folder.appendingPathComponent("config.json").path),
              let o = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any],
              let name = o["_name_or_path"] as? String, ModelSource.looksLikeHubID(name) else { return nil }
        return name
    }

    /// Query heads per key/value head (grouped-query attention).
    public var groupSize: Int { numAttentionHeads / numKeyValueHeads }
    /// Width of the q projection's output, `Hq·hd`.
    public var qWidth: Int { numAttentionHeads * headDim }
    /// Width of the k and v projections' outputs, `Hkv·hd`.
    public var kvWidth: Int { numKeyValueHeads * headDim }

    /// Parameters in the model (embeddings counted once when tied).
    public var parameterCount: Int {
        let h = hiddenSize
        var perLayer = h * qWidth + 2 * h * kvWidth + qWidth * h + 3 * h * intermediateSize + 2 * h
        if attentionBias { perLayer += qWidth + 2 * kvWidth + (architecture == .llama ? h : 0) }
        return vocabSize * h * (tieWordEmbeddings ? 1 : 2) + numHiddenLayers * perLayer + h
    }
}
