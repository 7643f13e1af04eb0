import Foundation
import TensorCore

/// Causal grouped-query attention for one sequence, every head through sgemm.
///
/// `n` queries sit at the last `n` of `m` key positions (`m == n` for a whole sequence; `m > n` when a KV
/// cache holds the first `m − n`). Query row `i` attends keys `0 ... m − n + i`. Query head `h` uses
/// key/value head `h / (Hq / Hkv)`. Rows of q/ctx have stride `Hq·hd`, rows of k/v stride `Hkv·hd`.
struct AttentionDims {
    var heads: Int      // Hq
    var kvHeads: Int    // Hkv
    var headDim: Int    // hd
    var qStride: Int { heads * headDim }
    var kvStride: Int { kvHeads * headDim }
    var group: Int { heads / kvHeads }
}

enum Attention {
    /// ctx `[n, Hq·hd]` = softmax(q kᵀ / √hd, causal) v, per head. Writes the weights into
    /// `probs [Hq, n, m]` (backward needs them).
    static func forward(ctx: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                        n: Int, m: Int, dims d: AttentionDims) {
        let scale = 1 / Float(d.headDim).squareRoot()
        let past = m - n
        for h in 0..<d.heads {
            let kvh = h / d.group
            let p = probs + h * n * m
            // scores [n, m] = q_h [n, hd] · k_kvhᵀ [hd, m] / √hd
            BLAS.gemm(transB: true, m: n, n: m, k: d.headDim, alpha: scale, a: q + h * d.headDim, lda: d.qStride,
                      b: k + kvh * d.headDim, ldb: d.kvStride, c: p, ldc: m)
            causalSoftmax(p, n: n, m: m, past: past)
            // ctx_h [n, hd] = probs [n, m] · v_kvh [m, hd]
            BLAS.gemm(m: n, n: d.headDim, k: m, a: p, lda: m, b: v + kvh * d.headDim, ldb: d.kvStride,
                      c: ctx + h * d.headDim, ldc: d.qStride)
        }
    }

    /// Row `i` is normalised over keys `0 ... past + i`; later keys get weight 0.
    @inline(__always)
    static func causalSoftmax(_ p: UnsafeMutablePointer<Float>, n: Int, m: Int, past: Int) {
        for i in 0..<n {
            let row = p + i * m
            let valid = past + i + 1
            var mx = -Float.infinity
            for j in 0..<valid { mx = max(mx, row[j]) }
            var s: Float = 0
            for j in 0..<valid { let e = expf(row[j] - mx); row[j] = e; s += e }
            let inv = 1 / s
            for j in 0..<valid { row[j] *= inv }
            if valid < m { (row + valid).update(repeating: 0, count: m - valid) }
        }
    }

    /// Backward of `forward`; dq `[n, Hq·hd]`, dk, dv `[m, Hkv·hd]` accumulate (`+=`).
    /// dP = dctx vᵀ; dv += Pᵀ dctx; dS = P ⊙ (dP − Σ dP⊙P); dq += dS k / √hd; dk += dSᵀ q / √hd.
    static func backward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                         dctx: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                         probs: UnsafePointer<Float>, n: Int, m: Int, dims d: AttentionDims) {
        let scale = 1 / Float(d.headDim).squareRoot()
        let ds = UnsafeMutablePointer<Float>.allocate(capacity: n * m)   // [n, m]
        defer { ds.deallocate() }
        for h in 0..<d.heads {
            let kvh = h / d.group
            let p = probs + h * n * m
            let dch = dctx + h * d.headDim
            // dP [n, m] = dctx_h [n, hd] · v_kvhᵀ
            BLAS.gemm(transB: true, m: n, n: m, k: d.headDim, a: dch, lda: d.qStride, b: v + kvh * d.headDim, ldb: d.kvStride,
                      c: ds, ldc: m)
            // dv_kvh [m, hd] += Pᵀ [m, n] · dctx_h [n, hd]
            BLAS.gemm(transA: true, m: m, n: d.headDim, k: n, a: p, lda: m, b: dch, ldb: d.qStride, beta: 1,
                      c: dv + kvh * d.headDim, ldc: d.kvStride)
            Softmax.backwardInPlace(dx: ds, dy: ds, y: p, rows: n, n: m)
            // dq_h [n, hd] += dS [n, m] · k_kvh [m, hd] / √hd
            BLAS.gemm(m: n, n: d.headDim, k: m, alpha: scale, a: ds, lda: m, b: k + kvh * d.headDim, ldb: d.kvStride, beta: 1,
                      c: dq + h * d.headDim, ldc: d.qStride)
            // dk_kvh [m, hd] += dSᵀ [m, n] · q_h [n, hd] / √hd
            BLAS.gemm(transA: true, m: m, n: d.headDim, k: n, alpha: scale, a: ds, lda: m, b: q + h * d.headDim, ldb: d.qStride,
                      beta: 1, c: dk + kvh * d.headDim, ldc: d.kvStride)
        }
    }
}
