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

    func testCJKSplittingCanBeTurnedOff() {
        XCTAssertEqual(words("机器", BasicTokenizer(splitCJK: false)), ["机器"])
    }
}
