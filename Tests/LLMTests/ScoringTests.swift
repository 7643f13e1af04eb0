import DNDTestSupport
import Foundation
@testable import LLM
import LoRA
import TensorCore
import XCTest

/// Response log-probabilities and multiple choice, against log-softmax of the full logits.
final class ScoringTests: XCTestCase {
    static let folder = TestSupport.fixture("tiny-qwen2")

    func logSoftmax(_ logits: Tensor, row: Int, target: Int) -> Double {
        let v = logits.shape[1]
        var mx = -Double.infinity
        for j in 0..<v { mx = max(mx, Double(logits[row, j])) }
        var s = 0.0
        for j in 0..<v { s += exp(Double(logits[row, j]) - mx) }
        return Double(logits[row, target]) - mx - log(s)
    }

    func testScoreEqualsLogSoftmaxOfFullLogits() throws {
        let model = try CausalLM(folder: Self.folder)
        let adapter = try LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter"))
        let pairs = [("What is 2+2?", " four"), ("Say hello", "Hello world, with a longer answer."), ("x", "y")]
        let scores = try model.score(pairs: pairs.map { (prompt: $0.0, response: $0.1) }, adapter: adapter)
        for ((p, r), s) in zip(pairs, scores) {
            let (pi, ri) = try model.encodeTurn(prompt: p, response: r)
            let logits = try model.logits(pi + ri, adapter: adapter)
            var want = 0.0
            for (j, t) in ri.enumerated() { want += logSoftmax(logits, row: pi.count - 1 + j, target: t) }
            XCTAssertEqual(s.tokens, ri.count)
            XCTAssertEqual(s.sumLogProb, want, accuracy: 1e-3 * max(1, abs(want)))
            XCTAssertEqual(s.meanLogProb, want / Double(ri.count), accuracy: 1e-3)
            let single = try model.score(prompt: p, response: r, adapter: adapter)
            XCTAssertEqual(single.sumLogProb, s.sumLogProb, accuracy: 1e-3)
        }
    }

    func testChooseTakesTheMostLikelyChoice() throws {
        let model = try CausalLM(folder: Self.folder)
        let choices = ["alpha", "the end", "def f(x)", "12345"]
        let scores = try model.score(pairs: choices.map { (prompt: "Pick one", response: $0) }, adapter: nil)
        let best = scores.indices.max { scores[$0].sumLogProb < scores[$1].sumLogProb }!
        XCTAssertEqual(try model.choose(prompt: "Pick one", choices: choices, adapter: nil), best)
        let bestMean = scores.indices.max { scores[$0].meanLogProb < scores[$1].meanLogProb }!
        XCTAssertEqual(try model.choose(prompt: "Pick one", choices: choices, adapter: nil, lengthNormalized: true), bestMean)
    }

    func testSmallTokenBudgetGivesTheSameScores() throws {
        let model = try CausalLM(folder: Self.folder)
        let turns = try (0..<5).map { i in try model.encodeTurn(prompt: "prompt \(i)", response: String(repeating: "ab ", count: i + 1)) }
        let a = try model.scoreIds(turns, lora: nil, tokenBudget: 1)
        let b = try model.scoreIds(turns, lora: nil, tokenBudget: 10_000)
        for (x, y) in zip(a, b) { XCTAssertEqual(x.sumLogProb, y.sumLogProb, accuracy: 1e-4); XCTAssertEqual(x.tokens, y.tokens) }
    }
}
