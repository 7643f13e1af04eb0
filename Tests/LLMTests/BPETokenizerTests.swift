import DNDTestSupport
import Foundation
import LLM
import XCTest

/// The byte-level BPE tokenizer against the reference `tokenizers` output in `tiny-qwen2/tokenize.json`.
final class BPETokenizerTests: XCTestCase {
    static let folder = TestSupport.fixture("tiny-qwen2")

    func tokenizer() throws -> BPETokenizer {
        try BPETokenizer(tokenizerJSON: Self.folder.appendingPathComponent("tokenizer.json"))
    }

    func testIdsAndDecodedStringsMatchReference() throws {
        let tok = try tokenizer()
        let cases = try XCTUnwrap(TestSupport.json(Self.folder.appendingPathComponent("tokenize.json")) as? [[String: Any]])
        XCTAssertEqual(cases.count, 13)
        var mismatches = 0
        for c in cases {
            let text = c["text"] as! String, ids = c["ids"] as! [Int], decoded = c["decoded"] as! String
            let got = tok.encode(text)
            if got != ids { mismatches += 1 }
            XCTAssertEqual(got, ids, "ids of \(text.debugDescription)")
            XCTAssertEqual(tok.decode(ids), decoded, "decoded \(text.debugDescription)")
            let tokens = c["tokens"] as! [String]
            XCTAssertEqual(ids.map { tok.token($0)! }, tokens, "token strings of \(text.debugDescription)")
        }
        print("tiny-qwen2/tokenize.json: \(cases.count) texts, \(mismatches) id mismatches")
    }

    func testSpecialTokensEOSAndChatML() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.eosTokenId, 397)
        XCTAssertEqual(tok.tokenId("<|im_start|>"), 398)
        XCTAssertEqual(tok.tokenId("<|im_end|>"), 399)
        XCTAssertTrue(tok.hasChatML)
        XCTAssertEqual(tok.vocabularySize, 400)
        XCTAssertEqual(tok.encode("<|im_end|><|im_end|>"), [399, 399])
    }

    func testByteLevelTableIsABijection() {
        XCTAssertEqual(Set(ByteLevel.byteToChar).count, 256)
        XCTAssertEqual(ByteLevel.byteToChar[32], "Ġ")
        XCTAssertEqual(ByteLevel.byteToChar[10], "Ċ")
        XCTAssertEqual(ByteLevel.byteOrder.count, 256)
        XCTAssertEqual(ByteLevel.byteOrder[39], UInt8(ascii: "H"))
        var bytes: [UInt8] = []
        ByteLevel.decode(ByteLevel.encode(Array(0...255)), into: &bytes)
        XCTAssertEqual(bytes, Array(0...255))
    }

    func testRandomBytesRoundTrip() throws {
        let tok = try tokenizer()
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abc XYZ\n\t\r 012 .,;'!é日🙂<|im_end|>")
        for _ in 0..<50 {
            let s = String((0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            XCTAssertEqual(tok.decode(tok.encode(s)), s.precomposedStringWithCanonicalMapping, s.debugDescription)
        }
    }

    func testRefusesNonByteLevelTokenizers() throws {
        let dir = TestSupport.temporaryDirectory()
        let url = dir.appendingPathComponent("tokenizer.json")
        try #"{"model": {"type": "WordPiece", "vocab": {}}}"#.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: url)) { XCTAssertTrue("\($0)".contains("WordPiece"), "\($0)") }
        try #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Metaspace"}}"#.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: url)) { XCTAssertTrue("\($0)".contains("Metaspace"), "\($0)") }
        try "not json".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: url)) { XCTAssertTrue("\($0)".contains(url.path), "\($0)") }
    }
}
