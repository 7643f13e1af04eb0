import Foundation
@testable import Jinja
import XCTest

/// Python's `str` helpers directly: float `repr`, `repr` quoting, `split`, `strip`, `title` (values checked with
/// Python 3.11).
final class PythonTextTests: XCTestCase {
    func testFloatReprMatchesPython() {
        let cases: [(Double, String)] = [
            (1.0, "1.0"), (0.1, "0.1"), (1e16, "1e+16"), (1.5e15, "1500000000000000.0"), (1e-4, "0.0001"), (1e-5, "1e-05"),
            (123456789.123456789, "123456789.12345679"), (-0.0, "-0.0"), (0.30000000000000004, "0.30000000000000004"),
            (1.7976931348623157e308, "1.7976931348623157e+308"), (Double.leastNonzeroMagnitude, "5e-324"), (.infinity, "inf"), (-.infinity, "-inf"),
            (2.5e-7, "2.5e-07"), (1234.5, "1234.5"), (9999999999999998.0, "9999999999999998.0"), (1e22, "1e+22"),
        ]
        for (d, text) in cases { XCTAssertEqual(pyFloatRepr(d), text, "\(d)") }
        XCTAssertEqual(pyFloatRepr(.nan), "nan")
    }

    func testReprQuoting() {
        XCTAssertEqual(pyRepr(string: "it's"), "\"it's\"")
        XCTAssertEqual(pyRepr(string: "both ' \""), "'both \\' \"'")
        XCTAssertEqual(pyRepr(string: "a\nb\t\u{0}\u{7F}\u{A0}\u{200B}é"), "'a\\nb\\t\\x00\\x7f\\xa0\\u200bé'")
    }

    func testSplitAndStrip() {
        XCTAssertEqual(pySplit("  a b  c ", nil), ["a", "b", "c"])
        XCTAssertEqual(pySplit("  a b  c ", nil, maxsplit: 1), ["a", "b  c "])
        XCTAssertEqual(pyRSplit("  a b  c ", nil, maxsplit: 1), ["  a b", "c"])
        XCTAssertEqual(pySplit("a,,b", ","), ["a", "", "b"])
        XCTAssertNil(pySplit("a", ""))
        XCTAssertEqual(pySplitlines("a\r\nb\u{2028}c\n"), ["a", "b", "c"])
        XCTAssertEqual(pyStrip("\u{3000} x \u{85}", nil), "x")
        XCTAssertEqual(pyStrip("xxaxx", "x", left: true, right: false), "axx")
    }

    func testCaseMappings() {
        XCTAssertEqual(pyTitle("hello WORLD o'neil 2nd"), "Hello World O'Neil 2Nd")
        XCTAssertEqual(pyCapitalize("ǆemal ÉCOLE"), "ǅemal école")
        XCTAssertEqual(jinjaTitle("hello world-foo(bar"), "Hello World-Foo(Bar")
    }
}
