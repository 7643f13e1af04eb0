import DNDTestSupport
import Foundation
@testable import TextEncoder
import XCTest

final class WordPieceTests: XCTestCase {
    let vocab = ["[PAD]", "[UNK]", "un", "##aff", "##able", "unaff", "a", "##a", "é", "e", "##\u{301}", "x"]

    func ids(_ word: String, _ wp: WordPiece) -> [Int] {
        var out: [Int] = []
        wp.appendPieces(of: Array(word.unicodeScalars), to: &out)
        return out
    }

    func testGreedyLongestMatchWithContinuations() throws {
        let wp = try WordPiece(tokens: vocab)
        XCTAssertEqual(ids("unaffable", wp), [5, 4], "longest first piece 'unaff', then '##able'")
        XCTAssertEqual(ids("aaa", wp), [6, 7, 7])
        XCTAssertEqual(ids("unx", wp), [1], "no piece for '##x': the whole word is [UNK]")
        XCTAssertEqual(ids("", wp), [])
        XCTAssertEqual(wp.id(of: "##able"), 4)
        XCTAssertNil(wp.id(of: "able"))
    }

    func testMatchingIsExactNotCanonicallyEquivalent() throws {
        let wp = try WordPiece(tokens: vocab)
        // "e" + combining acute is canonically equivalent to "é" but is a different token sequence.
        XCTAssertEqual(ids("e\u{301}", wp), [9, 10])
        XCTAssertEqual(ids("\u{E9}", wp), [8])
    }

    func testLongWordsBecomeUnknown() throws {
        let wp = try WordPiece(tokens: vocab)
        XCTAssertEqual(ids(String(repeating: "a", count: 100), wp).count, 100)
        XCTAssertEqual(ids(String(repeating: "a", count: 101), wp), [1])
    }

    func testDuplicateTokensKeepTheLastIdAndUnknownIsRequired() throws {
        let wp = try WordPiece(tokens: ["[UNK]", "a", "a"])
        XCTAssertEqual(wp.id(of: "a"), 2)
        XCTAssertThrowsError(try WordPiece(tokens: ["a", "b"], source: "v.txt")) { e in
            XCTAssertTrue("\(e)".contains("v.txt") && "\(e)".contains("[UNK]"), "\(e)")
        }
    }

    func testReadVocabularyHandlesCRLFAndTrailingNewline() throws {
        let dir = TestSupport.temporaryDirectory()
        let url = dir.appendingPathComponent("vocab.txt")
        try Data("[UNK]\r\nfoo\r\n##bar\r\n".utf8).write(to: url)
        XCTAssertEqual(try WordPiece.readVocabulary(url), ["[UNK]", "foo", "##bar"])
        try Data().write(to: url)
        XCTAssertThrowsError(try WordPiece.readVocabulary(url)) { XCTAssertTrue("\($0)".contains("empty"), "\($0)") }
        try Data([0xFF, 0xFE, 0x00]).write(to: url)
        XCTAssertThrowsError(try WordPiece.readVocabulary(url)) { XCTAssertTrue("\($0)".contains("UTF-8"), "\($0)") }
    }
}
