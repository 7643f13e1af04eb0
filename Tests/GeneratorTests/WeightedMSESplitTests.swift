import DNDTestSupport
import Generator
import TensorCore
import XCTest

/// The loss split of `dnd train`'s summary: normalized chunk values vs the mean/std border.
final class WeightedMSESplitTests: XCTestCase {
    /// Tokens [1, 2, 3, 4] (r = 1, cw = 2): an error of 1 in one value element of token 0 and of 2 in one border element
    /// of token 1, with weights 3 and 0.5.
    func testHandComputedParts() {
        let target = Tensor(zeros: [1, 2, 3, 4])
        var y = Tensor(zeros: [1, 2, 3, 4])
        y[flat: 0 * 12 + 0 * 4 + 1] = 1        // token 0, row 0, column 1: a value
        y[flat: 1 * 12 + 2 * 4 + 0] = 2        // token 1, row 2 (a border row)
        let w = Tensor(shape: [2], data: [3, 0.5])
        let (values, scale) = WeightedMSE.split(y, target: target, weights: w)
        XCTAssertEqual(values, 3 * 1 / Float(2 * 1 * 2), accuracy: 1e-7)    // 2 tokens × r·cw = 2 value elements each
        XCTAssertEqual(scale, 0.5 * 4 / Float(2 * 10), accuracy: 1e-7)      // 12 − 2 border elements each
    }

    /// The parts, weighted by their element counts, give the total loss.
    func testPartsAverageToTheTotal() {
        var rng = SeededRNG(seed: 5)
        let y = Tensor.randomNormal([3, 5, 10, 18], rng: &rng), t = Tensor.randomNormal([3, 5, 10, 18], rng: &rng)
        let w = Tensor.randomNormal([5], rng: &rng).map { abs($0) }
        let (values, scale) = WeightedMSE.split(y, target: t, weights: w)
        let total = WeightedMSE.forward(y, target: t, weights: w)
        XCTAssertEqual((values * Float(8 * 16) + scale * Float(180 - 128)) / 180, total, accuracy: 1e-5 * total)
        XCTAssertGreaterThan(values, 0); XCTAssertGreaterThan(scale, 0)
    }
}
