import Foundation
import LLM
import Pipeline
import Prompts
import XCTest

final class ReportTests: XCTestCase {
    func sample() -> GenerationReport {
        let records = [PromptRecord(prompt: "2+2?", response: "4", extra: ["src": "\"x\""], line: 1), PromptRecord(prompt: "<b>bold</b>", line: 2)]
        return GenerationReport(
            job: "job <1>", dndVersion: "0.1.0", seed: 7,
            input: .init(file: "in.jsonl", records: records, used: 2, sampled: false),
            timings: [.init(.encodePrompts, 0.12), .init(.generateWeights, 0.34)],
            generator: .init(identity: "gen-abc", trainedOn: ["a", "b"], trainedAt: "2026-01-01", steps: 100, finalLoss: 0.5,
                             chain: [[4, 8, 12], [9, 4, 6]], kernel: 3, parameters: 1234),
            similarity: [.init(dataset: "a", cosine: 0.9), .init(dataset: "b", cosine: -0.2)],
            adapter: .init(rank: 2, alpha: 4, modules: ["q_proj"], layers: 2, tokens: 10,
                           norms: [.init(module: "q_proj", layers: 2, normA: 1, normB: 2, normDelta: 3)]),
            evaluation: EvaluationTable(baseModel: "base", metric: "exact match", rows: [
                .init(name: "base", accuracy: 0.25, correct: 1, records: 4, meanNLL: 2.5, seconds: 1),
                .init(name: "dnd", accuracy: 0.75, correct: 3, records: 4, meanNLL: 1.5, seconds: 1),
            ]),
            evaluationSkipped: nil, warnings: ["only 2 prompts"],
            baseModel: baseName, gguf: .init(file: "adapter.gguf", architecture: "llama", permutedQK: true, alpha: 4, skipped: nil),
            usage: ServingGuide(folder: URL(fileURLWithPath: "/srv/dnd/outbox/job1"), name: "job1", baseModel: baseName, rank: 2, gguf: true))
    }

    let baseName = BaseModelName(name: "HuggingFaceTB/SmolLM2-135M-Instruct", rule: .configured, reason: "set by --base-model-name")

    func testBaseModelGGUFAndUsageInJSONAndHTML() throws {
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: sample().jsonData()) as? [String: Any])
        let base = try XCTUnwrap(obj["base_model"] as? [String: Any])
        XCTAssertEqual(base["name"] as? String, "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertEqual(base["rule"] as? String, "configured")
        XCTAssertEqual(base["reason"] as? String, "set by --base-model-name")
        XCTAssertEqual((obj["gguf"] as? [String: Any])?["permuted_qk"] as? Bool, true)
        let usage = try XCTUnwrap(obj["usage"] as? [String: [String]])
        XCTAssertEqual(Set(usage.keys), ["peft", "vllm", "llama_cpp", "ollama"])
        XCTAssertEqual((obj["timings"] as? [[String: Any]])?.map { $0["stage"] as? String }, ["encode prompts", "generate weights"])
        let html = ReportHTML.render(sample())
        for s in ["<h2>Base model</h2>", "<h2>Use it</h2>", "<h3>llama.cpp</h3>", "--lora /srv/dnd/outbox/job1/adapter.gguf",
                  "PeftModel.from_pretrained(base, &quot;/srv/dnd/outbox/job1&quot;)", "ADAPTER /srv/dnd/outbox/job1/adapter.gguf",
                  "q/k <code>lora_b</code> rows permuted"] {
            XCTAssertTrue(html.contains(s), s)
        }
    }

    func testJSONRoundTripAndStatistics() throws {
        let r = sample()
        XCTAssertEqual(r.input.minChars, 4)
        XCTAssertEqual(r.input.maxChars, 11)
        XCTAssertEqual(r.input.evaluableRecords, 1)
        XCTAssertEqual(r.input.extraFields, ["src"])
        let back = try JSONDecoder().decode(GenerationReport.self, from: r.jsonData())
        XCTAssertEqual(back.evaluation?.rows.map(\.name), ["base", "dnd"])
        XCTAssertEqual(back.similarity.map(\.cosine), [0.9, -0.2])
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: r.jsonData()) as? [String: Any])
        XCTAssertNotNil(obj["evaluation"]); XCTAssertNotNil(obj["timings"]); XCTAssertNotNil(obj["dnd_version"])
    }

    func testHTMLIsSelfContainedAndEscaped() throws {
        let html = ReportHTML.render(sample())
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("job &lt;1&gt;"))
        XCTAssertFalse(html.contains("<b>bold"))
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 4, "evaluation, similarity, norms, timings charts")
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("http://") && !html.contains("http://www.w3.org/2000/svg"))
        XCTAssertTrue(html.contains("75.0%"))
    }

    func testEvaluationTableText() {
        let t = sample().evaluation!.text
        XCTAssertTrue(t.contains("base"))
        XCTAssertTrue(t.contains("75.0%"))
        XCTAssertTrue(t.contains("1.500"))
    }
}
