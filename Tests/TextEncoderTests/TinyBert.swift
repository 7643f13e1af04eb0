import Foundation
import SafeTensors
import TensorCore
@testable import TextEncoder

/// A small random BERT written as a sentence-transformers folder, and a plain-loop reference forward
/// built from TensorCore's twins (matmul, LayerNorm, Softmax, GELU): what the packed, parallel encoder is
/// checked against for shapes the fixture does not cover (odd widths, lengths 1…33, several batches).
struct TinyBert {
    let config: BertConfig
    let weights: [String: Tensor]
    let vocabulary: [String]

    init(hidden: Int = 36, heads: Int = 3, intermediate: Int = 50, layers: Int = 2, positions: Int = 40, seed: UInt64 = 1) throws {
        config = try BertConfig(hiddenSize: hidden, numHiddenLayers: layers, numAttentionHeads: heads, intermediateSize: intermediate,
                                vocabSize: 40, maxPositionEmbeddings: positions, typeVocabSize: 2, layerNormEps: 1e-12)
        var rng = SeededRNG(seed: seed)
        var w: [String: Tensor] = [:]
        let h = hidden, i = intermediate
        func add(_ name: String, _ shape: [Int], std: Float = 0.3, mean: Float = 0) {
            w[name] = Tensor.randomNormal(shape, mean: mean, std: std, rng: &rng)
        }
        add("embeddings.word_embeddings.weight", [40, h], std: 1)
        add("embeddings.position_embeddings.weight", [positions, h], std: 0.5)
        add("embeddings.token_type_embeddings.weight", [2, h], std: 0.5)
        add("embeddings.LayerNorm.weight", [h], std: 0.1, mean: 1); add("embeddings.LayerNorm.bias", [h], std: 0.1)
        for l in 0..<layers {
            let p = "encoder.layer.\(l)."
            for m in ["query", "key", "value"] { add(p + "attention.self.\(m).weight", [h, h]); add(p + "attention.self.\(m).bias", [h], std: 0.1) }
            add(p + "attention.output.dense.weight", [h, h]); add(p + "attention.output.dense.bias", [h], std: 0.1)
            add(p + "attention.output.LayerNorm.weight", [h], std: 0.1, mean: 1); add(p + "attention.output.LayerNorm.bias", [h], std: 0.1)
            add(p + "intermediate.dense.weight", [i, h]); add(p + "intermediate.dense.bias", [i], std: 0.1)
            add(p + "output.dense.weight", [h, i]); add(p + "output.dense.bias", [h], std: 0.1)
            add(p + "output.LayerNorm.weight", [h], std: 0.1, mean: 1); add(p + "output.LayerNorm.bias", [h], std: 0.1)
        }
        weights = w
        // 40 ids: specials, then single letters and a few continuation pieces.
        vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + "abcdefghijklmnopqrstuvwxyz".map { String($0) }
            + ["##a", "##b", "##c", "##d", "##e", "the", "cat", "dog", ".", ","]
    }

    /// Writes config.json, vocab.txt, model.safetensors, modules.json and 1_Pooling/config.json (mean).
    func write(to dir: URL, weightPrefix: String = "", drop: String? = nil, modules: Bool = true) throws {
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
        let c = config
        let json = """
        {"model_type": "bert", "hidden_size": \(c.hiddenSize), "num_hidden_layers": \(c.numHiddenLayers),
         "num_attention_heads": \(c.numAttentionHeads), "intermediate_size": \(c.intermediateSize), "vocab_size": \(c.vocabSize),
         "max_position_embeddings": \(c.maxPositionEmbeddings), "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
         "_name_or_path": "test/tiny-bert"}
        """
        try Data(json.utf8).write(to: dir.appendingPathComponent("config.json"))
        try Data((vocabulary.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent("vocab.txt"))
        var named: [String: Tensor] = [:]
        for (k, v) in weights where k != drop { named[weightPrefix + k] = v }
        try SafeTensorsWriter.write(named, to: dir.appendingPathComponent("model.safetensors"))
        if modules {
            let m = """
            [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
             {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
            """
            try Data(m.utf8).write(to: dir.appendingPathComponent("modules.json"))
        }
        try Data(#"{"word_embedding_dimension": \#(c.hiddenSize), "pooling_mode_mean_tokens": true}"#.utf8)
            .write(to: dir.appendingPathComponent("1_Pooling/config.json"))
        try Data(#"{"max_seq_length": 24, "do_lower_case": false}"#.utf8).write(to: dir.appendingPathComponent("sentence_bert_config.json"))
    }

    /// Plain forward of one sequence: `[T, H]`.
    func reference(_ ids: [Int]) -> Tensor {
        let h = config.hiddenSize, heads = config.numAttentionHeads, d = config.headSize, t = ids.count
        func linear(_ x: Tensor, _ name: String) -> Tensor {
            var y = x.matmul(weights[name + ".weight"]!, transposeOther: true)
            y.addRowVector(weights[name + ".bias"]!)
            return y
        }
        func norm(_ x: Tensor, _ name: String) -> Tensor {
            LayerNorm.forward(x, weight: weights[name + ".weight"]!, bias: weights[name + ".bias"]!, n: h, eps: 1e-12).0
        }
        let word = weights["embeddings.word_embeddings.weight"]!, pos = weights["embeddings.position_embeddings.weight"]!
        let type = weights["embeddings.token_type_embeddings.weight"]!
        var x = Tensor(zeros: [t, h])
        for r in 0..<t { for j in 0..<h { x[r, j] = word[ids[r], j] + pos[r, j] + type[0, j] } }
        x = norm(x, "embeddings.LayerNorm")
        for l in 0..<config.numHiddenLayers {
            let p = "encoder.layer.\(l)."
            let q = linear(x, p + "attention.self.query"), k = linear(x, p + "attention.self.key"), v = linear(x, p + "attention.self.value")
            var context = Tensor(zeros: [t, h])
            for a in 0..<heads {
                func head(_ m: Tensor) -> Tensor { Tensor(shape: [t, d]) { o in for r in 0..<t { for j in 0..<d { o[r * d + j] = m[r, a * d + j] } } } }
                let scores = head(q).matmul(head(k), transposeOther: true) * (1 / Float(d).squareRoot())
                let probs = Softmax.forward(scores, n: t)
                let ctx = probs.matmul(head(v))
                for r in 0..<t { for j in 0..<d { context[r, a * d + j] = ctx[r, j] } }
            }
            let attended = norm(linear(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            let up = GELU.forward(linear(attended, p + "intermediate.dense"))
            x = norm(linear(up, p + "output.dense") + attended, p + "output.LayerNorm")
        }
        return x
    }
}
