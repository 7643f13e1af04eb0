import Foundation

/// One lexical token; `offset` is its byte offset in the normalised source.
struct Token {
    enum Kind: Equatable {
        case data(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case eof
    }

    var kind: Kind
    var offset: SourceOffset
}

/// Splits template source into tokens exactly as Jinja2's lexer does for transformers' environment:
/// `trim_blocks` (one newline after a block or comment tag is dropped), `lstrip_blocks` (spaces and tabs before a
/// block or comment tag on its own line are dropped), `-` / `+` whitespace control on both sides, `{% raw %}`,
/// newlines normalised to `\n` and one trailing newline removed.
struct Lexer {
    let bytes: [UInt8]
    let trimBlocks: Bool
    let lstripBlocks: Bool
    private var pos = 0
    private var tokens: [Token] = []
    /// Whether the last match ended with a newline (Jinja2's `line_starting`, for `lstrip_blocks`).
    private var lineStarting = true

    /// Jinja2's newline handling: `\r\n` and `\r` become `\n`; one trailing newline is dropped.
    static func normalize(_ source: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(source.utf8.count)
        var it = source.utf8.makeIterator()
        var pending = it.next()
        while let b = pending {
            pending = it.next()
            if b == UInt8(ascii: "\r") {
                out.append(UInt8(ascii: "\n"))
                if pending == UInt8(ascii: "\n") { pending = it.next() }
            } else {
                out.append(b)
            }
        }
        if out.last == UInt8(ascii: "\n") { out.removeLast() }
        return out
    }

    init(bytes: [UInt8], trimBlocks: Bool = true, lstripBlocks: Bool = true) {
        self.bytes = bytes
        self.trimBlocks = trimBlocks
        self.lstripBlocks = lstripBlocks
    }

    mutating func tokenize() throws -> [Token] {
        while pos < bytes.count {
            guard let (tagStart, kind) = nextTag(from: pos) else {
                emitData(pos, bytes.count)
                pos = bytes.count
                break
            }
            if kind == UInt8(ascii: "%"), let raw = matchRawBegin(at: tagStart) {
                emitStrippedText(pos, tagStart, sign: raw.sign, isVariable: false)
                pos = raw.end
                lineStarting = bytes[raw.end - 1] == UInt8(ascii: "\n")
                try lexRaw(from: tagStart)
                continue
            }
            var afterOpen = tagStart + 2
            var sign: UInt8 = 0
            if afterOpen < bytes.count, bytes[afterOpen] == UInt8(ascii: "-") || bytes[afterOpen] == UInt8(ascii: "+") {
                sign = bytes[afterOpen]
                afterOpen += 1
            }
            emitStrippedText(pos, tagStart, sign: sign, isVariable: kind == UInt8(ascii: "{"))
            pos = afterOpen
            lineStarting = false
            switch kind {
            case UInt8(ascii: "#"): try lexComment(tagStart)
            case UInt8(ascii: "{"):
                tokens.append(Token(kind: .variableBegin, offset: SourceOffset(tagStart)))
                try lexTag(variable: true)
            default:
                tokens.append(Token(kind: .blockBegin, offset: SourceOffset(tagStart)))
                try lexTag(variable: false)
            }
        }
        tokens.append(Token(kind: .eof, offset: SourceOffset(bytes.count)))
        return tokens
    }

    // MARK: - Text between tags

