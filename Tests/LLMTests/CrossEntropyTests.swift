import DNDTestSupport
import Foundation
@testable import LLM
import TensorCore
import XCTest

/// Softmax cross-entropy: loss against log-sum-exp in Double, gradient against finite differences.
final class CrossEntropyTests: XCTestCase {
    func loss(_ logits: Tensor, _ targets: [Int]) -> Double {
        var t = logits
        return t.withUnsafeMutableBufferPointer { CrossEntropy.forward($0.baseAddress!, targets: targets, vocab: logits.shape[1]) }
    }

    func testLossAndGradient() {
        var rng = SeededRNG(seed: 3)
        let logits = Tensor.randomNormal([3, 11], std: 4, rng: &rng)
        let targets = [0, 10, 4]
        var want = 0.0
        for (r, t) in targets.enumerated() {
            let row = (0..<11).map { Double(logits[r, $0]) }
            let mx = row.max()!
            want += mx + log(row.reduce(0) { $0 + exp($1 - mx) }) - row[t]
        }
        XCTAssertEqual(loss(logits, targets), want, accuracy: 1e-5)
        XCTAssertEqual(Double(CrossEntropy.logProbability(logits.pointer + 11, target: 10, vocab: 11)), -(want - loss(logits.slice(0..<1), [0]) - loss(logits.slice(2..<3), [4])), accuracy: 1e-5)
        var d = logits
        d.withUnsafeMutableBufferPointer { p in
            _ = CrossEntropy.forward(p.baseAddress!, targets: targets, vocab: 11)
            CrossEntropy.backward(p.baseAddress!, targets: targets, vocab: 11, scale: 1)
        }
        let numeric = TestSupport.numericGradient(logits, h: 1e-2) { loss($0, targets) }
        XCTAssertLessThan(TestSupport.relativeError(d, numeric), 1e-3)
        // Extreme logits stay finite.
        let big = Tensor(shape: [1, 3], data: [1000, -1000, 0])
        XCTAssertEqual(loss(big, [1]), 2000, accuracy: 1e-3)
    }
}
