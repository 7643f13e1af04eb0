import Foundation
import LoRA
import TensorCore

/// Weights of one decoder layer in Hugging Face layout: linear weights are `[out, in]`.
public struct LayerWeights: Sendable {
    public var q: Tensor        // [Hq·hd, H]
    public var k: Tensor        // [Hkv·hd, H]
    public var v: Tensor        // [Hkv·hd, H]
    public var o: Tensor        // [H, Hq·hd]
    public var qBias: Tensor?   // [Hq·hd]
    public var kBias: Tensor?   // [Hkv·hd]
    public var vBias: Tensor?   // [Hkv·hd]
    public var oBias: Tensor?   // [H] (Llama with attention_bias only)
    public var gate: Tensor     // [I, H]
    public var up: Tensor       // [I, H]
    public var down: Tensor     // [H, I]
    public var inputNorm: Tensor  // [H]
    public var postNorm: Tensor   // [H]

    /// The weight of a linear module.
    public func weight(_ m: LoRAModule) -> Tensor {
        switch m {
        case .q_proj: q
        case .k_proj: k
        case .v_proj: v
        case .o_proj: o
        case .gate_proj: gate
        case .up_proj: up
        case .down_proj: down
        }
    }

    public func bias(_ m: LoRAModule) -> Tensor? {
        switch m {
        case .q_proj: qBias
        case .k_proj: kBias
        case .v_proj: vBias
        case .o_proj: oBias
        default: nil
        }
    }

    public mutating func setWeight(_ m: LoRAModule, _ t: Tensor) {
        switch m {
        case .q_proj: q = t
        case .k_proj: k = t
        case .v_proj: v = t
        case .o_proj: o = t
        case .gate_proj: gate = t
        case .up_proj: up = t
        case .down_proj: down = t
        }
    }
}

/// Every weight of a Qwen2/Llama causal LM. `lmHead` is nil when the embeddings are tied.
public struct ModelWeights: Sendable {
    public var embed: Tensor      // [V, H]
    public var layers: [LayerWeights]
    public var norm: Tensor       // [H]
    public var lmHead: Tensor?    // [V, H]

    /// The output projection `[V, H]`: `lm_head.weight`, or the embeddings when tied.
    public var head: Tensor { lmHead ?? embed }

    /// `(in, out)` of a linear module.
    public static func linearShape(_ m: LoRAModule, config c: ModelConfig) -> (in: Int, out: Int) {
        switch m {
        case .q_proj: (c.hiddenSize, c.qWidth)
        case .k_proj, .v_proj: (c.hiddenSize, c.kvWidth)
        case .o_proj: (c.qWidth, c.hiddenSize)
        case .gate_proj, .up_proj: (c.hiddenSize, c.intermediateSize)
        case .down_proj: (c.intermediateSize, c.hiddenSize)
        }
    }

    /// Hugging Face key of a layer tensor, e.g. `model.layers.3.self_attn.q_proj.weight`.
    public static func key(layer: Int, _ module: LoRAModule, bias: Bool = false) -> String {
        "model.layers.\(layer).\(module.parent).\(module.rawValue).\(bias ? "bias" : "weight")"
    }

    /// Every tensor's expected shape, by Hugging Face name.
    public static func expectedShapes(config c: ModelConfig) -> [String: [Int]] {
        var s: [String: [Int]] = ["model.embed_tokens.weight": [c.vocabSize, c.hiddenSize], "model.norm.weight": [c.hiddenSize]]
        if !c.tieWordEmbeddings { s["lm_head.weight"] = [c.vocabSize, c.hiddenSize] }
        for l in 0..<c.numHiddenLayers {
            for m in LoRAModule.allCases {
                let (i, o) = linearShape(m, config: c)
                s[key(layer: l, m)] = [o, i]
            }
            if c.attentionBias {
                for m in [LoRAModule.q_proj, .k_proj, .v_proj] { s[key(layer: l, m, bias: true)] = [linearShape(m, config: c).out] }
                if c.architecture == .llama { s[key(layer: l, .o_proj, bias: true)] = [c.hiddenSize] }
            }
            s["model.layers.\(l).input_layernorm.weight"] = [c.hiddenSize]
            s["model.layers.\(l).post_attention_layernorm.weight"] = [c.hiddenSize]
        }
        return s
    }

