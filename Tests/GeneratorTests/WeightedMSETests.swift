import DNDTestSupport
import Generator
import TensorCore
import XCTest

final class WeightedMSETests: XCTestCase {
    func testLossIsWeightedMeanAndGradientMatchesFiniteDifferences() {
        var rng = SeededRNG(seed: 41)
        let y = Tensor.randomNormal([2, 3, 2, 4], rng: &rng), t = Tensor.randomNormal([2, 3, 2, 4], rng: &rng)
        let w = Tensor(shape: [3], data: [0.5, 2, 0])
        var expected = 0.0
        for b in 0..<2 { for n in 0..<3 { for i in 0..<2 { for j in 0..<4 {
            let d = Double(y[b, n, i, j] - t[b, n, i, j]); expected += Double(w[flat: n]) * d * d
        } } } }
        expected /= 48
        XCTAssertEqual(Double(WeightedMSE.forward(y, target: t, weights: w)), expected, accuracy: 1e-6)
        let g = WeightedMSE.backward(y, target: t, weights: w)
        let n = TestSupport.numericGradient(y, h: 1e-2) { Double(WeightedMSE.forward($0, target: t, weights: w)) }
        XCTAssertLessThan(TestSupport.relativeError(g, n), 1e-3)
        XCTAssertEqual(g[0, 2, 1, 3], 0)                             // weight 0: no gradient
    }
}
