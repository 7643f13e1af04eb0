import CBLAS
import Foundation

/// The one door to OpenBLAS: every matrix product in dnd goes through `BLAS.gemm`.
public enum BLAS {
    /// Number of threads OpenBLAS uses (defaults to the machine's cores). Library code never sets it: a command
    /// picks it once with `setThreads(_:)`, and kernels that spread work over the cores themselves run inside
    /// `singleThreaded`.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    private static let regionLock = NSLock()
    nonisolated(unsafe) private static var regionDepth = 0
    nonisolated(unsafe) private static var configured = 0

    /// Sets the thread count for the process (a command's `--threads`, a benchmark). Inside a single-threaded region
    /// the new count takes effect when the last region ends.
    public static func setThreads(_ n: Int) {
        regionLock.lock(); defer { regionLock.unlock() }
        configured = max(1, n)
        if regionDepth == 0 { openblas_set_num_threads(Int32(configured)) }
    }

    /// Runs `body` with OpenBLAS on one thread, so that the caller can spread independent GEMMs over the cores
    /// itself (OpenBLAS's own workers would otherwise spin against the caller's threads). OpenBLAS has one
    /// process-wide thread count, so every such region in the process (the encoder's, the LLM's, from any thread)
    /// shares this one counter: the first to enter switches to one thread, the last to leave restores the count.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        regionLock.lock()
        if regionDepth == 0 {
            if configured == 0 { configured = Int(openblas_get_num_threads()) }
            openblas_set_num_threads(1)
        }
        regionDepth += 1
        regionLock.unlock()
        defer {
            regionLock.lock()
            regionDepth -= 1
            if regionDepth == 0 { openblas_set_num_threads(Int32(configured)) }
            regionLock.unlock()
        }
        return try body()
    }

    /// Row-major `C = alpha · op(A) · op(B) + beta · C` with `op(A)` `[m, k]`, `op(B)` `[k, n]`, `C` `[m, n]`.
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C untouched on k == 0 only when beta == 1; make beta's meaning explicit.
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            else if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Plain-loop twin of `gemm`, for tests.
    public static func referenceGemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var s: Double = 0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(av) * Double(bv)
                }
                c[i * ldc + j] = alpha * Float(s) + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
    }

    /// `y += alpha · x` over `n` floats.
    @inline(__always)
    public static func axpy(n: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(n), alpha, x, 1, y, 1)
    }

    @inline(__always)
    public static func dot(n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(Int32(n), x, 1, y, 1)
    }
}

extension Tensor {
    /// Matrix product `op(self) · op(other)` for rank-2 operands, or batched over the first axis for rank-3
    /// ones (a rank-2 operand is broadcast across the batch).
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false) -> Tensor {
        let a = self, b = other
        precondition((a.rank == 2 || a.rank == 3) && (b.rank == 2 || b.rank == 3), "matmul of \(a.shape) and \(b.shape)")
        let batch = max(a.rank == 3 ? a.shape[0] : 1, b.rank == 3 ? b.shape[0] : 1)
        if a.rank == 3 { precondition(a.shape[0] == batch, "matmul batch mismatch \(a.shape) \(b.shape)") }
        if b.rank == 3 { precondition(b.shape[0] == batch, "matmul batch mismatch \(a.shape) \(b.shape)") }
        let ar = a.shape[a.rank - 2], ac = a.shape[a.rank - 1]
        let br = b.shape[b.rank - 2], bc = b.shape[b.rank - 1]
        let (m, k) = transposeSelf ? (ac, ar) : (ar, ac)
        let (k2, n) = transposeOther ? (bc, br) : (br, bc)
        precondition(k == k2, "matmul inner dimensions differ: \(a.shape)\(transposeSelf ? "ᵀ" : "") · \(b.shape)\(transposeOther ? "ᵀ" : "")")
        let outShape = (a.rank == 3 || b.rank == 3) ? [batch, m, n] : [m, n]
        var out = Tensor(zeros: outShape)
        let aStep = a.rank == 3 ? ar * ac : 0, bStep = b.rank == 3 ? br * bc : 0
        let cp = out.storage.pointer
        for i in 0..<batch {
            BLAS.gemm(transA: transposeSelf, transB: transposeOther, m: m, n: n, k: k,
                      a: a.pointer + i * aStep, lda: ac, b: b.pointer + i * bStep, ldb: bc,
                      c: cp + i * m * n, ldc: n)
        }
        return out
    }
}
