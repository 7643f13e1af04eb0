import DNDTestSupport
import Foundation
import XCTest

final class DebugTokenizeTests: XCTestCase {
    func testWordPieceIdsEqualFixture() throws {
        let out = TestSupport.temporaryDirectory().appendingPathComponent("ids.json")
        let r = try TestSupport.runDND(["debug", "tokenize", "--tokenizer", TestSupport.encoderModel.path,
                                        "--input", TestSupport.fixture("minilm/sentences.json").path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = try XCTUnwrap(TestSupport.json(out) as? [[Int]])
        let expected = try XCTUnwrap(TestSupport.json(TestSupport.fixture("minilm/ids.json")) as? [[Int]])
        XCTAssertEqual(got, expected)
        XCTAssertTrue(r.stdout.contains("tokenized 14 texts"), r.stdout)
    }

    func testByteLevelBPEIdsEqualFixture() throws {
        let dir = TestSupport.temporaryDirectory()
        let cases = try XCTUnwrap(TestSupport.json(TestSupport.fixture("tiny-qwen2/tokenize.json")) as? [[String: Any]])
        let texts = cases.map { $0["text"] as! String }
        let input = dir.appendingPathComponent("texts.json"), out = dir.appendingPathComponent("ids.json")
        try JSONSerialization.data(withJSONObject: texts).write(to: input)
        let r = try TestSupport.runDND(["debug", "tokenize", "--tokenizer", TestSupport.fixture("tiny-qwen2").path,
                                        "--input", input.path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = try XCTUnwrap(TestSupport.json(out) as? [[Int]])
        XCTAssertEqual(got, cases.map { $0["ids"] as! [Int] })
        XCTAssertGreaterThanOrEqual(got.count, 5)
    }

    func testNonWordPieceFolderAndBadInputAreOneLineErrors() throws {
        let dir = TestSupport.temporaryDirectory()
        try Data(#"{"model": {"type": "Unigram"}}"#.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        let input = dir.appendingPathComponent("texts.json")
        try Data(#"["hello"]"#.utf8).write(to: input)
        let out = dir.appendingPathComponent("ids.json").path
        var r = try TestSupport.runDND(["debug", "tokenize", "--tokenizer", dir.path, "--input", input.path, "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(dir.path) && r.stderr.contains("a Unigram tokenizer"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        try Data(#"["ok", 3]"#.utf8).write(to: input)
        r = try TestSupport.runDND(["debug", "tokenize", "--tokenizer", TestSupport.encoderModel.path, "--input", input.path, "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(input.path) && r.stderr.contains("element 1 is not a string"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
