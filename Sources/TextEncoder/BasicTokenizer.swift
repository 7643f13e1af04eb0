import Foundation

/// BERT's text normalisation and pre-tokenisation: clean-up, CJK isolation, accent stripping, lower-casing,
/// then a split on whitespace and punctuation. Produces the words that WordPiece cuts into pieces.
///
/// The rules are those of the Hugging Face `BertNormalizer` + `BertPreTokenizer` pair (see the minilm fixture
/// README): U+0000, U+FFFD and category C characters other than tab/newline/CR are dropped; tab, newline, CR
/// and White_Space characters become spaces; CJK ideographs become one-character words; accents are removed
/// by NFD then dropping category Mn; punctuation is every ASCII non-alphanumeric graphic character plus
/// Unicode category P.
public struct BasicTokenizer: Sendable, Equatable {
    /// Lower-case every character (full Unicode mapping, character by character).
    public var lowercase: Bool
    /// Remove accents (NFD, then drop nonspacing marks).
    public var stripAccents: Bool
    /// Put spaces around CJK ideographs so each is its own word.
    public var splitCJK: Bool

    public init(lowercase: Bool = true, stripAccents: Bool? = nil, splitCJK: Bool = true) {
        self.lowercase = lowercase
        // Hugging Face: `strip_accents: null` means "strip when lower-casing".
        self.stripAccents = stripAccents ?? lowercase
        self.splitCJK = splitCJK
    }

    /// The words of `text`, each as its Unicode scalars (WordPiece works on scalars).
    public func words(_ text: String) -> [[Unicode.Scalar]] {
        split(normalize(text))
    }

    /// The normalised text: cleaned, CJK isolated, accents stripped and lower-cased as configured.
    public func normalize(_ text: String) -> String.UnicodeScalarView {
        var cleaned = String.UnicodeScalarView()
        var allASCII = true
        for s in text.unicodeScalars {
            let v = s.value
            if v < 0x80 {
                // ASCII fast path: the only controls are C0 and DEL; tab, newline and CR become spaces.
                if v == 9 || v == 10 || v == 13 { cleaned.append(" "); continue }
                if v < 0x20 || v == 0x7F { continue }
                cleaned.append(s)
                continue
            }
            allASCII = false
            if v == 0xFFFD || BasicTokenizer.isControl(s) { continue }
            if s.properties.isWhitespace { cleaned.append(" "); continue }
            if splitCJK && BasicTokenizer.isCJK(v) {
                cleaned.append(" "); cleaned.append(s); cleaned.append(" ")
                continue
            }
            cleaned.append(s)
        }
        var text = cleaned
        if stripAccents && !allASCII {
            let decomposed = String(text).decomposedStringWithCanonicalMapping
            var kept = String.UnicodeScalarView()
            for s in decomposed.unicodeScalars where s.properties.generalCategory != .nonspacingMark { kept.append(s) }
            text = kept
        }
        if lowercase {
            var lowered = String.UnicodeScalarView()
            for s in text {
                if s.value < 0x80 {
                    lowered.append((s.value >= 65 && s.value <= 90) ? Unicode.Scalar(s.value + 32)! : s)
                } else {
                    // Character by character, as the reference does (no context-dependent final sigma).
                    lowered.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
                }
            }
            text = lowered
        }
        return text
    }

    /// Splits normalised text on whitespace (dropped) and punctuation (kept, one character per word).
    public func split(_ text: String.UnicodeScalarView) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for s in text {
            if BasicTokenizer.isWhitespace(s) {
                if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) }
            } else if BasicTokenizer.isPunctuation(s) {
                if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) }
                words.append([s])
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Category C (control, format, unassigned, private use, surrogate), except tab, newline and CR.
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 9, 10, 13: return false
        default: break
        }
        switch s.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 32, 9, 10, 13: return true
        case 0..<0x80: return false
        default: return s.properties.isWhitespace
        }
    }

    /// ASCII characters that are not letters, digits or space, plus Unicode category P.
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (v >= 33 && v <= 47) || (v >= 58 && v <= 64) || (v >= 91 && v <= 96) || (v >= 123 && v <= 126)
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// CJK Unified Ideographs and their extensions and compatibility blocks (not kana, not Hangul).
    static func isCJK(_ v: UInt32) -> Bool {
        (v >= 0x4E00 && v <= 0x9FFF) || (v >= 0x3400 && v <= 0x4DBF) || (v >= 0x20000 && v <= 0x2A6DF)
            || (v >= 0x2A700 && v <= 0x2B73F) || (v >= 0x2B740 && v <= 0x2B81F) || (v >= 0x2B820 && v <= 0x2CEAF)
            || (v >= 0xF900 && v <= 0xFAFF) || (v >= 0x2F800 && v <= 0x2FA1F)
    }
}
