import Foundation
@testable import Prompts
import XCTest

/// The top-level array split into elements without parsing: strings, escapes and nesting never split.
final class JSONArraySplitterTests: XCTestCase {
    func split(_ text: String, chunk: Int? = nil, max: Int = Int.max) throws -> [String] {
        let data = Array(text.utf8)
        var s = JSONArraySplitter(maxElementBytes: max)
        var out: [String] = []
        let step = chunk ?? Swift.max(1, data.count)
        var i = 0
        while i < data.count {
            let end = Swift.min(i + step, data.count)
            try data[i..<end].withUnsafeBytes { try s.feed($0) { out.append(String(decoding: $0.bytes, as: UTF8.self)) } }
            i = end
        }
        try s.finish()
        return out
    }

    func testElementsWithCommasAndBracketsInsideStringsAndNesting() throws {
        let text = #" [ {"prompt": "a, [b] }"} , "c\"],", [1, [2, {"x": "]"}]], 3 ] "#
        let expected = [#"{"prompt": "a, [b] }"}"#, #""c\"],""#, #"[1, [2, {"x": "]"}]]"#, "3"]
        for chunk in [nil, 1, 2, 5] { XCTAssertEqual(try split(text, chunk: chunk), expected, "chunks of \(chunk ?? 0)") }
        XCTAssertEqual(try split("[]"), [])
        XCTAssertEqual(try split("[\r\n\"a\"\r\n]\r\n"), ["\"a\""])
    }

    func testEmptyElementsAreHandedOutForTheParserToReport() throws {
        XCTAssertEqual(try split("[1,,2]"), ["1", "", "2"])
        XCTAssertEqual(try split("[1,]"), ["1", ""])
    }

    func testProblemsWithTheArrayItself() {
        XCTAssertThrowsError(try split(#"{"prompt": "a"}"#)) { XCTAssertEqual($0 as? JSONArraySplitter.Problem, .notAnArray(first: UInt8(ascii: "{"))) }
        XCTAssertThrowsError(try split("[1] x")) { XCTAssertEqual($0 as? JSONArraySplitter.Problem, .textAfterArray) }
        XCTAssertThrowsError(try split("[1, 2")) { XCTAssertEqual($0 as? JSONArraySplitter.Problem, .notClosed) }
        XCTAssertThrowsError(try split(" \n ")) { XCTAssertEqual($0 as? JSONArraySplitter.Problem, .blank) }
    }

    func testALongElementKeepsAtMostTheLimit() throws {
        var s = JSONArraySplitter(maxElementBytes: 4)
        try Array("[\"abcdefgh".utf8).withUnsafeBytes { try s.feed($0) { _ in XCTFail("not complete yet") } }
        XCTAssertTrue(s.droppingBytes)
        XCTAssertEqual(s.currentElementNumber, 1)
    }
}