    /// Builds the weights from Hugging Face-named tensors; every expected tensor must be there with its shape.
    public init(named t: [String: Tensor], config c: ModelConfig, origin: String) throws {
        let shapes = ModelWeights.expectedShapes(config: c)
        for (name, shape) in shapes.sorted(by: { $0.key < $1.key }) {
            guard let x = t[name] else {
                throw DNDError("\(origin): tensor '\(name)' is missing (expected shape \(shape)); the weights do not match config.json")
            }
            guard x.shape == shape else {
                throw DNDError("\(origin): tensor '\(name)' has shape \(x.shape) but config.json implies \(shape)")
            }
        }
        let extra = Set(t.keys).subtracting(shapes.keys)
        if let first = extra.sorted().first {
            throw DNDError("\(origin): unexpected tensor '\(first)'\(extra.count > 1 ? " (and \(extra.count - 1) more)" : ""); the weights do not match config.json (\(c.architecture.rawValue))")
        }
        func w(_ n: String) -> Tensor { t[n]! }
        embed = w("model.embed_tokens.weight")
        norm = w("model.norm.weight")
        lmHead = c.tieWordEmbeddings ? nil : w("lm_head.weight")
        layers = (0..<c.numHiddenLayers).map { l in
            func lin(_ m: LoRAModule) -> Tensor { w(ModelWeights.key(layer: l, m)) }
            func b(_ m: LoRAModule) -> Tensor? { t[ModelWeights.key(layer: l, m, bias: true)] }
            return LayerWeights(q: lin(.q_proj), k: lin(.k_proj), v: lin(.v_proj), o: lin(.o_proj),
                                qBias: b(.q_proj), kBias: b(.k_proj), vBias: b(.v_proj), oBias: b(.o_proj),
                                gate: lin(.gate_proj), up: lin(.up_proj), down: lin(.down_proj),
                                inputNorm: w("model.layers.\(l).input_layernorm.weight"),
                                postNorm: w("model.layers.\(l).post_attention_layernorm.weight"))
        }
    }

    /// Every tensor by Hugging Face name (no `lm_head.weight` when tied).
    public var named: [String: Tensor] {
        var t: [String: Tensor] = ["model.embed_tokens.weight": embed, "model.norm.weight": norm]
        if let lmHead { t["lm_head.weight"] = lmHead }
        for (l, w) in layers.enumerated() {
            for m in LoRAModule.allCases {
                t[ModelWeights.key(layer: l, m)] = w.weight(m)
                if let b = w.bias(m) { t[ModelWeights.key(layer: l, m, bias: true)] = b }
            }
            t["model.layers.\(l).input_layernorm.weight"] = w.inputNorm
            t["model.layers.\(l).post_attention_layernorm.weight"] = w.postNorm
        }
        return t
    }

    /// Fresh weights as transformers initialises them: normal(0, `std`) matrices, unit norms, zero biases.
    /// `normal: false` draws uniform values of the same standard deviation instead (faster, for benchmarks).
    public static func random(config c: ModelConfig, std: Float = 0.02, seed: UInt64, normal: Bool = true) -> ModelWeights {
        var rng = SeededRNG(seed: seed)
        var t: [String: Tensor] = [:]
        let a = std * Float(3).squareRoot()
        for (name, shape) in expectedShapes(config: c).sorted(by: { $0.key < $1.key }) {
            if name.hasSuffix("norm.weight") { t[name] = Tensor(shape: shape, repeating: 1) }
            else if name.hasSuffix(".bias") { t[name] = Tensor(zeros: shape) }
            else if normal { t[name] = Tensor.randomNormal(shape, std: std, rng: &rng) }
            else { t[name] = Tensor.randomUniform(shape, -a, a, rng: &rng) }
        }
        return try! ModelWeights(named: t, config: c, origin: "random")
    }

    /// Zero tensors of the same shapes (a gradient accumulator).
    public static func zeros(like w: ModelWeights) -> ModelWeights {
        var z = w
        z.embed = Tensor(zeros: w.embed.shape)
        z.norm = Tensor(zeros: w.norm.shape)
        z.lmHead = w.lmHead.map { Tensor(zeros: $0.shape) }
        z.layers = w.layers.map { l in
            func zz(_ t: Tensor) -> Tensor { Tensor(zeros: t.shape) }
            return LayerWeights(q: zz(l.q), k: zz(l.k), v: zz(l.v), o: zz(l.o), qBias: l.qBias.map(zz), kBias: l.kBias.map(zz),
                                vBias: l.vBias.map(zz), oBias: l.oBias.map(zz), gate: zz(l.gate), up: zz(l.up), down: zz(l.down),
                                inputNorm: zz(l.inputNorm), postNorm: zz(l.postNorm))
        }
        return z
    }
}

extension Tensor {
    /// Writable base pointer of a tensor this module allocated itself and has not shared: kernels fill such
    /// buffers in place. Never used on weights (they may be borrowed from a read-only mapping).
    @inline(__always)
    var mutablePointer: UnsafeMutablePointer<Float> { UnsafeMutablePointer(mutating: pointer) }
}
