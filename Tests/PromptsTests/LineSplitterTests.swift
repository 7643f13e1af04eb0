import Foundation
import Prompts
import XCTest

/// Byte-level line splitting: every line ending gives the same lines, whatever the chunking.
final class LineSplitterTests: XCTestCase {
    func lines(_ text: String, chunk: Int? = nil, max: Int = Int.max) -> [(Int, String, Int)] {
        let data = Data(text.utf8)
        var s = LineSplitter(maxLineBytes: max)
        var out: [LineSplitter.Line] = []
        if let chunk {
            var i = 0
            while i < data.count { s.feed(data[i..<Swift.min(i + chunk, data.count)]) { out.append($0) }; i += chunk }
        } else {
            s.feed(data) { out.append($0) }
        }
        s.finish { out.append($0) }
        return out.map { ($0.number, String(decoding: $0.bytes, as: UTF8.self), $0.droppedBytes) }
    }

    func texts(_ text: String, chunk: Int? = nil) -> [String] { lines(text, chunk: chunk).map(\.1) }

    func testEveryLineEndingSplitsTheSame() {
        let samples = ["LF": "a\nb\nc\n", "CRLF": "a\r\nb\r\nc\r\n", "CR": "a\rb\rc\r", "mixed": "a\r\nb\nc\r", "no final break": "a\nb\r\nc"]
        for (name, text) in samples {
            for chunk in [nil, 1, 2, 3] {
                XCTAssertEqual(texts(text, chunk: chunk), ["a", "b", "c"], "\(name), chunks of \(chunk.map(String.init) ?? "all")")
                XCTAssertEqual(lines(text, chunk: chunk).map(\.0), [1, 2, 3], name)
            }
        }
    }

    func testEmptyLinesKeepTheirNumbers() {
        XCTAssertEqual(texts("a\r\n\r\nb"), ["a", "", "b"])
        XCTAssertEqual(texts("\n\n"), ["", ""])
        XCTAssertEqual(texts("a\r\r\nb"), ["a", "", "b"])  // CR, then CRLF
        XCTAssertEqual(texts(""), [])
    }

    func testACRLFCutBetweenTwoChunksIsOneBreak() {
        var s = LineSplitter()
        var out: [String] = []
        s.feed(Data("one\r".utf8)) { out.append(String(decoding: $0.bytes, as: UTF8.self)) }
        s.feed(Data("\ntwo".utf8)) { out.append(String(decoding: $0.bytes, as: UTF8.self)) }
        s.finish { out.append(String(decoding: $0.bytes, as: UTF8.self)) }
        XCTAssertEqual(out, ["one", "two"])
    }

    func testALongLineKeepsAtMostTheLimitAndCountsTheRest() {
        XCTAssertEqual(lines("abcdefgh\nxy", chunk: 3, max: 4).map { [String($0.0), $0.1, String($0.2)] }, [["1", "abcd", "4"], ["2", "xy", "0"]])
        var s = LineSplitter(maxLineBytes: 4)
        s.feed(Data("abcdef".utf8)) { _ in XCTFail("no line is complete yet") }
        XCTAssertTrue(s.droppingBytes)
        XCTAssertEqual(s.currentLineNumber, 1)
    }
}
