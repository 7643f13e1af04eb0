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

/// The process-wide OpenBLAS thread count under overlapping single-threaded regions (the encoder's and the LLM's
/// run on different threads in the daemon: a job's evaluation while a retraining encodes prompts).
final class BLASThreadRegionTests: XCTestCase {
    func testNestedRegionsRestoreTheThreadCount() {
        let before = BLAS.threads
        BLAS.singleThreaded {
            XCTAssertEqual(BLAS.threads, 1)
            BLAS.singleThreaded { XCTAssertEqual(BLAS.threads, 1) }
            XCTAssertEqual(BLAS.threads, 1, "an inner region does not restore early")
        }
        XCTAssertEqual(BLAS.threads, before)
    }

    /// A enters, B enters, A leaves, B leaves: with two save/restore counters (the old encoder and LLM copies) B
    /// restored A's "1" and left OpenBLAS single-threaded for good.
    func testInterleavedRegionsOnTwoThreadsRestoreTheThreadCount() {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        BLAS.setThreads(2)
        let before = BLAS.threads
        XCTAssertEqual(before, 2)
        let aEntered = DispatchSemaphore(value: 0), bEntered = DispatchSemaphore(value: 0)
        let aLeft = DispatchSemaphore(value: 0), done = DispatchGroup()
        done.enter()
        Thread.detachNewThread {
            BLAS.singleThreaded { aEntered.signal(); bEntered.wait() }
            aLeft.signal(); done.leave()
        }
        done.enter()
        Thread.detachNewThread {
            aEntered.wait()
            BLAS.singleThreaded {
                bEntered.signal(); aLeft.wait()
                XCTAssertEqual(BLAS.threads, 1, "B's region is still single-threaded after A left")
            }
            done.leave()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(BLAS.threads, before)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            BLAS.singleThreaded { XCTAssertEqual(BLAS.threads, 1); usleep(2000) }
        }
        XCTAssertEqual(BLAS.threads, before)
    }

    func testSetThreadsInsideARegionTakesEffectWhenItEnds() {
        let before = BLAS.threads
        BLAS.singleThreaded {
            BLAS.setThreads(1)
            XCTAssertEqual(BLAS.threads, 1)
        }
        XCTAssertEqual(BLAS.threads, 1)
        BLAS.setThreads(before)
        XCTAssertEqual(BLAS.threads, before)
    }
}