    /// The earliest `{{`, `{%` or `{#` at or after `from`.
    private func nextTag(from: Int) -> (Int, UInt8)? {
        var i = from
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "{") {
                let c = bytes[i + 1]
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "%") || c == UInt8(ascii: "#") { return (i, c) }
            }
            i += 1
        }
        return nil
    }

    private mutating func emitData(_ start: Int, _ end: Int) {
        guard end > start else { return }
        tokens.append(Token(kind: .data(String(decoding: bytes[start..<end], as: UTF8.self)), offset: SourceOffset(start)))
    }

    /// Emits the text before a tag, applying `-` (strip all trailing whitespace) or `lstrip_blocks`.
    private mutating func emitStrippedText(_ start: Int, _ end: Int, sign: UInt8, isVariable: Bool) {
        var cut = end
        if sign == UInt8(ascii: "-") {
            while cut > start {
                let s = scalarStart(before: cut)
                guard isPySpace(decodeScalar(at: s)) else { break }
                cut = s
            }
        } else if sign != UInt8(ascii: "+"), lstripBlocks, !isVariable {
            var lineStart = start
            if let nl = bytes[start..<end].lastIndex(of: UInt8(ascii: "\n")) { lineStart = nl + 1 }
            if lineStart > start || lineStarting, lineStart < end, allSpace(lineStart, end) { cut = lineStart }
        }
        emitData(start, cut)
    }

    private func allSpace(_ start: Int, _ end: Int) -> Bool {
        var i = start
        while i < end {
            let n = spaceLength(at: i)
            if n == 0 { return false }
            i += n
        }
        return true
    }

    // MARK: - Comments and raw blocks

    private mutating func lexComment(_ tagStart: Int) throws {
        var i = pos
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "+"), has("#}", at: i + 1) {
                finishTag(at: i + 3)
                return
            }
            if bytes[i] == UInt8(ascii: "-"), has("#}", at: i + 1) {
                finishTag(at: skipSpace(from: i + 3))
                return
            }
            if has("#}", at: i) {
                var end = i + 2
                if trimBlocks, end < bytes.count, bytes[end] == UInt8(ascii: "\n") { end += 1 }
                finishTag(at: end)
                return
            }
            i += 1
        }
        throw PendingError(.syntax, at: SourceOffset(tagStart), "Missing end of comment tag", fix: "close the comment with #}")
    }

    /// `{%(-|+|)\s*raw\s*(-%}\s*|%})` at `i`.
    private func matchRawBegin(at i: Int) -> (end: Int, sign: UInt8)? {
        var j = i + 2
        var sign: UInt8 = 0
        if j < bytes.count, bytes[j] == UInt8(ascii: "-") || bytes[j] == UInt8(ascii: "+") { sign = bytes[j]; j += 1 }
        j = skipSpace(from: j)
        guard has("raw", at: j) else { return nil }
        j = skipSpace(from: j + 3)
        if has("-%}", at: j) { return (skipSpace(from: j + 3), sign) }
        if has("%}", at: j) { return (j + 2, sign) }
        return nil
    }

    /// Data up to `{% endraw %}` (with its own whitespace control), then past it.
    private mutating func lexRaw(from tagStart: Int) throws {
        var i = pos
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "{"), bytes[i + 1] == UInt8(ascii: "%") {
                var j = i + 2
                var sign: UInt8 = 0
                if j < bytes.count, bytes[j] == UInt8(ascii: "-") || bytes[j] == UInt8(ascii: "+") { sign = bytes[j]; j += 1 }
                j = skipSpace(from: j)
                if has("endraw", at: j) {
                    j = skipSpace(from: j + 6)
                    var end: Int? = nil
                    if has("+%}", at: j) {
                        end = j + 3
                    } else if has("-%}", at: j) {
                        end = skipSpace(from: j + 3)
                    } else if has("%}", at: j) {
                        end = j + 2
                        if trimBlocks, end! < bytes.count, bytes[end!] == UInt8(ascii: "\n") { end! += 1 }
                    }
                    if let end {
                        emitStrippedText(pos, i, sign: sign, isVariable: false)
                        finishTag(at: end)
                        return
                    }
                }
            }
            i += 1
        }
        throw PendingError(.syntax, at: SourceOffset(tagStart), "Missing end of raw directive", fix: "close it with {% endraw %}")
    }

    private mutating func finishTag(at end: Int) {
        pos = end
        lineStarting = end > 0 && bytes[end - 1] == UInt8(ascii: "\n")
    }

    // MARK: - Inside {{ … }} and {% … %}

    private mutating func lexTag(variable: Bool) throws {
        var balance: [UInt8] = []
        while pos < bytes.count {
            if balance.isEmpty, let end = matchTagEnd(variable: variable) {
                tokens.append(Token(kind: variable ? .variableEnd : .blockEnd, offset: SourceOffset(pos)))
                finishTag(at: end)
                return
            }
            let n = spaceLength(at: pos)
            if n > 0 {
                pos = skipSpace(from: pos)
                continue
            }
            let start = pos
            if let (end, value) = matchFloat(at: pos) {
                tokens.append(Token(kind: .float(value), offset: SourceOffset(start)))
                pos = end
            } else if let (end, value) = try matchInteger(at: pos) {
                tokens.append(Token(kind: .integer(value), offset: SourceOffset(start)))
                pos = end
            } else if let end = matchName(at: pos) {
                let name = String(decoding: bytes[pos..<end], as: UTF8.self)
                guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else {
                    throw PendingError(.syntax, at: SourceOffset(start), "Invalid character in identifier")
                }
                tokens.append(Token(kind: .name(name), offset: SourceOffset(start)))
                pos = end
            } else if let end = matchString(at: pos) {
                let raw = String(decoding: bytes[(pos + 1)..<(end - 1)], as: UTF8.self)
                let value = try unescapePythonString(raw, at: SourceOffset(start))
                tokens.append(Token(kind: .string(value), offset: SourceOffset(start)))
                pos = end
            } else if let op = matchOperator(at: pos) {
                switch op {
                case "{": balance.append(UInt8(ascii: "}"))
                case "(": balance.append(UInt8(ascii: ")"))
                case "[": balance.append(UInt8(ascii: "]"))
                case "}", ")", "]":
                    guard let expected = balance.popLast() else {
                        throw PendingError(.syntax, at: SourceOffset(start), "unexpected '\(op)'")
                    }
                    guard expected == op.utf8.first! else {
                        throw PendingError(.syntax, at: SourceOffset(start),
                                           "unexpected '\(op)', expected '\(Character(Unicode.Scalar(expected)))'")
                    }
                default: break
                }
                tokens.append(Token(kind: .op(op), offset: SourceOffset(start)))
                pos += op.utf8.count
            } else {
                let c = decodeScalar(at: pos)
                let index = bytes[0..<pos].filter { $0 & 0xC0 != 0x80 }.count
                throw PendingError(.syntax, at: SourceOffset(start), "unexpected char \(pyRepr(string: String(Character(c)))) at \(index)",
                                   fix: "check the quoting and the operators inside the tag")
            }
        }
    }

    /// The end of `}}` / `-}}` (and following whitespace), or `%}` / `-%}` / `+%}` (with `trim_blocks`).
    private func matchTagEnd(variable: Bool) -> Int? {
        if variable {
            if has("-}}", at: pos) { return skipSpace(from: pos + 3) }
            if has("}}", at: pos) { return pos + 2 }
            return nil
        }
        if has("+%}", at: pos) { return pos + 3 }
        if has("-%}", at: pos) { return skipSpace(from: pos + 3) }
        if has("%}", at: pos) {
            if trimBlocks, pos + 2 < bytes.count, bytes[pos + 2] == UInt8(ascii: "\n") { return pos + 3 }
            return pos + 2
        }
        return nil
    }

    // MARK: - Literals and names

    private func isDigit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 }

    /// `\d+(_\d+)*` from `i`, or nil.
    private func matchDigitRun(at i: Int) -> Int? {
        guard isDigit(i) else { return nil }
        var j = i
        while true {
            while isDigit(j) { j += 1 }
            if j < bytes.count, bytes[j] == UInt8(ascii: "_"), isDigit(j + 1) { j += 1 } else { break }
        }
        return j
    }

    private func matchExponent(at i: Int) -> Int? {
        guard i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") else { return nil }
        var j = i + 1
        if j < bytes.count, bytes[j] == UInt8(ascii: "+") || bytes[j] == UInt8(ascii: "-") { j += 1 }
        return matchDigitRun(at: j)
    }

    private func matchFloat(at i: Int) -> (Int, Double)? {
        if i > 0, bytes[i - 1] == UInt8(ascii: ".") { return nil }
        guard let mantissa = matchDigitRun(at: i) else { return nil }
        var end: Int? = nil
        if mantissa < bytes.count, bytes[mantissa] == UInt8(ascii: "."), let fraction = matchDigitRun(at: mantissa + 1) {
            end = matchExponent(at: fraction) ?? fraction
        } else {
            end = matchExponent(at: mantissa)
        }
        guard let end else { return nil }
        let text = String(decoding: bytes[i..<end].filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        return (end, Double(text) ?? .infinity)
    }

    private func matchInteger(at i: Int) throws -> (Int, Int)? {
        guard isDigit(i) else { return nil }
        var end = i
        var radix = 10
        var digitsStart = i
        func run(from: Int, _ accept: (UInt8) -> Bool) -> Int? {
            // `(_?[digits])+`
            var j = from
            var any = false
            while true {
                var k = j
                if k < bytes.count, bytes[k] == UInt8(ascii: "_") { k += 1 }
                if k < bytes.count, accept(bytes[k]) { j = k + 1; any = true } else { break }
            }
            return any ? j : nil
        }
        let next = i + 1 < bytes.count ? bytes[i + 1] | 0x20 : 0
        if bytes[i] == UInt8(ascii: "0"), next == UInt8(ascii: "b"), let e = run(from: i + 2, { $0 == 0x30 || $0 == 0x31 }) {
            end = e; radix = 2; digitsStart = i + 2
        } else if bytes[i] == UInt8(ascii: "0"), next == UInt8(ascii: "o"), let e = run(from: i + 2, { $0 >= 0x30 && $0 <= 0x37 }) {
            end = e; radix = 8; digitsStart = i + 2
        } else if bytes[i] == UInt8(ascii: "0"), next == UInt8(ascii: "x"),
                  let e = run(from: i + 2, { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }) {
            end = e; radix = 16; digitsStart = i + 2
        } else if bytes[i] == UInt8(ascii: "0") {
            end = run(from: i + 1, { $0 == 0x30 }) ?? (i + 1)
        } else {
            end = run(from: i + 1, { $0 >= 0x30 && $0 <= 0x39 }) ?? (i + 1)
        }
        let text = String(decoding: bytes[digitsStart..<end].filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        guard let value = Int(text, radix: radix) else {
            throw PendingError(.unsupported, at: SourceOffset(i), "integer literal \(text) does not fit in 64 bits",
                               fix: "use a smaller number")
        }
        return (end, value)
    }

    private func isNameByte(at i: Int, first: Bool) -> Int {
        guard i < bytes.count else { return 0 }
        let b = bytes[i]
        if b < 0x80 {
            let isLetter = (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == UInt8(ascii: "_")
            return isLetter || (!first && b >= 0x30 && b <= 0x39) ? 1 : 0
        }
        let u = decodeScalar(at: i)
        let ok: Bool
        switch u.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .connectorPunctuation, .decimalNumber: ok = !first || isPyWordCharacter(u)
        default: ok = isPyWordCharacter(u)
        }
        return ok ? String(Character(u)).utf8.count : 0
    }

    private func matchName(at i: Int) -> Int? {
        var j = i
        var n = isNameByte(at: j, first: true)
        guard n > 0 else { return nil }
        while n > 0 {
            j += n
            n = isNameByte(at: j, first: false)
        }
        return j
    }

    /// A quoted string with backslash escapes (it may span lines); the end past the closing quote.
    private func matchString(at i: Int) -> Int? {
        let q = bytes[i]
        guard q == UInt8(ascii: "'") || q == UInt8(ascii: "\"") else { return nil }
        var j = i + 1
        while j < bytes.count {
            if bytes[j] == UInt8(ascii: "\\") { j += 2; continue }
            if bytes[j] == q { return j + 1 }
            j += 1
        }
        return nil
    }

    private static let operators2 = ["//", "**", "==", "!=", "<=", ">="]
    private static let operators1: Set<UInt8> = Set("+-/*%~[](){}<>=.:|,;".utf8)

    private func matchOperator(at i: Int) -> String? {
        for op in Lexer.operators2 where has(op, at: i) { return op }
        if Lexer.operators1.contains(bytes[i]) { return String(Character(Unicode.Scalar(bytes[i]))) }
        return nil
    }

    // MARK: - Bytes

    private func has(_ s: StaticString, at i: Int) -> Bool {
        let n = s.utf8CodeUnitCount
        guard i >= 0, i + n <= bytes.count else { return false }
        let p = s.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { return false }
        return true
    }

    private func has(_ s: String, at i: Int) -> Bool {
        let u = Array(s.utf8)
        guard i >= 0, i + u.count <= bytes.count else { return false }
        for k in 0..<u.count where bytes[i + k] != u[k] { return false }
        return true
    }

    /// The scalar starting at byte `i` (the source is valid UTF-8).
    private func decodeScalar(at i: Int) -> Unicode.Scalar {
        let b0 = UInt32(bytes[i])
        var value: UInt32, n: Int
        if b0 < 0x80 { return Unicode.Scalar(UInt8(b0)) }
        if b0 >> 5 == 0x6 { value = b0 & 0x1F; n = 1 } else if b0 >> 4 == 0xE { value = b0 & 0x0F; n = 2 } else { value = b0 & 0x07; n = 3 }
        for k in 1...n where i + k < bytes.count { value = value << 6 | (UInt32(bytes[i + k]) & 0x3F) }
        return Unicode.Scalar(value) ?? "\u{FFFD}"
    }

    private func scalarStart(before end: Int) -> Int {
        var s = end - 1
        while s > 0, bytes[s] & 0xC0 == 0x80 { s -= 1 }
        return s
    }

    /// Byte length of the whitespace scalar at `i`, or 0.
    private func spaceLength(at i: Int) -> Int {
        guard i < bytes.count else { return 0 }
        if bytes[i] < 0x80 { return isPySpace(Unicode.Scalar(bytes[i])) ? 1 : 0 }
        let u = decodeScalar(at: i)
        return isPySpace(u) ? String(Character(u)).utf8.count : 0
    }

    private func skipSpace(from i: Int) -> Int {
        var j = i
        while true {
            let n = spaceLength(at: j)
            if n == 0 { return j }
            j += n
        }
    }
}

/// Python's `unicode-escape` decoding of a string literal's body, as Jinja2 applies it.
func unescapePythonString(_ raw: String, at offset: SourceOffset) throws -> String {
    guard raw.unicodeScalars.contains("\\") else { return raw }
    let u = raw.scalarArray
    var out = String.UnicodeScalarView()
    var i = 0
    /// `count` hex digits starting at `from`.
    func hex(_ from: Int, _ count: Int, _ what: String) throws -> UInt32 {
        var v: UInt32 = 0
        for j in from..<(from + count) {
            guard j < u.count, u[j].isASCII, let d = UInt32(String(u[j]), radix: 16) else {
                throw PendingError(.syntax, at: offset, "truncated \(what) escape", fix: "write \(what) with \(count) hex digits")
            }
            v = v << 4 | d
        }
        return v
    }
    while i < u.count {
        let c = u[i]
        guard c == "\\", i + 1 < u.count else {
            out.append(c)
            i += 1
            continue
        }
        let e = u[i + 1]
        switch e {
        case "\n": i += 2
        case "\\", "'", "\"": out.append(e); i += 2
        case "a": out.append("\u{07}"); i += 2
        case "b": out.append("\u{08}"); i += 2
        case "f": out.append("\u{0C}"); i += 2
        case "n": out.append("\n"); i += 2
        case "r": out.append("\r"); i += 2
        case "t": out.append("\t"); i += 2
        case "v": out.append("\u{0B}"); i += 2
        case "0"..."7":
            var v: UInt32 = 0, j = i + 1
            while j < u.count, j < i + 4, ("0"..."7").contains(u[j]) { v = v * 8 + (u[j].value - 0x30); j += 1 }
            out.append(Unicode.Scalar(v)!)
            i = j
        case "x", "u", "U":
            let count = e == "x" ? 2 : e == "u" ? 4 : 8
            let v = try hex(i + 2, count, "\\\(e)" + String(repeating: "X", count: count))
            guard let scalar = Unicode.Scalar(v) else {
                if v >= 0xD800 && v <= 0xDFFF {
                    throw PendingError(.unsupported, at: offset, "a lone surrogate escape (\\u\(String(v, radix: 16))) cannot be represented",
                                       fix: "write the character itself or its \\U escape")
                }
                throw PendingError(.syntax, at: offset, "illegal Unicode character")
            }
            out.append(scalar)
            i += 2 + count
        case "N":
            throw PendingError(.unsupported, at: offset, "\\N{…} escapes are not supported", fix: "write the character itself")
        default:
            out.append(c)
            i += 1
        }
    }
    return String(out)
}
