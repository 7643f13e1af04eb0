import DNDTestSupport
import Foundation
import Prompts
import XCTest

final class PromptFileTests: XCTestCase {
    func write(_ text: String, _ name: String) -> URL {
        let url = TestSupport.temporaryDirectory().appendingPathComponent(name)
        try! Data(text.utf8).write(to: url)
        return url
    }

    func assertFails(_ url: URL, _ parts: [String], limits: PromptLimits = PromptLimits(), file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try PromptFile.read(url, limits: limits), file: file, line: line) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains(url.path), m, file: file, line: line)
            for p in parts { XCTAssertTrue(m.contains(p), "'\(p)' in: \(m)", file: file, line: line) }
        }
    }

    func testJSONLWithAllFieldKinds() throws {
        let url = write("""
        {"prompt": "2+2?", "response": "4", "source": "unit"}

        {"prompt": "Pick", "choices": ["[A]", "[B]"], "answer": "[B]", "system": "be brief"}
        {"prompt": "idx", "choices": ["x", "y", "z"], "answer": 2}
        """, "p.jsonl")
        let r = try PromptFile.read(url)
        XCTAssertEqual(r.count, 3)
        XCTAssertEqual(r[0].response, "4")
        XCTAssertEqual(r[0].extra["source"], "\"unit\"")
        XCTAssertEqual(r[1].correctChoice, 1)
        XCTAssertEqual(r[1].system, "be brief")
        XCTAssertEqual(r[1].line, 3)
        XCTAssertEqual(r[2].correctChoice, 2)
        XCTAssertTrue(r.allSatisfy(\.isEvaluable))
    }

    func testJSONArrayAndText() throws {
        XCTAssertEqual(try PromptFile.read(write(#"["a", {"prompt": "b"}]"#, "p.json")).map(\.prompt), ["a", "b"])
        XCTAssertEqual(try PromptFile.read(write("one\n\n two \n", "p.txt")).map(\.prompt), ["one", "two"])
    }

    func testInvalidJSONOnLineK() {
        assertFails(write("{\"prompt\": \"ok\"}\n{\"prompt\": \"ok\"}\n{broken\n", "bad.jsonl"), ["line 3", "not valid JSON"])
    }

    func testMissingPromptField() {
        assertFails(write("{\"prompt\": \"ok\"}\n{\"question\": \"no\"}\n", "bad.jsonl"), ["line 2", "no \"prompt\" field", "question"])
    }

    func testEmptyAndBinaryFiles() {
        assertFails(write("", "empty.jsonl"), ["empty"])
        let bin = TestSupport.temporaryDirectory().appendingPathComponent("bin.jsonl")
        try! Data([0x7B, 0x00, 0xFF, 0x10]).write(to: bin)
        assertFails(bin, ["binary"])
        assertFails(write("\n\n  \n", "blank.jsonl"), ["no prompts"])
    }

    func testLimitsAreEnforcedBeforeParsing() {
        let big = write(String(repeating: "{\"prompt\": \"x\"}\n", count: 100), "big.jsonl")
        assertFails(big, ["over the limit", "max_file_bytes"], limits: PromptLimits(maxFileBytes: 1000))
        assertFails(big, ["100 prompts", "max_prompts"], limits: PromptLimits(maxPrompts: 10))
        assertFails(write("{\"prompt\": \"\(String(repeating: "y", count: 50))\"}\n", "long.jsonl"), ["line 1", "50 characters"],
                    limits: PromptLimits(maxPromptChars: 20))
    }

    func testChoicesAnswerMustBeAChoice() {
        assertFails(write(#"{"prompt": "p", "choices": ["a", "b"], "answer": "c"}"#, "c.jsonl"), ["line 1", "not one of the choices"])
    }
}

final class PromptFileHugeTests: XCTestCase {
    func testOneGigabyteFileIsRefusedBeforeReading() throws {
        let url = TestSupport.temporaryDirectory().appendingPathComponent("huge.jsonl")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let h = try FileHandle(forWritingTo: url)
        try h.truncate(atOffset: 1 << 30)  // sparse: 1 GiB of zeros without writing them
        try h.close()
        XCTAssertThrowsError(try PromptFile.read(url)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains(url.path) && m.contains("1073741824 bytes is over the limit") && m.contains("max_file_bytes"), m)
        }
    }
}
