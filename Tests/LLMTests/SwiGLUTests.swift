import DNDTestSupport
@testable import LLM
import TensorCore
import XCTest

/// The SiLU-gated MLP's elementwise core against finite differences.
final class SwiGLUTests: XCTestCase {
    func testSwiGLUForwardAndGradients() {
        var rng = SeededRNG(seed: 31)
        let n = 10
        let g = Tensor.randomNormal([n], std: 2, rng: &rng), u = Tensor.randomNormal([n], rng: &rng)
        let probe = Tensor.randomNormal([n], rng: &rng)
        XCTAssertEqual(SwiGLU.silu(1), 0.7310586, accuracy: 1e-6)
        func forward(_ g: Tensor, _ u: Tensor) -> Tensor {
            var h = Tensor(zeros: [n])
            h.withUnsafeMutableBufferPointer { SwiGLU.forward(h: $0.baseAddress!, g: g.pointer, u: u.pointer, count: n) }
            return h
        }
        var dg = Tensor(zeros: [n]), du = Tensor(zeros: [n])
        dg.withUnsafeMutableBufferPointer { dgp in
            du.withUnsafeMutableBufferPointer { dup in
                SwiGLU.backward(dg: dgp.baseAddress!, du: dup.baseAddress!, dh: probe.pointer, g: g.pointer, u: u.pointer, count: n)
            }
        }
        let numericG = TestSupport.numericGradient(g) { TestSupport.dot(forward($0, u), probe) }
        let numericU = TestSupport.numericGradient(u) { TestSupport.dot(forward(g, $0), probe) }
        XCTAssertLessThan(TestSupport.relativeError(dg, numericG), 2e-3)
        XCTAssertLessThan(TestSupport.relativeError(du, numericU), 2e-3)
    }
}
