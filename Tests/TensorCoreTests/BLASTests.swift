import DNDTestSupport
import TensorCore
import XCTest

final class BLASTests: XCTestCase {
    func testGemmMatchesReferenceForAllTransposes() {
        var rng = SeededRNG(seed: 11)
        for (tA, tB) in [(false, false), (true, false), (false, true), (true, true)] {
            let (m, n, k) = (7, 5, 9)
            let a = Tensor.randomNormal(tA ? [k, m] : [m, k], rng: &rng)
            let b = Tensor.randomNormal(tB ? [n, k] : [k, n], rng: &rng)
            let c = a.matmul(b, transposeSelf: tA, transposeOther: tB)
            var ref = Tensor(zeros: [m, n])
            ref.withUnsafeMutableBufferPointer { r in
                BLAS.referenceGemm(transA: tA, transB: tB, m: m, n: n, k: k, a: a.pointer, lda: a.shape[1],
                                   b: b.pointer, ldb: b.shape[1], c: r.baseAddress!, ldc: n)
            }
            XCTAssertEqual(c.shape, [m, n])
            XCTAssertLessThan(c.maxAbsDifference(ref), 1e-4, "transA \(tA) transB \(tB)")
        }
    }

    func testBatchedMatmulWithBroadcastOperand() {
        var rng = SeededRNG(seed: 12)
        let a = Tensor.randomNormal([3, 4, 6], rng: &rng)
        let w = Tensor.randomNormal([5, 6], rng: &rng)
        let y = a.matmul(w, transposeOther: true)
        XCTAssertEqual(y.shape, [3, 4, 5])
        for b in 0..<3 {
            let yb = a.row(b).matmul(w.transposed)
            XCTAssertLessThan(y.row(b).maxAbsDifference(yb), 1e-5)
        }
    }

    func testGemmWithEmptyInnerDimensionHonoursBeta() {
        var c: [Float] = [1, 2, 3, 4]
        let a: [Float] = [], b: [Float] = []
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            BLAS.gemm(m: 2, n: 2, k: 0, a: ap.baseAddress ?? UnsafePointer(bitPattern: 8)!, lda: 1,
                      b: bp.baseAddress ?? UnsafePointer(bitPattern: 8)!, ldb: 2, beta: 0, c: cp.baseAddress!, ldc: 2)
        } } }
        XCTAssertEqual(c, [0, 0, 0, 0])
    }
}
