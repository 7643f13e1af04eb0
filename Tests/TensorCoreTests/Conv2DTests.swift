import DNDTestSupport
import TensorCore
import XCTest

final class Conv2DTests: XCTestCase {
    func testForwardMatchesDirectLoopForOddKernelsAndShapes() {
        var rng = SeededRNG(seed: 21)
        for (b, c, o, s1, s2, k) in [(2, 3, 4, 5, 7, 3), (1, 2, 3, 6, 4, 5), (3, 1, 2, 3, 9, 1), (2, 4, 1, 2, 3, 7)] {
            let x = Tensor.randomNormal([b, c, s1, s2], rng: &rng)
            let w = Tensor.randomNormal([o, c, k, k], rng: &rng)
            let bias = Tensor.randomNormal([o], rng: &rng)
            let y = Conv2D.forward(input: x, weight: w, bias: bias)
            let ref = Conv2D.referenceForward(input: x, weight: w, bias: bias)
            XCTAssertEqual(y.shape, [b, o, s1, s2])
            XCTAssertLessThan(y.maxAbsDifference(ref), 1e-4, "shape \(b),\(c),\(o),\(s1),\(s2),k\(k)")
        }
    }

    func testForwardIsIndependentOfBatchGrouping() {
        var rng = SeededRNG(seed: 22)
        let x = Tensor.randomNormal([5, 3, 4, 6], rng: &rng)
        let w = Tensor.randomNormal([2, 3, 3, 3], rng: &rng)
        let saved = Conv2D.maxColumnFloats
        defer { Conv2D.maxColumnFloats = saved }
        Conv2D.maxColumnFloats = 1
        let one = Conv2D.forward(input: x, weight: w)
        Conv2D.maxColumnFloats = 1 << 20
        let all = Conv2D.forward(input: x, weight: w)
        XCTAssertLessThan(one.maxAbsDifference(all), 1e-5)
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = SeededRNG(seed: 23)
        for (b, c, o, s1, s2, k) in [(2, 2, 3, 4, 5, 3), (1, 3, 2, 3, 3, 5)] {
            let x = Tensor.randomNormal([b, c, s1, s2], rng: &rng)
            let w = Tensor.randomNormal([o, c, k, k], rng: &rng)
            let bias = Tensor.randomNormal([o], rng: &rng)
            let probe = Tensor.randomNormal([b, o, s1, s2], rng: &rng)
            var gw = Tensor(zeros: w.shape)
            var gb = [Float](repeating: 0, count: o)
            let gx = gb.withUnsafeMutableBufferPointer {
                Conv2D.backward(gradOutput: probe, input: x, weight: w, gradWeight: &gw, gradBias: $0.baseAddress)!
            }
            let nx = TestSupport.numericGradient(x) { TestSupport.dot(Conv2D.forward(input: $0, weight: w, bias: bias), probe) }
            let nw = TestSupport.numericGradient(w) { TestSupport.dot(Conv2D.forward(input: x, weight: $0, bias: bias), probe) }
            let nb = TestSupport.numericGradient(bias) { TestSupport.dot(Conv2D.forward(input: x, weight: w, bias: $0), probe) }
            XCTAssertLessThan(TestSupport.relativeError(gx, nx), 1e-3)
            XCTAssertLessThan(TestSupport.relativeError(gw, nw), 1e-3)
            XCTAssertLessThan(TestSupport.relativeError(Tensor(shape: [o], data: gb), nb), 1e-3)
        }
    }

    func testBackwardAccumulatesIntoWeightGradient() {
        var rng = SeededRNG(seed: 24)
        let x = Tensor.randomNormal([1, 2, 3, 3], rng: &rng)
        let w = Tensor.randomNormal([2, 2, 3, 3], rng: &rng)
        let g = Tensor.randomNormal([1, 2, 3, 3], rng: &rng)
        var once = Tensor(zeros: w.shape)
        Conv2D.backward(gradOutput: g, input: x, weight: w, gradWeight: &once, needInputGrad: false)
        var twice = once
        Conv2D.backward(gradOutput: g, input: x, weight: w, gradWeight: &twice, needInputGrad: false)
        XCTAssertLessThan(twice.maxAbsDifference(once * 2), 1e-5)
    }
}
