import Foundation
@testable import Jinja
import XCTest

/// Golden tests: every model's chat template against transformers' `apply_chat_template` (fixtures made by
/// `tools/fixtures/jinja-chat.py`), texts compared exactly.
final class ChatTemplateRendererTests: XCTestCase {
    static let models = ["smollm2", "qwen2.5", "qwen2", "chatml", "llama3.1", "llama3.2", "mistral", "gemma", "gemma3", "phi3"]

    func render(_ chat: ChatTemplateRenderer, _ c: Value, special: [String: Value]) throws -> String {
        var extra = special
        for (k, v) in (c["extra"] ?? .dict(ValueDictionary())).context { extra[k] = v }
        return try chat.render(messages: c["messages"]!.array, addGenerationPrompt: c["add_generation_prompt"]?.isTruthy ?? false,
                               tools: c["tools"].map { $0.array }, continueFinalMessage: c["continue_final_message"]?.isTruthy ?? false,
                               extraContext: extra, now: { Fixture.now }, timeZone: Fixture.utc)
    }

    func testEveryModelMatchesTransformers() throws {
        var total = 0, failures: [String] = []
        for model in Self.models {
            let chat = try ChatTemplateRenderer(source: try Fixture.template(model), name: model)
            let fixture = try Fixture.json("chat-\(model).json")
            let special = fixture["special_tokens"]!.context
            for (i, c) in fixture["cases"]!.array.enumerated() {
                total += 1
                if let m = mismatch(c, { try render(chat, c, special: special) }) {
                    failures.append("chat-\(model).json case \(i): \(m)")
                }
            }
        }
        XCTAssertGreaterThan(total, 200)
        XCTAssert(failures.isEmpty, "\(failures.count) of \(total) renderings differ:\n" + failures.prefix(12).joined(separator: "\n"))
    }

    /// `shared/fixtures/gguf/smollm2/chat.json`: the references the LLM module tokenizes, from SmolLM2's own template.
    func testSmolLM2SharedFixture() throws {
        let url = Fixture.shared.appendingPathComponent("gguf/smollm2/chat.json")
        let cases = try Value(json: Fixture.text(url)).array
        XCTAssertEqual(cases.count, 6)
        let chat = try ChatTemplateRenderer(source: try Fixture.template("smollm2"), name: "smollm2")
        for (i, c) in cases.enumerated() {
            let text = try chat.render(messages: c["messages"]!.array, addGenerationPrompt: c["add_generation_prompt"]!.isTruthy)
            XCTAssertEqual(text, c["text"]!.string!, "case \(i): " + firstDifference(c["text"]!.string!, text))
        }
    }

    func testContextHasToolsAndDocumentsAsNoneUnlessGiven() throws {
        let chat = try ChatTemplateRenderer(source: "{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}{{ bos_token }}|{{ tools|length }}")
        XCTAssertThrowsError(try chat.render(messages: [["role": "user", "content": "x"]], addGenerationPrompt: true, extraContext: ["bos_token": "<s>"])) {
            XCTAssertEqual(($0 as? JinjaError)?.what, "object of type 'NoneType' has no len()")
        }
        let probe = try ChatTemplateRenderer(source: "{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}{{ bos_token }}")
        XCTAssertEqual(try probe.render(messages: [["role": "user", "content": "x"]], addGenerationPrompt: true, extraContext: ["bos_token": "<s>"]),
                       "TrueTrueTrue<s>")
        XCTAssertEqual(try chat.render(messages: [["role": "user", "content": "x"]], addGenerationPrompt: false, tools: [["type": "function"]]),
                       "FalseTrueFalse|1")
    }

    func testMessagesAreNormalisedAsTransformersDoes() throws {
        let chat = try ChatTemplateRenderer(source: "{% for m in messages %}{{ m|tojson }};{% endfor %}")
        let text = try chat.render(messages: [["role": "assistant", "content": "a", "tool_calls": .none, "reasoning": "r"]],
                                   addGenerationPrompt: false)
        XCTAssertEqual(text, #"{"thinking": "r", "role": "assistant", "content": "a", "reasoning": "r", "reasoning_content": "r"};"#)
    }

    func testApiMisuseIsAnError() throws {
        let chat = try ChatTemplateRenderer(source: "{{ messages|length }}")
        XCTAssertThrowsError(try chat.render(messages: [], addGenerationPrompt: true))
        XCTAssertThrowsError(try chat.render(messages: [["role": "user", "content": "x"]], addGenerationPrompt: true, extraContext: ["messages": 1]))
        XCTAssertThrowsError(try chat.render(messages: [["role": "user", "content": "x"]], addGenerationPrompt: true, continueFinalMessage: true))
        XCTAssertThrowsError(try chat.render(messages: ["not a dict"], addGenerationPrompt: true))
    }

    func testRaiseExceptionCarriesTheTemplatesMessage() throws {
        let chat = try ChatTemplateRenderer(source: try Fixture.template("gemma"), name: "gemma")
        XCTAssertThrowsError(try chat.render(messages: [["role": "system", "content": "s"], ["role": "user", "content": "u"]], addGenerationPrompt: true)) { e in
            let j = e as? JinjaError
            XCTAssertEqual(j?.kind, .raised)
            XCTAssertEqual(j?.what, "System role not supported")
            XCTAssertEqual(j?.line, 1)
        }
    }

    /// Parse once, render many: a 200-turn conversation through Llama 3.1's template.
    func testRenderSpeed() throws {
        let chat = try ChatTemplateRenderer(source: try Fixture.template("llama3.1"))
        var messages: [Value] = [["role": "system", "content": "You are helpful."]]
        for i in 0..<200 {
            messages.append(["role": i % 2 == 0 ? "user" : "assistant", "content": .string("Turn \(i): " + String(repeating: "word ", count: 30))])
        }
        let extra: [String: Value] = ["bos_token": "<|begin_of_text|>"]
        _ = try chat.render(messages: messages, addGenerationPrompt: true, extraContext: extra)
        let runs = 20
        let start = Date()
        var length = 0
        for _ in 0..<runs { length += try chat.render(messages: messages, addGenerationPrompt: true, extraContext: extra).count }
        let ms = Date().timeIntervalSince(start) * 1000 / Double(runs)
        print("200-turn Llama 3.1 render: \(String(format: "%.2f", ms)) ms (\(length / runs) characters)")
        XCTAssertLessThan(ms, 10)
    }
}
