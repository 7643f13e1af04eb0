import DNDTestSupport
import TensorCore
import XCTest

/// Finite-difference checks for every differentiable op of the numeric core.
final class LayersTests: XCTestCase {
    var rng = SeededRNG(seed: 31)

    func check(_ analytic: Tensor, _ numeric: Tensor, _ label: String, tol: Float = 2e-3) {
        let e = TestSupport.relativeError(analytic, numeric)
        XCTAssertLessThan(e, tol, "\(label): relative error \(e)")
    }

    func testLayerNormForwardAndGradients() {
        let n = 6
        let x = Tensor.randomNormal([3, n], rng: &rng)
        let w = Tensor.randomNormal([n], mean: 1, std: 0.3, rng: &rng)
        let b = Tensor.randomNormal([n], rng: &rng)
        let probe = Tensor.randomNormal([3, n], rng: &rng)
        let (y, cache) = LayerNorm.forward(x, weight: w, bias: b, n: n, eps: 1e-5)
        // Normalised rows have mean 0 and variance 1 before the affine map.
        let (y0, _) = LayerNorm.forward(x, weight: Tensor(shape: [n], repeating: 1), bias: Tensor(zeros: [n]), n: n, eps: 1e-5)
        XCTAssertEqual(y0.row(0).mean(), 0, accuracy: 1e-5)
        XCTAssertEqual(y0.row(0).sumOfSquares() / Float(n), 1, accuracy: 1e-3)
        var dw = Tensor(zeros: [n]), db = Tensor(zeros: [n])
        let dx = LayerNorm.backward(dWeight: &dw, dBias: &db, dy: probe, x: x, weight: w, cache: cache, n: n)
        XCTAssertEqual(y.shape, x.shape)
        check(dx, TestSupport.numericGradient(x) { TestSupport.dot(LayerNorm.forward($0, weight: w, bias: b, n: n, eps: 1e-5).0, probe) }, "dx")
        check(dw, TestSupport.numericGradient(w) { TestSupport.dot(LayerNorm.forward(x, weight: $0, bias: b, n: n, eps: 1e-5).0, probe) }, "dw")
        check(db, TestSupport.numericGradient(b) { TestSupport.dot(LayerNorm.forward(x, weight: w, bias: $0, n: n, eps: 1e-5).0, probe) }, "db")
    }

    func testRMSNormGradients() {
        let n = 5
        let x = Tensor.randomNormal([4, n], rng: &rng)
        let w = Tensor.randomNormal([n], mean: 1, std: 0.3, rng: &rng)
        let probe = Tensor.randomNormal([4, n], rng: &rng)
        let (_, rstd) = RMSNorm.forward(x, weight: w, n: n, eps: 1e-6)
        var dw = Tensor(zeros: [n])
        let dx = dw.withUnsafeMutableBufferPointer { RMSNorm.backward(dWeight: $0.baseAddress, dy: probe, x: x, weight: w, rstd: rstd, n: n) }
        check(dx, TestSupport.numericGradient(x) { TestSupport.dot(RMSNorm.forward($0, weight: w, n: n, eps: 1e-6).0, probe) }, "dx")
        check(dw, TestSupport.numericGradient(w) { TestSupport.dot(RMSNorm.forward(x, weight: $0, n: n, eps: 1e-6).0, probe) }, "dw")
    }

    func testSoftmaxRowsSumToOneAndGradient() {
        let x = Tensor.randomNormal([3, 7], std: 3, rng: &rng)
        let y = Softmax.forward(x, n: 7)
        for r in 0..<3 { XCTAssertEqual(y.row(r).sum(), 1, accuracy: 1e-5) }
        let probe = Tensor.randomNormal([3, 7], rng: &rng)
        check(Softmax.backward(dy: probe, y: y, n: 7),
              TestSupport.numericGradient(x, h: 1e-2) { TestSupport.dot(Softmax.forward($0, n: 7), probe) }, "softmax")
    }

    func testGELUValuesAndGradient() {
        // erf form, as BERT uses: gelu(1) = 0.8413447, gelu(-1) = -0.1586553
        let v = GELU.forward(Tensor(shape: [2], data: [1, -1]))
        XCTAssertEqual(v[flat: 0], 0.8413447, accuracy: 1e-6)
        XCTAssertEqual(v[flat: 1], -0.1586553, accuracy: 1e-6)
        let x = Tensor.randomNormal([10], std: 2, rng: &rng)
        let probe = Tensor.randomNormal([10], rng: &rng)
        check(GELU.backward(dy: probe, x: x), TestSupport.numericGradient(x) { TestSupport.dot(GELU.forward($0), probe) }, "gelu")
    }

    func testPermuteMatchesIndexDefinition() {
        let x = Tensor.randomNormal([2, 3, 4, 5], rng: &rng)
        let p = x.permuted([0, 3, 1, 2])
        XCTAssertEqual(p.shape, [2, 5, 3, 4])
        for a in 0..<2 { for b in 0..<3 { for c in 0..<4 { for d in 0..<5 {
            XCTAssertEqual(p[a, d, b, c], x[a, b, c, d])
        } } } }
        XCTAssertEqual(p.permuted([0, 2, 3, 1]), x)
    }

    func testReductionsAndElementwise() {
        let a = Tensor(shape: [2, 3], data: [1, -2, 3, 4, 5, -6])
        XCTAssertEqual(a.sum(), 5)
        XCTAssertEqual(a.maxValue(), 5)
        XCTAssertEqual(a.minValue(), -6)
        XCTAssertEqual(a.maxAbs(), 6)
        XCTAssertEqual(a.sumRows().array, [5, 3, -3])
        XCTAssertEqual((a + a).array, [2, -4, 6, 8, 10, -12])
        XCTAssertEqual((a * a).sum(), 91)
        var c = a
        c.addRowVector(Tensor(shape: [3], data: [1, 1, 1]))
        XCTAssertEqual(c.array, [2, -1, 4, 5, 6, -5])
        XCTAssertEqual(a.array, [1, -2, 3, 4, 5, -6], "copy-on-write keeps the original")
    }
}
