import Foundation
@testable import Jinja
import XCTest

/// `Value(json:)` keeps key order and Python's int/float split; `tojson` output is covered in FiltersTests.
final class JSONParserTests: XCTestCase {
    func testParseKeepsOrderAndTypes() throws {
        let v = try Value(json: #"{"z": 1, "a": [1.0, 2, -3e2, true, null, "\u00e9\ud83c\udf89\n"], "m": {}}"#)
        guard case .dict(let d) = v else { return XCTFail("not a dict") }
        XCTAssertEqual(d.keys.compactMap { $0.stringValue }, ["z", "a", "m"])
        XCTAssertEqual(stringify(v), "{'z': 1, 'a': [1.0, 2, -300.0, True, None, 'é🎉\\n'], 'm': {}}")
    }

    func testParseRoundTripsThroughTojson() throws {
        let text = #"{"type": "function", "function": {"name": "f", "parameters": {"b": [1, 2.5], "a": "x\"y"}}}"#
        XCTAssertEqual(try JSONDumper().dump(try Value(json: text)), text)
    }

    func testDuplicateKeysKeepTheLastValueAtTheFirstPosition() throws {
        XCTAssertEqual(stringify(try Value(json: #"{"a": 1, "b": 2, "a": 3}"#)), "{'a': 3, 'b': 2}")
    }

    func testMalformedJSONIsAnError() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"unterminated", "01x", "[1] 2", "\"\\ud800\"", String(repeating: "[", count: 2000)] {
            XCTAssertThrowsError(try Value(json: bad), bad)
        }
    }
}
