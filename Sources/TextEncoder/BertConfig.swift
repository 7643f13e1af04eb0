import Foundation
import TensorCore

/// `config.json` of a BERT encoder: the shapes the model is built from (defaults are BERT-base's, as in
/// Hugging Face), validated at decode time so an unsupported model fails before any weight is read.
public struct BertConfig: Codable, Sendable, Equatable {
    public var modelType: String?
    public var hiddenSize: Int = 768
    public var numHiddenLayers: Int = 12
    public var numAttentionHeads: Int = 12
    public var intermediateSize: Int = 3072
    public var vocabSize: Int = 30522
    public var maxPositionEmbeddings: Int = 512
    public var typeVocabSize: Int = 2
    public var layerNormEps: Float = 1e-12
    public var hiddenAct: String = "gelu"
    public var positionEmbeddingType: String = "absolute"

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size", vocabSize = "vocab_size"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act", positionEmbeddingType = "position_embedding_type"
    }

    /// The per-head width.
    public var headSize: Int { hiddenSize / numAttentionHeads }

    public init(hiddenSize: Int = 768, numHiddenLayers: Int = 12, numAttentionHeads: Int = 12, intermediateSize: Int = 3072,
                vocabSize: Int = 30522, maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2, layerNormEps: Float = 1e-12) throws {
        modelType = "bert"
        self.hiddenSize = hiddenSize; self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize; self.vocabSize = vocabSize; self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize; self.layerNormEps = layerNormEps
        try validate()
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 768
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 12
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 12
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 3072
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 30522
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 512
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? 2
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-12
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu"
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute"
        try validate()
    }

    /// Throws (message without the file name; the loader adds it) when this encoder cannot run the model.
    public func validate() throws {
        if let t = modelType, t != "bert" {
            throw DNDError("model_type is '\(t)'; this encoder runs BERT models only (model_type \"bert\"), such as sentence-transformers/all-MiniLM-L6-v2")
        }
        for (name, v) in [("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                          ("intermediate_size", intermediateSize), ("vocab_size", vocabSize),
                          ("max_position_embeddings", maxPositionEmbeddings), ("type_vocab_size", typeVocabSize)] where v <= 0 {
            throw DNDError("\(name) is \(v); it must be positive")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw DNDError("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads); the attention heads cannot split the hidden state")
        }
        guard hiddenAct == "gelu" else {
            throw DNDError("hidden_act is '\(hiddenAct)'; this encoder implements BERT's exact (erf) \"gelu\" only")
        }
        guard positionEmbeddingType == "absolute" else {
            throw DNDError("position_embedding_type is '\(positionEmbeddingType)'; this encoder implements \"absolute\" position embeddings only")
        }
        guard layerNormEps > 0, layerNormEps.isFinite else { throw DNDError("layer_norm_eps is \(layerNormEps); it must be a small positive number") }
    }

    /// Multiply-adds per token of one forward pass over a sequence of `length` tokens, times two (FLOPs).
    public func flopsPerToken(length: Int) -> Double {
        let h = Double(hiddenSize), i = Double(intermediateSize), l = Double(length)
        // QKV (3h²), output projection (h²), FFN (2hi), attention scores and context (2lh).
        return 2 * Double(numHiddenLayers) * (4 * h * h + 2 * h * i + 2 * l * h)
    }
}
