import Foundation
import TensorCore

/// A frozen linear layer `y = x Wᵀ + b`, optionally wrapped by a LoRA `+ s·(x Aᵀ) Bᵀ` (not merged).
///
/// Shapes: x `[N, in]`, W `[out, in]`, b `[out]`, A `[r, in]`, B `[out, r]`, y `[N, out]`, xa = x Aᵀ `[N, r]`.
enum Linear {
    /// The LoRA pair on one linear layer and its scaling (`alpha / r`, or `alpha / √r` with rsLoRA).
    struct LoRA {
        var a: Tensor   // [r, in]
        var b: Tensor   // [out, r]
        var scale: Float
        var rank: Int { a.shape[0] }
    }

    /// `y (=|+=) x Wᵀ + b + s·(x Aᵀ) Bᵀ`; `accumulate` adds onto `y` (a residual stream). Returns xa `[N, r]`,
    /// the one LoRA intermediate backward needs (nil without LoRA).
    static func forward(y: UnsafeMutablePointer<Float>, accumulate: Bool, x: UnsafePointer<Float>, n: Int,
                        weight: Tensor, bias: Tensor?, lora: LoRA?) -> Tensor? {
        let outDim = weight.shape[0], inDim = weight.shape[1]
        BLAS.gemm(transB: true, m: n, n: outDim, k: inDim, a: x, lda: inDim, b: weight.pointer, ldb: inDim,
                  beta: accumulate ? 1 : 0, c: y, ldc: outDim)
        if let bias { addBias(y, bias.pointer, rows: n, cols: outDim) }
        guard let lora else { return nil }
        let r = lora.rank
        let xa = Tensor(uninitialized: [n, r])
        // xa [N, r] = x [N, in] · Aᵀ;  y += s · xa · Bᵀ
        BLAS.gemm(transB: true, m: n, n: r, k: inDim, a: x, lda: inDim, b: lora.a.pointer, ldb: inDim, c: xa.mutablePointer, ldc: r)
        BLAS.gemm(transB: true, m: n, n: outDim, k: r, alpha: lora.scale, a: xa.pointer, lda: r, b: lora.b.pointer, ldb: r,
                  beta: 1, c: y, ldc: outDim)
        return xa
    }

    /// Backward of `forward`; every output accumulates (`+=`), nil outputs are skipped.
    /// dW `[out, in]` += dyᵀ x; db `[out]` += Σ dy; dB `[out, r]` += s·dyᵀ xa; dA `[r, in]` += (s·dy B)ᵀ x;
    /// dx `[N, in]` += dy W + (s·dy B) A.
    static func backward(dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
                         dA: UnsafeMutablePointer<Float>?, dB: UnsafeMutablePointer<Float>?, dx: UnsafeMutablePointer<Float>?,
                         dy: UnsafePointer<Float>, x: UnsafePointer<Float>, xa: Tensor?, weight: Tensor, lora: LoRA?, n: Int) {
        let outDim = weight.shape[0], inDim = weight.shape[1]
        if let dWeight {
            BLAS.gemm(transA: true, m: outDim, n: inDim, k: n, a: dy, lda: outDim, b: x, ldb: inDim, beta: 1, c: dWeight, ldc: inDim)
        }
        if let dBias {
            for r in 0..<n { let row = dy + r * outDim; for j in 0..<outDim { dBias[j] += row[j] } }
        }
        if let dx {
            BLAS.gemm(m: n, n: inDim, k: outDim, a: dy, lda: outDim, b: weight.pointer, ldb: inDim, beta: 1, c: dx, ldc: inDim)
        }
        guard let lora, let xa else { return }
        let r = lora.rank
        if let dB {
            BLAS.gemm(transA: true, m: outDim, n: r, k: n, alpha: lora.scale, a: dy, lda: outDim, b: xa.pointer, ldb: r,
                      beta: 1, c: dB, ldc: r)
        }
        guard dA != nil || dx != nil else { return }
        // dxa [N, r] = s · dy [N, out] · B [out, r]
        let dxa = Tensor(uninitialized: [n, r])
        BLAS.gemm(m: n, n: r, k: outDim, alpha: lora.scale, a: dy, lda: outDim, b: lora.b.pointer, ldb: r, c: dxa.mutablePointer, ldc: r)
        if let dA {
            BLAS.gemm(transA: true, m: r, n: inDim, k: n, a: dxa.pointer, lda: r, b: x, ldb: inDim, beta: 1, c: dA, ldc: inDim)
        }
        if let dx {
            BLAS.gemm(m: n, n: inDim, k: r, a: dxa.pointer, lda: r, b: lora.a.pointer, ldb: inDim, beta: 1, c: dx, ldc: inDim)
        }
    }

    @inline(__always)
    static func addBias(_ y: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows { let row = y + r * cols; for j in 0..<cols { row[j] += b[j] } }
    }
}
