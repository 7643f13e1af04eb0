import TensorCore
import XCTest

final class OptimTests: XCTestCase {
    func testSeededRNGIsReproducibleAndWellDistributed() {
        var a = SeededRNG(seed: 42), b = SeededRNG(seed: 42), c = SeededRNG(seed: 43)
        let xa = (0..<5).map { _ in a.next() }, xb = (0..<5).map { _ in b.next() }, xc = (0..<5).map { _ in c.next() }
        XCTAssertEqual(xa, xb)
        XCTAssertNotEqual(xa, xc)
        var r = SeededRNG(seed: 1)
        let n = Tensor.randomNormal([20000], rng: &r)
        XCTAssertEqual(n.mean(), 0, accuracy: 0.03)
        XCTAssertEqual(n.sumOfSquares() / 20000, 1, accuracy: 0.05)
        let u = Tensor.randomUniform([20000], 0, 1, rng: &r)
        XCTAssertEqual(u.mean(), 0.5, accuracy: 0.01)
        XCTAssertGreaterThanOrEqual(u.minValue(), 0)
        XCTAssertLessThan(u.maxValue(), 1)
        let s = r.sample(5, from: 10)
        XCTAssertEqual(Set(s).count, 5)
    }

    func testAdamWMinimisesAQuadratic() {
        var params = ["w": Tensor(shape: [3], data: [5, -3, 2])]
        let target = Tensor(shape: [3], data: [1, 2, 3])
        var opt = AdamW(weightDecay: 0)
        let schedule = LRSchedule(peak: 0.1, warmupSteps: 10, totalSteps: 500)
        for step in 0..<500 {
            let g = (params["w"]! - target) * 2
            opt.update(&params, grads: ["w": g], lr: schedule.rate(at: step))
        }
        XCTAssertLessThan(params["w"]!.maxAbsDifference(target), 1e-2)
    }

    func testScheduleWarmsUpThenDecays() {
        let s = LRSchedule(peak: 1, warmupSteps: 4, totalSteps: 104, minFactor: 0.1)
        XCTAssertEqual(s.rate(at: 0), 0.25, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 3), 1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(at: 54), 0.55, accuracy: 1e-3)
        XCTAssertEqual(s.rate(at: 104), 0.1, accuracy: 1e-6)
    }

    func testClippingBoundsGlobalNorm() {
        var g = ["a": Tensor(shape: [2], data: [3, 0]), "b": Tensor(shape: [1], data: [4])]
        let before = AdamW.clip(&g, maxNorm: 1)
        XCTAssertEqual(before, 5, accuracy: 1e-6)
        XCTAssertEqual(AdamW.globalNorm(g), 1, accuracy: 1e-6)
    }
}
