import DNDTestSupport
import Foundation
@testable import LLM
import TensorCore
import XCTest

/// Rotary embeddings: the Hugging Face rotate-half layout, and a backward that undoes the rotation.
final class RotaryTests: XCTestCase {
    func testRotatesHalvesByPositionAngle() {
        let rope = Rotary(headDim: 4, theta: 100, positions: 3)
        // One head [a0, a1, b0, b1] at position 2: pair (a_i, b_i) rotates by 2 · 100^(−2i/4).
        let x = Tensor(shape: [1, 4], data: [1, 2, 3, 4])
        rope.forward(x.mutablePointer, rows: 1, heads: 1, positions: [2])
        for (i, (a, b)) in [(Float(1), Float(3)), (2, 4)].enumerated() {
            let ang = 2 * powf(100, -2 * Float(i) / 4)
            XCTAssertEqual(x[0, i], a * cosf(ang) - b * sinf(ang), accuracy: 1e-6)
            XCTAssertEqual(x[0, i + 2], b * cosf(ang) + a * sinf(ang), accuracy: 1e-6)
        }
    }

    func testBackwardIsTheTransposeOfForward() {
        var rng = SeededRNG(seed: 5)
        let rope = Rotary(headDim: 8, theta: 10000, positions: 20)
        let x = Tensor.randomNormal([3, 16], rng: &rng), g = Tensor.randomNormal([3, 16], rng: &rng)
        let pos: [Int32] = [0, 7, 19]
        var rx = x; rx.withUnsafeMutableBufferPointer { rope.forward($0.baseAddress!, rows: 3, heads: 2, positions: pos) }
        var bg = g; bg.withUnsafeMutableBufferPointer { rope.backward($0.baseAddress!, rows: 3, heads: 2, positions: pos) }
        // <R x, g> = <x, Rᵀ g>, and position 0 is the identity.
        XCTAssertEqual(TestSupport.dot(rx, g), TestSupport.dot(x, bg), accuracy: 1e-4)
        XCTAssertEqual(rx.row(0).maxAbsDifference(x.row(0)), 0)
        var back = rx; back.withUnsafeMutableBufferPointer { rope.backward($0.baseAddress!, rows: 3, heads: 2, positions: pos) }
        XCTAssertLessThan(back.maxAbsDifference(x), 1e-5)
    }
}
