import Foundation
import LoRA
import TensorCore

/// Sequences packed row after row, without padding: sequence `b` holds rows `starts[b] ..< starts[b] + lengths[b]`.
/// Linear layers see all `N` rows at once (one GEMM); attention and rotary positions stay per sequence.
struct PackedBatch {
    var ids: [Int]          // [N]
    var starts: [Int]       // [B]
    var lengths: [Int]      // [B]
    var positions: [Int32]  // [N]: position of each row in its sequence
    var n: Int { ids.count }
    var maxLength: Int { lengths.max() ?? 0 }

    /// Packs `sequences`; positions start at `offset` (the tokens a KV cache already holds).
    init(_ sequences: [[Int]], offset: Int = 0) {
        self.init(sequences, offsets: [Int](repeating: offset, count: sequences.count))
    }

    /// Packs `sequences`; sequence `b`'s positions start at `offsets[b]` (the tokens its own KV cache holds).
    init(_ sequences: [[Int]], offsets: [Int]) {
        precondition(offsets.count == sequences.count, "one offset per sequence")
        ids = []; starts = []; lengths = []; positions = []
        for (s, offset) in zip(sequences, offsets) {
            starts.append(ids.count); lengths.append(s.count)
            ids.append(contentsOf: s)
            positions.append(contentsOf: (0..<s.count).map { Int32(offset + $0) })
        }
    }
}

/// A LoRA adapter checked against a model and laid out per layer for the forward pass (see `CausalLM.bind`).
public struct BoundLoRA: @unchecked Sendable {
    public let adapter: LoRAAdapter
    let layers: [[LoRAModule: Linear.LoRA]]   // [L]
}

/// The decoder stack of a Qwen2/Llama model: config and weights, forward and backward over packed batches.
public struct Transformer: Sendable {
    public let config: ModelConfig
    public var weights: ModelWeights

    public init(config: ModelConfig, weights: ModelWeights) {
        self.config = config; self.weights = weights
    }

    var attentionDims: AttentionDims {
        AttentionDims(heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads, headDim: config.headDim)
    }

    /// What one layer's forward keeps for its backward (llm.c style: exactly what backward reads).
    struct LayerCache {
        var x: Tensor          // [N, H] the layer's input (residual stream)
        var rstd1: [Float]     // [N]
        var a: Tensor          // [N, H] input_layernorm(x)
        var q: Tensor          // [N, Hq·hd] after rotary
        var k: Tensor          // [N, Hkv·hd] after rotary
        var v: Tensor          // [N, Hkv·hd]
        var probs: Tensor      // [Σ_b Hq·T_b²] attention weights, sequence after sequence
        var ctx: Tensor        // [N, Hq·hd] attention output, input of o_proj
        var x2: Tensor         // [N, H] x + attention
        var rstd2: [Float]     // [N]
        var mlpIn: Tensor      // [N, H] post_attention_layernorm(x2)
        var g: Tensor          // [N, I] gate_proj output
        var u: Tensor          // [N, I] up_proj output
        var h: Tensor          // [N, I] silu(g) ⊙ u, input of down_proj
        var xa: [LoRAModule: Tensor]  // [N, r] x·Aᵀ of every LoRA-wrapped module
    }

    /// A whole forward pass: per-layer caches (empty unless kept), the final residual stream and its norm.
    struct Pass {
        var layers: [LayerCache]
        var final: Tensor       // [N, H] residual stream after the last layer
        var rstdF: [Float]      // [N]
        var normed: Tensor      // [N, H] model.norm(final): the LM head's input
    }

    /// Runs the stack over `batch`. `keep` retains every layer's cache for `backward`; `cache` (single
    /// sequence) supplies and extends the keys/values of earlier tokens.
    func forward(_ batch: PackedBatch, lora: BoundLoRA?, keep: Bool, cache: KVCache? = nil) -> Pass {
        forward(batch, lora: lora, keep: keep, caches: cache.map { [$0] })
    }

    /// Runs the stack over `batch`; `caches[b]`, one per sequence, supplies and extends sequence `b`'s keys and
    /// values (batched incremental decoding: every linear layer is one GEMM over all sequences' new rows).
    func forward(_ batch: PackedBatch, lora: BoundLoRA?, keep: Bool, caches: [KVCache]?) -> Pass {
        let c = config, n = batch.n, hd = c.headDim
        let maxPos = Int(batch.positions.max() ?? 0) + 1
        let rope = Rotary(headDim: hd, theta: c.ropeTheta, positions: maxPos)
        // x [N, H] = embed_tokens[ids]
        var x = Tensor(uninitialized: [n, c.hiddenSize])
        let e = weights.embed.pointer, xp = x.mutablePointer, hsz = c.hiddenSize
        for (r, id) in batch.ids.enumerated() { (xp + r * hsz).update(from: e + id * hsz, count: hsz) }
        var layers: [LayerCache] = []
        for l in 0..<c.numHiddenLayers {
            let saved = layerForward(l, x: x, batch: batch, rope: rope, lora: lora?.layers[l], caches: caches)
            x = saved.out
            if keep { layers.append(saved.cache) }
        }
        if let caches { for (cache, t) in zip(caches, batch.lengths) { cache.length += t } }
        let (normed, rstdF) = RMSNorm.forward(x, weight: weights.norm, n: c.hiddenSize, eps: c.rmsNormEps)
        return Pass(layers: layers, final: x, rstdF: rstdF, normed: normed)
    }

