import DNDTestSupport
import Generator
import TensorCore
import XCTest

final class AxisConvTests: XCTestCase {
    let cases: [(g: Int, n: Int, c: Int, s: Int, o: Int, k: Int)] = [
        (2, 3, 4, 5, 3, 3), (1, 4, 2, 6, 5, 5), (3, 2, 3, 1, 2, 1), (2, 1, 5, 3, 4, 7), (1, 5, 1, 2, 3, 3),
    ]

    func testForwardMatchesDirectLoops() {
        var rng = SeededRNG(seed: 31)
        for t in cases {
            let w = Tensor.randomNormal([t.o, t.c, t.k, t.k], rng: &rng)
            let xl = Tensor.randomNormal([t.g, t.n, t.s, t.c], rng: &rng)
            let xm = Tensor.randomNormal([t.g, t.n, t.c, t.s], rng: &rng)
            XCTAssertLessThan(AxisConv.lastForward(xl, weight: w).maxAbsDifference(AxisConv.referenceLast(xl, weight: w)), 1e-4, "\(t)")
            XCTAssertLessThan(AxisConv.middleForward(xm, weight: w).maxAbsDifference(AxisConv.referenceMiddle(xm, weight: w)), 1e-4, "\(t)")
        }
    }

    /// The last-axis conv is Conv2D on the input permuted to [G, C, N, S]; the middle-axis one on [G, C, N, S] too.
    func testEqualsConv2DOnPermutedInput() {
        var rng = SeededRNG(seed: 32)
        let w = Tensor.randomNormal([4, 3, 3, 3], rng: &rng)
        let xl = Tensor.randomNormal([2, 5, 6, 3], rng: &rng)
        let viaConv = Conv2D.forward(input: xl.permuted([0, 3, 1, 2]), weight: w).permuted([0, 2, 3, 1])
        XCTAssertLessThan(AxisConv.lastForward(xl, weight: w).maxAbsDifference(viaConv), 1e-5)
        let xm = Tensor.randomNormal([2, 5, 3, 6], rng: &rng)
        let viaConv2 = Conv2D.forward(input: xm.permuted([0, 2, 1, 3]), weight: w).permuted([0, 2, 1, 3])
        XCTAssertLessThan(AxisConv.middleForward(xm, weight: w).maxAbsDifference(viaConv2), 1e-5)
    }

    func testChunkingDoesNotChangeResults() {
        var rng = SeededRNG(seed: 33)
        let w = Tensor.randomNormal([3, 4, 3, 3], rng: &rng)
        let xl = Tensor.randomNormal([3, 4, 5, 4], rng: &rng), xm = Tensor.randomNormal([3, 4, 4, 5], rng: &rng)
        let dyl = Tensor.randomNormal([3, 4, 5, 3], rng: &rng), dym = Tensor.randomNormal([3, 4, 3, 5], rng: &rng)
        func run() -> [Tensor] {
            var gl = Tensor(zeros: w.shape), gm = Tensor(zeros: w.shape)
            let dxl = AxisConv.lastBackward(dWeight: &gl, dy: dyl, x: xl, weight: w)
            let dxm = AxisConv.middleBackward(dWeight: &gm, dy: dym, x: xm, weight: w)
            return [AxisConv.lastForward(xl, weight: w), AxisConv.middleForward(xm, weight: w), dxl, dxm, gl, gm]
        }
        let saved = AxisConv.maxColumnFloats
        defer { AxisConv.maxColumnFloats = saved }
        let all = run()
        // One unfolded slice is S·k·C = 60 floats for both kinds here: 1 float → single slices with their halo;
        // 300 → 3-slice pieces of an item plus halo; 480 → two whole items per chunk, the last chunk one item.
        for budget in [1, 300, 480] {
            AxisConv.maxColumnFloats = budget
            for (i, (a, b)) in zip(run(), all).enumerated() { XCTAssertLessThan(a.maxAbsDifference(b), 1e-5, "budget \(budget), output \(i)") }
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = SeededRNG(seed: 34)
        for t in cases.prefix(4) {
            let w = Tensor.randomNormal([t.o, t.c, t.k, t.k], rng: &rng)
            let xl = Tensor.randomNormal([t.g, t.n, t.s, t.c], rng: &rng), pl = Tensor.randomNormal([t.g, t.n, t.s, t.o], rng: &rng)
            var gwl = Tensor.randomNormal(w.shape, rng: &rng)
            let start = gwl
            let dxl = AxisConv.lastBackward(dWeight: &gwl, dy: pl, x: xl, weight: w)
            let nxl = TestSupport.numericGradient(xl) { TestSupport.dot(AxisConv.lastForward($0, weight: w), pl) }
            let nwl = TestSupport.numericGradient(w) { TestSupport.dot(AxisConv.lastForward(xl, weight: $0), pl) }
            XCTAssertLessThan(TestSupport.relativeError(dxl, nxl), 1e-3, "last dx \(t)")
            XCTAssertLessThan(TestSupport.relativeError(gwl - start, nwl), 1e-3, "last dW accumulates \(t)")

            let xm = Tensor.randomNormal([t.g, t.n, t.c, t.s], rng: &rng), pm = Tensor.randomNormal([t.g, t.n, t.o, t.s], rng: &rng)
            var gwm = Tensor(zeros: w.shape)
            let dxm = AxisConv.middleBackward(dWeight: &gwm, dy: pm, x: xm, weight: w)
            let nxm = TestSupport.numericGradient(xm) { TestSupport.dot(AxisConv.middleForward($0, weight: w), pm) }
            let nwm = TestSupport.numericGradient(w) { TestSupport.dot(AxisConv.middleForward(xm, weight: $0), pm) }
            XCTAssertLessThan(TestSupport.relativeError(dxm, nxm), 1e-3, "middle dx \(t)")
            XCTAssertLessThan(TestSupport.relativeError(gwm, nwm), 1e-3, "middle dW \(t)")
        }
    }
}
