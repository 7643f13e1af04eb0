import Foundation
import LoRA
import Pipeline
import Prompts
import XCTest

/// A scorer whose behaviour depends on whether an adapter is given: the base answers "7", an adapter "[7]"; the
/// base finds plain responses likely, an adapter bracketed ones.
struct FakeScorer: ResponseScorer {
    func score(_ items: [(prompt: String, system: String?, response: String)], adapter: LoRAAdapter?) -> [(sumLogProb: Double, meanLogProb: Double, tokens: Int)] {
        items.map { item in
            let good = (adapter != nil) == item.response.hasPrefix("[")
            let n = item.response.count
            return (good ? -0.1 * Double(n) : -2.0 * Double(n), good ? -0.1 : -2.0, n)
        }
    }
    func generate(_ prompts: [(prompt: String, system: String?)], maxTokens: [Int], adapter: LoRAAdapter?) -> [String] {
        prompts.map { _ in adapter == nil ? " 7" : "[7] \n" }
    }
    func tokenCount(_ text: String) -> Int { text.count }
}

/// Records the system message of every item it is asked about.
final class SystemRecordingScorer: ResponseScorer {
    var generated: [String?] = [], scored: [String?] = []
    func score(_ items: [(prompt: String, system: String?, response: String)], adapter: LoRAAdapter?) -> [(sumLogProb: Double, meanLogProb: Double, tokens: Int)] {
        scored += items.map(\.system); return items.map { _ in (-1, -1, 1) }
    }
    func generate(_ prompts: [(prompt: String, system: String?)], maxTokens: [Int], adapter: LoRAAdapter?) -> [String] {
        generated += prompts.map(\.system); return prompts.map { _ in "x" }
    }
    func tokenCount(_ text: String) -> Int { text.count }
}

final class EvaluatorTests: XCTestCase {
    func testExactMatchChoicesAndNLL() throws {
        let records = [
            PromptRecord(prompt: "3+4?", response: "[7]", line: 1),
            PromptRecord(prompt: "3+4?", response: "7", line: 2),
            PromptRecord(prompt: "pick", choices: ["a", "[b]"], correctChoice: 1, line: 3),
            PromptRecord(prompt: "no answer", line: 4),
        ]
        let (ok, reason) = Evaluator.evaluable(records)
        XCTAssertNil(reason)
        XCTAssertEqual(ok.count, 3)
        let adapter = LoRAAdapter(config: LoRAConfig(r: 1, loraAlpha: 1, targetModules: [.q_proj], baseModel: nil), weights: [:])
        let t = try Evaluator.evaluate(FakeScorer(), baseModel: "fake", records: ok, models: [("base", nil), ("dnd", adapter)])
        XCTAssertEqual(t.rows.map(\.correct), [1, 2])
        XCTAssertEqual(t.rows[0].accuracy, 1.0 / 3, accuracy: 1e-12)
        // base: "[7]" scored bad (3 tokens · 2.0), "7" good (0.1), "[b]" bad (3 · 2.0) → 12.1 / 7
        XCTAssertEqual(t.rows[0].meanNLL!, 12.1 / 7, accuracy: 1e-9)
        XCTAssertEqual(t.metric, "exact match (responses) and choice likelihood (choices)")
    }

    /// `dnd eval` and the daemon lay a record's `system` field out as `dnd finetune` does: every call gets it.
    func testEveryCallGetsTheRecordsSystemMessage() throws {
        let records = [PromptRecord(prompt: "a", response: "x", system: "Answer in French.", line: 1),
                       PromptRecord(prompt: "b", choices: ["p", "q"], correctChoice: 0, line: 2)]
        let scorer = SystemRecordingScorer()
        _ = try Evaluator.evaluate(scorer, baseModel: "fake", records: records, models: [("base", nil)])
        XCTAssertEqual(scorer.generated, ["Answer in French."])
        XCTAssertEqual(scorer.scored, ["Answer in French.", nil, nil])
    }

    func testNothingToScoreSaysWhy() {
        let (ok, reason) = Evaluator.evaluable([PromptRecord(prompt: "x", line: 1)])
        XCTAssertTrue(ok.isEmpty)
        XCTAssertTrue(reason!.contains("response"))
    }
}
