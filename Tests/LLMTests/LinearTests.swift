import DNDTestSupport
import Foundation
@testable import LLM
import TensorCore
import XCTest

/// The frozen linear layer with an unmerged LoRA: forward against `x Wᵀ + b + s (x Aᵀ) Bᵀ`, backward against
/// finite differences.
final class LinearTests: XCTestCase {
    var rng = SeededRNG(seed: 8)

    func forward(_ x: Tensor, _ w: Tensor, _ b: Tensor, _ lora: Linear.LoRA) -> Tensor {
        let y = Tensor(zeros: [x.shape[0], w.shape[0]])
        _ = Linear.forward(y: y.mutablePointer, accumulate: false, x: x.pointer, n: x.shape[0], weight: w, bias: b, lora: lora)
        return y
    }

    func testForwardAndGradients() {
        let (n, i, o, r) = (5, 7, 6, 3)
        let x = Tensor.randomNormal([n, i], rng: &rng), w = Tensor.randomNormal([o, i], rng: &rng), b = Tensor.randomNormal([o], rng: &rng)
        let a = Tensor.randomNormal([r, i], rng: &rng), bb = Tensor.randomNormal([o, r], rng: &rng)
        let lora = Linear.LoRA(a: a, b: bb, scale: 1.5)
        var want = x.matmul(w, transposeOther: true) + x.matmul(a, transposeOther: true).matmul(bb, transposeOther: true) * 1.5
        want.addRowVector(b)
        XCTAssertLessThan(forward(x, w, b, lora).maxAbsDifference(want), 1e-5)
        // accumulate adds onto what y holds (the residual stream)
        let y = Tensor(shape: [n, o], repeating: 2)
        _ = Linear.forward(y: y.mutablePointer, accumulate: true, x: x.pointer, n: n, weight: w, bias: b, lora: lora)
        XCTAssertLessThan(y.maxAbsDifference(want + Tensor(shape: [n, o], repeating: 2)), 1e-5)

        let probe = Tensor.randomNormal([n, o], rng: &rng)
        let xa = x.matmul(a, transposeOther: true)
        let dw = Tensor(zeros: w.shape), db = Tensor(zeros: [o]), da = Tensor(zeros: a.shape), dB = Tensor(zeros: bb.shape), dx = Tensor(zeros: x.shape)
        Linear.backward(dWeight: dw.mutablePointer, dBias: db.mutablePointer, dA: da.mutablePointer, dB: dB.mutablePointer, dx: dx.mutablePointer,
                        dy: probe.pointer, x: x.pointer, xa: xa, weight: w, lora: lora, n: n)
        let checks: [(Tensor, Tensor, String)] = [
            (dx, TestSupport.numericGradient(x) { TestSupport.dot(forward($0, w, b, lora), probe) }, "dx"),
            (dw, TestSupport.numericGradient(w) { TestSupport.dot(forward(x, $0, b, lora), probe) }, "dW"),
            (db, TestSupport.numericGradient(b) { TestSupport.dot(forward(x, w, $0, lora), probe) }, "db"),
            (da, TestSupport.numericGradient(a) { TestSupport.dot(forward(x, w, b, Linear.LoRA(a: $0, b: bb, scale: 1.5)), probe) }, "dA"),
            (dB, TestSupport.numericGradient(bb) { TestSupport.dot(forward(x, w, b, Linear.LoRA(a: a, b: $0, scale: 1.5)), probe) }, "dB"),
        ]
        for (g, num, name) in checks { XCTAssertLessThan(TestSupport.relativeError(g, num), 2e-3, name) }
    }
}
