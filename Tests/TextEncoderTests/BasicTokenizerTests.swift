import Foundation
@testable import TextEncoder
import XCTest

final class BasicTokenizerTests: XCTestCase {
    func words(_ text: String, _ t: BasicTokenizer = BasicTokenizer()) -> [String] {
        t.words(text).map { w in var s = String.UnicodeScalarView(); s.append(contentsOf: w); return String(s) }
    }

    func testSplitsOnWhitespaceAndPunctuation() {
        XCTAssertEqual(words("Hello,  World!\tok\n"), ["hello", ",", "world", "!", "ok"])
        XCTAssertEqual(words("a_b-c$d"), ["a", "_", "b", "-", "c", "$", "d"], "every ASCII non-alphanumeric is punctuation")
        XCTAssertEqual(words("x ± 2 ≈ π 😀"), ["x", "±", "2", "≈", "π", "😀"], "symbols (S*) are not punctuation")
        XCTAssertEqual(words("«quoted»—dash…"), ["«", "quoted", "»", "—", "dash", "…"], "Unicode category P is")
        XCTAssertEqual(words(""), [])
        XCTAssertEqual(words(" \t\n "), [])
    }

    func testDropsControlAndFormatCharactersAndMapsSpaces() {
        XCTAssertEqual(words("zero\u{200B}width soft\u{00AD}hyphen bell\u{0007}x nul\u{0000}y bad\u{FFFD}z"),
                       ["zerowidth", "softhyphen", "bellx", "nuly", "badz"])
        XCTAssertEqual(words("no\u{00A0}break\u{3000}ideographic\u{2028}line"), ["no", "break", "ideographic", "line"])
        XCTAssertEqual(words("private\u{E000}use"), ["privateuse"])
    }

    func testCJKIdeographsAreWordsButKanaAndHangulAreNot() {
        XCTAssertEqual(words("机器学习"), ["机", "器", "学", "习"])
        XCTAssertEqual(words("日本語のテキスト"), ["日", "本", "語", "のテキスト"])
        // Hangul syllables are not CJK ideographs; NFD then splits them into jamo.
        XCTAssertEqual(words("한국").first?.unicodeScalars.count, 6)
    }

    func testAccentsAndCase() {
        XCTAssertEqual(words("Café NAÏVE Ñandú"), ["cafe", "naive", "nandu"])
        let cased = BasicTokenizer(lowercase: false)
        XCTAssertEqual(words("Café NAÏVE", cased), ["Café", "NAÏVE"], "strip_accents follows lowercase when unset")
        XCTAssertEqual(words("Café", BasicTokenizer(lowercase: true, stripAccents: false)), ["café".decomposedStringWithCanonicalMapping.precomposedStringWithCanonicalMapping])
        XCTAssertEqual(words("Café", BasicTokenizer(lowercase: false, stripAccents: true)), ["Cafe"])
        XCTAssertEqual(words("ΣΑΣ"), ["σασ"], "character-by-character lower-casing, no final sigma")
    }

    func testCategoriesAreUnicode8s() {
        // U+08C9 is a nonspacing mark since Unicode 14: unknown to the reference's tables, so kept.
        XCTAssertEqual(words("a\u{08C9}b"), ["a\u{08C9}b"])
        // U+2E50 (Unicode 13 punctuation) is not split off; U+2E3B (Unicode 8.0) is.
        XCTAssertEqual(words("a\u{2E50}b"), ["a\u{2E50}b"])
        XCTAssertEqual(words("a\u{2E3B}b"), ["a", "\u{2E3B}", "b"])
        // Unassigned code points are kept (the reference has no table of them).
        XCTAssertEqual(words("a\u{0378}b"), ["a\u{0378}b"])
        // Format characters added after 8.0 are kept; older ones dropped.
        XCTAssertEqual(words("a\u{13430}b\u{200D}c"), ["a\u{13430}bc"])
        // Categories changed since 8.0 follow 8.0: U+1885 was a letter, U+111C9 punctuation.
        XCTAssertEqual(words("a\u{1885}b"), ["a\u{1885}b"])
        XCTAssertEqual(words("a\u{111C9}b"), ["a", "\u{111C9}", "b"])
        // The reference's CJK ranges skip U+2B820…U+2B91F.
        XCTAssertEqual(words("a\u{2B820}b\u{2B920}c"), ["a\u{2B820}b", "\u{2B920}", "c"])
    }

    func testCJKSplittingCanBeTurnedOff() {
        XCTAssertEqual(words("机器", BasicTokenizer(splitCJK: false)), ["机器"])
    }
}