    /// One decoder layer: `x2 = x + o(attn(rope(q(a)), rope(k(a)), v(a)))` with `a = norm1(x)`, then
    /// `out = x2 + down(silu(gate(m)) ⊙ up(m))` with `m = norm2(x2)`.
    func layerForward(_ l: Int, x: Tensor, batch: PackedBatch, rope: Rotary, lora: [LoRAModule: Linear.LoRA]?,
                      caches: [KVCache]?) -> (out: Tensor, cache: LayerCache) {
        let c = config, w = weights.layers[l], n = batch.n, d = attentionDims
        var xa: [LoRAModule: Tensor] = [:]
        func linear(_ m: LoRAModule, _ y: Tensor, accumulate: Bool, _ input: Tensor) {
            if let t = Linear.forward(y: y.mutablePointer, accumulate: accumulate, x: input.pointer, n: n,
                                      weight: w.weight(m), bias: w.bias(m), lora: lora?[m]) { xa[m] = t }
        }
        let (a, rstd1) = RMSNorm.forward(x, weight: w.inputNorm, n: c.hiddenSize, eps: c.rmsNormEps)
        let q = Tensor(uninitialized: [n, c.qWidth])     // [N, Hq·hd]
        let k = Tensor(uninitialized: [n, c.kvWidth])    // [N, Hkv·hd]
        let v = Tensor(uninitialized: [n, c.kvWidth])    // [N, Hkv·hd]
        linear(.q_proj, q, accumulate: false, a)
        linear(.k_proj, k, accumulate: false, a)
        linear(.v_proj, v, accumulate: false, a)
        rope.forward(q.mutablePointer, rows: n, heads: c.numAttentionHeads, positions: batch.positions)
        rope.forward(k.mutablePointer, rows: n, heads: c.numKeyValueHeads, positions: batch.positions)
        let ctx = Tensor(uninitialized: [n, c.qWidth])   // [N, Hq·hd]
        let probs: Tensor
        if let caches {
            precondition(caches.count == batch.starts.count, "one KV cache per sequence")
            // probs are not kept with a cache (no backward): one scratch buffer for the largest sequence
            let most = zip(caches, batch.lengths).map { $1 * ($0.length + $1) }.max() ?? 0
            probs = Tensor(uninitialized: [c.numAttentionHeads * most])
            for (b, cache) in caches.enumerated() {
                let s = batch.starts[b], t = batch.lengths[b]
                cache.append(layer: l, k: k.pointer + s * c.kvWidth, v: v.pointer + s * c.kvWidth, rows: t)
                let m = cache.length + t
                Attention.forward(ctx: ctx.mutablePointer + s * c.qWidth, probs: probs.mutablePointer, q: q.pointer + s * c.qWidth,
                                  k: cache.keys(l), v: cache.values(l), n: t, m: m, dims: d)
            }
        } else {
            probs = Tensor(uninitialized: [batch.lengths.reduce(0) { $0 + c.numAttentionHeads * $1 * $1 }])
            var off = 0
            for (s, t) in zip(batch.starts, batch.lengths) {
                Attention.forward(ctx: ctx.mutablePointer + s * c.qWidth, probs: probs.mutablePointer + off,
                                  q: q.pointer + s * c.qWidth, k: k.pointer + s * c.kvWidth, v: v.pointer + s * c.kvWidth,
                                  n: t, m: t, dims: d)
                off += c.numAttentionHeads * t * t
            }
        }
        // x2 [N, H] = x + ctx · Woᵀ (+ LoRA)
        let x2 = Tensor(uninitialized: x.shape)
        x2.mutablePointer.update(from: x.pointer, count: x.count)
        linear(.o_proj, x2, accumulate: true, ctx)
        let (mlpIn, rstd2) = RMSNorm.forward(x2, weight: w.postNorm, n: c.hiddenSize, eps: c.rmsNormEps)
        let g = Tensor(uninitialized: [n, c.intermediateSize])   // [N, I]
        let u = Tensor(uninitialized: [n, c.intermediateSize])   // [N, I]
        let h = Tensor(uninitialized: [n, c.intermediateSize])   // [N, I]
        linear(.gate_proj, g, accumulate: false, mlpIn)
        linear(.up_proj, u, accumulate: false, mlpIn)
        SwiGLU.forward(h: h.mutablePointer, g: g.pointer, u: u.pointer, count: h.count)
        // out [N, H] = x2 + h · Wdownᵀ (+ LoRA)
        let out = Tensor(uninitialized: x.shape)
        out.mutablePointer.update(from: x2.pointer, count: x2.count)
        linear(.down_proj, out, accumulate: true, h)
        return (out, LayerCache(x: x, rstd1: rstd1, a: a, q: q, k: k, v: v, probs: probs, ctx: ctx, x2: x2, rstd2: rstd2,
                                mlpIn: mlpIn, g: g, u: u, h: h, xa: xa))
    }

    /// Logits `[M, V]` for rows `rows` of the LM head's input `normed [N, H]` (all rows when nil).
    func logits(_ normed: Tensor, rows: [Int]? = nil) -> Tensor {
        let hsz = config.hiddenSize, v = config.vocabSize
        let input = rows.map { gatherRows(normed, $0) } ?? normed
        let m = input.shape[0]
        let out = Tensor(uninitialized: [m, v])
        // logits [M, V] = input [M, H] · headᵀ
        BLAS.gemm(transB: true, m: m, n: v, k: hsz, a: input.pointer, lda: hsz, b: weights.head.pointer, ldb: hsz,
                  c: out.mutablePointer, ldc: v)
        return out
    }
}

/// Rows `rows` of a `[N, C]` tensor, copied into `[M, C]`.
func gatherRows(_ t: Tensor, _ rows: [Int]) -> Tensor {
    let cols = t.shape[1]
    let out = Tensor(uninitialized: [rows.count, cols])
    for (i, r) in rows.enumerated() { (out.mutablePointer + i * cols).update(from: t.pointer + r * cols, count: cols) }
    return out
}
