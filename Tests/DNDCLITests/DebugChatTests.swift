import DNDTestSupport
import Foundation
import XCTest

/// `dnd debug tokenize` and `dnd debug chat` on a GGUF file (SmolLM2), against the fixtures of transformers.
final class DebugChatTests: XCTestCase {
    func testGGUFTokenIdsEqualFixtureAndTheMissingBytesAreNamed() throws {
        let dir = TestSupport.temporaryDirectory()
        let cases = try XCTUnwrap(TestSupport.json(TestSupport.fixture("gguf/smollm2/tokenize.json")) as? [[String: Any]])
        let input = dir.appendingPathComponent("texts.json"), out = dir.appendingPathComponent("ids.json")
        try JSONSerialization.data(withJSONObject: cases.map { $0["text"] as! String }).write(to: input)
        let r = try TestSupport.runDND(["debug", "tokenize", "--tokenizer", try TestSupport.requireSmolLM2().path, "--input", input.path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try XCTUnwrap(TestSupport.json(out) as? [[Int]]), cases.map { $0["ids"] as! [Int] })
        XCTAssertTrue(r.stderr.contains("no token for 21 byte values"), r.stderr)
    }

    func testChatRenderingsEqualApplyChatTemplate() throws {
        let dir = TestSupport.temporaryDirectory()
        let cases = try XCTUnwrap(TestSupport.json(TestSupport.fixture("gguf/smollm2/chat.json")) as? [[String: Any]])
        let input = dir.appendingPathComponent("chats.json"), out = dir.appendingPathComponent("rendered.json")
        try JSONSerialization.data(withJSONObject: cases.map { ["messages": $0["messages"]!, "add_generation_prompt": $0["add_generation_prompt"]!] }).write(to: input)
        let r = try TestSupport.runDND(["debug", "chat", "--model", try TestSupport.requireSmolLM2().path, "--input", input.path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("rendered \(cases.count) conversations with the jinja template"), r.stdout)
        let got = try XCTUnwrap(TestSupport.json(out) as? [[String: Any]])
        XCTAssertEqual(got.count, cases.count)
        for (g, c) in zip(got, cases) {
            XCTAssertEqual(g["text"] as? String, c["text"] as? String)
            XCTAssertEqual(g["ids"] as? [Int], c["ids"] as? [Int])
        }
        // A conversation without "messages" is named.
        try Data(#"[{"add_generation_prompt": true}]"#.utf8).write(to: input)
        let bad = try TestSupport.runDND(["debug", "chat", "--model", try TestSupport.requireSmolLM2().path, "--input", input.path, "--out", out.path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("element 0 has no \"messages\" array"), bad.stderr)
    }
}
