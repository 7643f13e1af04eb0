import Foundation
import SafeTensors
import TensorCore

// Letters: N sequences in a batch, T_n tokens of sequence n, M = Σ T_n packed tokens, H hidden,
// A attention heads, D = H / A head width, I intermediate (FFN) width, V vocabulary, P positions.

/// The BERT encoder (embeddings, then post-LayerNorm transformer layers) over packed batches: the tokens of
/// all sequences sit in one `[M, H]` matrix, so every projection is one large sgemm and no padding token is
/// ever computed; attention runs per sequence over its own T_n keys (the attention mask, made exact).
final class BertModel: @unchecked Sendable {
    /// One transformer layer's weights (Hugging Face layout: a linear weight is `[out, in]`).
    struct Layer {
        var qkvWeight: Tensor       // [3H, H] query, key, value rows stacked
        var qkvBias: Tensor         // [3H]
        var outWeight: Tensor       // [H, H]
        var outBias: Tensor         // [H]
        var attentionNormWeight: Tensor  // [H]
        var attentionNormBias: Tensor    // [H]
        var upWeight: Tensor        // [I, H]
        var upBias: Tensor          // [I]
        var downWeight: Tensor      // [H, I]
        var downBias: Tensor        // [H]
        var outputNormWeight: Tensor     // [H]
        var outputNormBias: Tensor       // [H]
    }

    let config: BertConfig
    let wordEmbeddings: Tensor      // [V, H]
    let positionEmbeddings: Tensor  // [P, H]
    let tokenTypeEmbedding: Tensor  // [H], type 0 (every token is segment A)
    let embeddingNormWeight: Tensor // [H]
    let embeddingNormBias: Tensor   // [H]
    let layers: [Layer]

