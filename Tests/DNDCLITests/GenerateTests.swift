import DNDTestSupport
import Foundation
import XCTest

/// `dnd generate` refuses bad prompt files with one line naming the file, the line and the problem.
final class GenerateTests: XCTestCase {
    func testBadInputsGiveOneLineErrors() throws {
        let dir = TestSupport.temporaryDirectory()
        let cases: [(String, Data, [String])] = [
            ("empty.jsonl", Data(), ["empty"]),
            ("broken.jsonl", Data("{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n{\"prompt\": oops}\n".utf8), ["line 3", "not valid JSON"]),
            ("noprompt.jsonl", Data("{\"question\": \"a\"}\n".utf8), ["line 1", "no \"prompt\" field"]),
            ("binary.jsonl", Data([0x00, 0x01, 0xFE, 0xFF, 0x00]), ["binary data"]),
        ]
        for (name, data, parts) in cases {
            let file = dir.appendingPathComponent(name)
            try data.write(to: file)
            let r = try TestSupport.runDND(["generate", "--prompts", file.path, "--out", dir.appendingPathComponent("out-\(name)").path,
                                            "--generator", dir.path])
            XCTAssertNotEqual(r.status, 0, name)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(file.path), r.stderr)
            for p in parts { XCTAssertTrue(r.stderr.contains(p), "\(name): '\(p)' in \(r.stderr)") }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out-\(name)").path))
        }
    }

    func testMissingGeneratorSaysHowToGetOne() throws {
        let dir = TestSupport.temporaryDirectory()
        let file = dir.appendingPathComponent("ok.jsonl")
        try Data("{\"prompt\": \"a\"}\n".utf8).write(to: file)
        let r = try TestSupport.runDND(["generate", "--prompts", file.path, "--out", dir.appendingPathComponent("o").path, "--generator", dir.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no trained generator") && r.stderr.contains("dnd train"), r.stderr)
    }
}
