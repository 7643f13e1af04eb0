import Foundation
import TensorCore
@testable import TextEncoder
import XCTest

/// Each vectorized kernel against its plain twin (Foundation's exp/erf, TensorCore's LayerNorm/Softmax/GELU).
final class EncoderKernelsTests: XCTestCase {
    func testExpMatchesFoundationAcrossRange() {
        var worst: Float = 0
        var x: Float = -80
        while x <= 80 {
            let r = Foundation.exp(Double(x))
            worst = max(worst, Float(abs(Double(EncoderKernels.exp(x)) - r) / r))
            x += 0.01357
        }
        print("EncoderKernels.exp: max relative error \(worst) on [-80, 80]")
        XCTAssertLessThan(worst, 5e-7)
        XCTAssertEqual(EncoderKernels.exp(0), 1)
        XCTAssertLessThan(EncoderKernels.exp(-1000), 1e-37, "clamped, not NaN or negative")
        XCTAssertGreaterThanOrEqual(EncoderKernels.exp(-1000), 0)
        XCTAssertTrue(EncoderKernels.exp(1000).isFinite)
    }

    func testErfMatchesFoundation() {
        var worst: Float = 0
        var x: Float = -6
        while x <= 6 {
            worst = max(worst, abs(EncoderKernels.erf(x) - Foundation.erff(x)))
            x += 0.001
        }
        print("EncoderKernels.erf: max abs error \(worst) on [-6, 6]")
        XCTAssertLessThan(worst, 6e-7)
    }

    func testGELUMatchesPlainTwin() {
        var rng = SeededRNG(seed: 5)
        let x = Tensor.randomNormal([1001], std: 4, rng: &rng)
        var fast = x
        fast.withUnsafeMutableBufferPointer { EncoderKernels.geluInPlace($0.baseAddress!, count: $0.count) }
        let d = fast.maxAbsDifference(GELU.forward(x))
        print("EncoderKernels.geluInPlace vs GELU.forward: max abs diff \(d)")
        XCTAssertLessThan(d, 2e-6)
    }

    func testLayerNormMatchesPlainTwin() {
        var rng = SeededRNG(seed: 6)
        for n in [384, 13, 16, 33] {
            let x = Tensor.randomNormal([7, n], std: 3, rng: &rng)
            let w = Tensor.randomNormal([n], rng: &rng), b = Tensor.randomNormal([n], rng: &rng)
            var fast = x
            fast.withUnsafeMutableBufferPointer {
                EncoderKernels.layerNormInPlace($0.baseAddress!, rows: 7, n: n, weight: w.pointer, bias: b.pointer, eps: 1e-12)
            }
            let (ref, _) = LayerNorm.forward(x, weight: w, bias: b, n: n, eps: 1e-12)
            let d = fast.maxAbsDifference(ref)
            print("EncoderKernels.layerNormInPlace n=\(n): max abs diff \(d)")
            XCTAssertLessThan(d, 1e-5, "n = \(n)")
        }
    }

    func testSoftmaxMatchesPlainTwinWithLeadingDimension() {
        var rng = SeededRNG(seed: 7)
        for n in [1, 7, 16, 64, 130] {
            let ld = n + 3
            let x = Tensor.randomNormal([5, ld], std: 5, rng: &rng)
            var fast = x
            fast.withUnsafeMutableBufferPointer { EncoderKernels.softmaxInPlace($0.baseAddress!, rows: 5, n: n, ld: ld) }
            var worst: Float = 0
            for r in 0..<5 {
                var row = (0..<n).map { x[r, $0] }
                row.withUnsafeMutableBufferPointer { Softmax.forwardInPlace($0.baseAddress!, rows: 1, n: n) }
                for j in 0..<n { worst = max(worst, abs(fast[r, j] - row[j])) }
                for j in n..<ld { XCTAssertEqual(fast[r, j], x[r, j], "padding columns are left alone") }
            }
            print("EncoderKernels.softmaxInPlace n=\(n): max abs diff \(worst)")
            XCTAssertLessThan(worst, 1e-6, "n = \(n)")
        }
    }

    func testReductionsHandleTails() {
        for n in [1, 3, 15, 16, 17, 40] {
            let v = (0..<n).map { Float(($0 * 37) % 11) - 4.5 }
            v.withUnsafeBufferPointer { p in
                XCTAssertEqual(EncoderKernels.sum(p.baseAddress!, n), v.reduce(0, +), accuracy: 1e-4, "n = \(n)")
                XCTAssertEqual(EncoderKernels.max(p.baseAddress!, n), v.max()!, "n = \(n)")
                let m = v.reduce(0, +) / Float(n)
                XCTAssertEqual(EncoderKernels.sumOfSquaredDeviations(p.baseAddress!, n, mean: m),
                               v.reduce(0) { $0 + ($1 - m) * ($1 - m) }, accuracy: 1e-3, "n = \(n)")
            }
        }
    }
}