    /// Loads every weight from `file`, checking each shape against `config`. Checkpoint names may carry a
    /// `bert.` prefix (a BertModel saved inside a task model); `embeddings.position_ids` and heads are ignored.
    init(config: BertConfig, file: SafeTensorsFile) throws {
        self.config = config
        let path = file.url.path
        guard let prefix = ["", "bert.", "model."].first(where: { file.contains($0 + "embeddings.word_embeddings.weight") }) else {
            throw DNDError("\(path): no tensor 'embeddings.word_embeddings.weight'; this is not a BERT checkpoint (or an incomplete download): reinstall the encoder folder")
        }
        let h = config.hiddenSize, i = config.intermediateSize
        func weight(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let info = file.info(prefix + name) else {
                throw DNDError("\(path): weight '\(prefix + name)' is missing; the file is incomplete or does not match config.json (reinstall the encoder folder)")
            }
            guard info.dtype.isFloat else {
                throw DNDError("\(path): weight '\(prefix + name)' is \(info.dtype.rawValue), expected a float type")
            }
            guard info.shape == shape else {
                throw DNDError("\(path): weight '\(prefix + name)' has shape \(info.shape) but config.json implies \(shape); the weights and config.json belong to different models")
            }
            return try file.tensor(prefix + name)
        }
        wordEmbeddings = try weight("embeddings.word_embeddings.weight", [config.vocabSize, h])
        positionEmbeddings = try weight("embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, h])
        tokenTypeEmbedding = try weight("embeddings.token_type_embeddings.weight", [config.typeVocabSize, h]).row(0)
        embeddingNormWeight = try weight("embeddings.LayerNorm.weight", [h])
        embeddingNormBias = try weight("embeddings.LayerNorm.bias", [h])
        var layers: [Layer] = []
        for l in 0..<config.numHiddenLayers {
            let p = "encoder.layer.\(l)."
            let q = try weight(p + "attention.self.query.weight", [h, h])
            let k = try weight(p + "attention.self.key.weight", [h, h])
            let v = try weight(p + "attention.self.value.weight", [h, h])
            let qb = try weight(p + "attention.self.query.bias", [h])
            let kb = try weight(p + "attention.self.key.bias", [h])
            let vb = try weight(p + "attention.self.value.bias", [h])
            layers.append(Layer(
                qkvWeight: Tensor.concatenate([q, k, v]),
                qkvBias: Tensor.concatenate([qb, kb, vb]),
                outWeight: try weight(p + "attention.output.dense.weight", [h, h]),
                outBias: try weight(p + "attention.output.dense.bias", [h]),
                attentionNormWeight: try weight(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBias: try weight(p + "attention.output.LayerNorm.bias", [h]),
                upWeight: try weight(p + "intermediate.dense.weight", [i, h]),
                upBias: try weight(p + "intermediate.dense.bias", [i]),
                downWeight: try weight(p + "output.dense.weight", [h, i]),
                downBias: try weight(p + "output.dense.bias", [h]),
                outputNormWeight: try weight(p + "output.LayerNorm.weight", [h]),
                outputNormBias: try weight(p + "output.LayerNorm.bias", [h])))
        }
        self.layers = layers
    }

    /// Last hidden states of the packed sequences `ids` (each 1...P ids below V, checked by the caller):
    /// `[M, H]`, the rows of sequence n starting at Σ_{m<n} T_m.
    ///
    /// With several sequences and cores, the sequences are split into one group per core (balanced by token
    /// count) and each group runs the whole forward on its own core with single-threaded sgemm: no
    /// synchronisation inside a layer, and the hand loops (softmax, GELU, LayerNorm) run on every core too.
    func forward(_ ids: [[Int]]) -> Tensor {
        let cores = Parallel.cores
        if ids.count < 2 || cores < 2 { return forwardPacked(ids) }
        let groups = BertModel.partition(ids.map(\.count), into: min(cores, ids.count))
        var parts = [Tensor](repeating: Tensor(zeros: [0]), count: groups.count)
        BLAS.singleThreaded {
            parts.withUnsafeMutableBufferPointer { out in
                let slots = out.baseAddress!
                Parallel.forEach(groups.count) { g in slots[g] = forwardPacked(groups[g].map { ids[$0] }) }
            }
        }
        let h = config.hiddenSize
        var offsets = [Int](repeating: 0, count: ids.count)
        for n in 1..<max(1, ids.count) { offsets[n] = offsets[n - 1] + ids[n - 1].count }
        var x = Tensor(uninitialized: [offsets.last! + ids.last!.count, h])   // [M, H]
        x.withUnsafeMutableBufferPointer { xb in
            for (g, members) in groups.enumerated() {
                var row = 0
                for n in members {
                    (xb.baseAddress! + offsets[n] * h).update(from: parts[g].pointer + row * h, count: ids[n].count * h)
                    row += ids[n].count
                }
            }
        }
        return x
    }

    /// Splits sequence indices into `k` groups of about equal token counts (longest first, each to the
    /// lightest group); a group keeps its members in increasing order.
    static func partition(_ lengths: [Int], into k: Int) -> [[Int]] {
        var groups = [[Int]](repeating: [], count: k)
        var load = [Int](repeating: 0, count: k)
        for n in lengths.indices.sorted(by: { lengths[$0] > lengths[$1] }) {
            let g = load.indices.min { load[$0] < load[$1] }!
            groups[g].append(n)
            load[g] += lengths[n]
        }
        return groups.filter { !$0.isEmpty }.map { $0.sorted() }
    }

    /// `forward` on the calling thread (sgemm uses however many threads OpenBLAS is set to).
    func forwardPacked(_ ids: [[Int]]) -> Tensor {
        let h = config.hiddenSize, inner = config.intermediateSize, eps = config.layerNormEps
        let lengths = ids.map(\.count)
        let m = lengths.reduce(0, +)
        let tMax = lengths.max() ?? 0
        var x = Tensor(uninitialized: [m, h])            // [M, H] the residual stream
        if m == 0 { return x }
        var qkv = Tensor(uninitialized: [m, 3 * h])      // [M, 3H]
        var context = Tensor(uninitialized: [m, h])      // [M, H] attention output before its projection
        var attended = Tensor(uninitialized: [m, h])     // [M, H] after attention, projection, residual, LayerNorm
        var up = Tensor(uninitialized: [m, inner])       // [M, I]
        var scores = Tensor(uninitialized: [tMax, tMax]) // [T, T] one head of one sequence
        x.withUnsafeMutableBufferPointer { xb in
            embed(ids, into: xb.baseAddress!)
            EncoderKernels.layerNormInPlace(xb.baseAddress!, rows: m, n: h, weight: embeddingNormWeight.pointer,
                                            bias: embeddingNormBias.pointer, eps: eps)
        }
        let xp = x.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let qkvp = qkv.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let cp = context.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let ap = attended.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let up_ = up.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let sp = scores.withUnsafeMutableBufferPointer { $0.baseAddress! }
        for layer in layers {
            // qkv = x · Wqkvᵀ + bqkv
            EncoderKernels.broadcastRows(qkvp, rows: m, n: 3 * h, bias: layer.qkvBias.pointer)
            BLAS.gemm(transB: true, m: m, n: 3 * h, k: h, a: xp, lda: h, b: layer.qkvWeight.pointer, ldb: h,
                      beta: 1, c: qkvp, ldc: 3 * h)
            attention(qkv: qkvp, lengths: lengths, scores: sp, into: cp)
            // attended = LayerNorm(x + context · Woᵀ + bo)
            EncoderKernels.addBiasRows(ap, xp, rows: m, n: h, bias: layer.outBias.pointer)
            BLAS.gemm(transB: true, m: m, n: h, k: h, a: cp, lda: h, b: layer.outWeight.pointer, ldb: h, beta: 1, c: ap, ldc: h)
            EncoderKernels.layerNormInPlace(ap, rows: m, n: h, weight: layer.attentionNormWeight.pointer,
                                            bias: layer.attentionNormBias.pointer, eps: eps)
            // up = GELU(attended · W1ᵀ + b1)
            EncoderKernels.broadcastRows(up_, rows: m, n: inner, bias: layer.upBias.pointer)
            BLAS.gemm(transB: true, m: m, n: inner, k: h, a: ap, lda: h, b: layer.upWeight.pointer, ldb: h, beta: 1, c: up_, ldc: inner)
            EncoderKernels.geluInPlace(up_, count: m * inner)
            // x = LayerNorm(attended + up · W2ᵀ + b2)
            EncoderKernels.addBiasRows(xp, ap, rows: m, n: h, bias: layer.downBias.pointer)
            BLAS.gemm(transB: true, m: m, n: h, k: inner, a: up_, lda: inner, b: layer.downWeight.pointer, ldb: inner, beta: 1, c: xp, ldc: h)
            EncoderKernels.layerNormInPlace(xp, rows: m, n: h, weight: layer.outputNormWeight.pointer,
                                            bias: layer.outputNormBias.pointer, eps: eps)
        }
        withExtendedLifetime((qkv, context, attended, up, scores)) {}
        return x
    }

    /// Word + position + token-type embeddings into `out` `[M, H]` (before the embedding LayerNorm).
    func embed(_ ids: [[Int]], into out: UnsafeMutablePointer<Float>) {
        let h = config.hiddenSize
        let w = wordEmbeddings.pointer, pos = positionEmbeddings.pointer, type = tokenTypeEmbedding.pointer
        var row = 0
        for seq in ids {
            for (t, id) in seq.enumerated() {
                let o = out + row * h, wr = w + id * h, pr = pos + t * h
                for j in 0..<h { o[j] = wr[j] + pr[j] + type[j] }
                row += 1
            }
        }
    }

    /// Multi-head self-attention of each sequence over its own tokens: for head a of sequence n,
    /// `context[n, :, aD..<(a+1)D] = softmax(Q Kᵀ / √D) V` with Q, K, V the head's columns of `qkv` `[M, 3H]`.
    /// `scores` is `[T_max, T_max]` scratch; `context` is `[M, H]`.
    func attention(qkv: UnsafeMutablePointer<Float>, lengths: [Int], scores: UnsafeMutablePointer<Float>,
                   into context: UnsafeMutablePointer<Float>) {
        let h = config.hiddenSize, d = config.headSize, heads = config.numAttentionHeads
        let scale = 1 / Float(d).squareRoot()
        var offset = 0
        for t in lengths {
            let base = qkv + offset * 3 * h
            for a in 0..<heads {
                let q = base + a * d, k = base + h + a * d, v = base + 2 * h + a * d
                BLAS.gemm(transB: true, m: t, n: t, k: d, alpha: scale, a: q, lda: 3 * h, b: k, ldb: 3 * h, c: scores, ldc: t)
                EncoderKernels.softmaxInPlace(scores, rows: t, n: t, ld: t)
                BLAS.gemm(m: t, n: d, k: t, a: scores, lda: t, b: v, ldb: 3 * h, c: context + offset * h + a * d, ldc: h)
            }
            offset += t
        }
    }
}
