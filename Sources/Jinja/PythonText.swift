import Foundation

// Python's `str` semantics, which chat templates rely on: code-point indexing, Unicode whitespace, `split`,
// `strip`, `title`, `repr` quoting and float formatting.

/// Python's `str.isspace()` for one code point (what `\s`, `strip()` and `split()` treat as whitespace).
@inline(__always)
func isPySpace(_ u: Unicode.Scalar) -> Bool {
    switch u.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

/// Python's line boundaries for `str.splitlines()`.
@inline(__always)
func isPyLineBreak(_ u: Unicode.Scalar) -> Bool {
    switch u.value {
    case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
    default: return false
    }
}

extension String {
    /// The code points, as Python indexes a string.
    var scalarArray: [Unicode.Scalar] { Array(unicodeScalars) }

    init(scalars: some Sequence<Unicode.Scalar>) {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        self = String(view)
    }

    /// Python `len()`.
    var pyLength: Int { unicodeScalars.count }
}

func pyStrip(_ s: String, _ chars: String?, left: Bool = true, right: Bool = true) -> String {
    let u = s.unicodeScalars
    let set = chars.map { Set($0.unicodeScalars) }
    func strippable(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isPySpace(c) }
    var start = u.startIndex, end = u.endIndex
    if left { while start < end, strippable(u[start]) { start = u.index(after: start) } }
    if right {
        while end > start {
            let before = u.index(before: end)
            guard strippable(u[before]) else { break }
            end = before
        }
    }
    return String(u[start..<end])
}

/// Python `str.split(sep, maxsplit)`; `sep == nil` splits on runs of whitespace and drops empty ends.
func pySplit(_ s: String, _ sep: String?, maxsplit: Int = -1) -> [String]? {
    let u = s.scalarArray
    var out: [String] = []
    guard let sep else {
        var i = 0, splits = 0
        while i < u.count {
            while i < u.count, isPySpace(u[i]) { i += 1 }
            if i == u.count { break }
            if maxsplit >= 0, splits == maxsplit {
                // The rest, leading whitespace skipped and trailing whitespace kept, as Python does.
                out.append(String(scalars: u[i...]))
                return out
            }
            let start = i
            while i < u.count, !isPySpace(u[i]) { i += 1 }
            out.append(String(scalars: u[start..<i]))
            splits += 1
        }
        return out
    }
    let p = sep.scalarArray
    guard !p.isEmpty else { return nil }
    var start = 0, i = 0, splits = 0
    while i + p.count <= u.count {
        if maxsplit >= 0, splits == maxsplit { break }
        if u[i] == p[0], Array(u[i..<(i + p.count)]) == p {
            out.append(String(scalars: u[start..<i]))
            i += p.count
            start = i
            splits += 1
        } else {
            i += 1
        }
    }
    out.append(String(scalars: u[start...]))
    return out
}

/// Python `str.rsplit(sep, maxsplit)`.
func pyRSplit(_ s: String, _ sep: String?, maxsplit: Int = -1) -> [String]? {
    if maxsplit < 0 { return pySplit(s, sep, maxsplit: -1) }
    let u = s.scalarArray
    var out: [String] = []
    guard let sep else {
        var i = u.count, splits = 0
        while i > 0 {
            while i > 0, isPySpace(u[i - 1]) { i -= 1 }
            if i == 0 { break }
            if splits == maxsplit {
                out.append(String(scalars: u[0..<i]))
                return out.reversed()
            }
            let end = i
            while i > 0, !isPySpace(u[i - 1]) { i -= 1 }
            out.append(String(scalars: u[i..<end]))
            splits += 1
        }
        return out.reversed()
    }
    let p = sep.scalarArray
    guard !p.isEmpty else { return nil }
    var end = u.count, i = u.count - p.count, splits = 0
    while i >= 0 {
        if splits == maxsplit { break }
        if Array(u[i..<(i + p.count)]) == p {
            out.append(String(scalars: u[(i + p.count)..<end]))
            end = i
            i -= p.count
            splits += 1
        } else {
            i -= 1
        }
    }
    out.append(String(scalars: u[0..<end]))
    return out.reversed()
}

/// Python `str.splitlines(keepends)`.
func pySplitlines(_ s: String, keepends: Bool = false) -> [String] {
    let u = s.scalarArray
    var out: [String] = []
    var start = 0, i = 0
    while i < u.count {
        if isPyLineBreak(u[i]) {
            var next = i + 1
            if u[i] == "\r", next < u.count, u[next] == "\n" { next += 1 }
            out.append(String(scalars: u[start..<(keepends ? next : i)]))
            start = next
            i = next
        } else {
            i += 1
        }
    }
    if start < u.count { out.append(String(scalars: u[start...])) }
    return out
}

/// Python `str.replace(old, new, count)`; an empty `old` inserts `new` around every code point.
func pyReplace(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
    if old.isEmpty {
        let u = s.scalarArray
        var out = "", done = 0
        for c in u {
            if count < 0 || done < count { out += new; done += 1 }
            out.unicodeScalars.append(c)
        }
        if count < 0 || done < count { out += new }
        return out
    }
    // On UTF-8 bytes: a valid UTF-8 needle only matches at scalar boundaries, so this is scalar-exact.
    return replaceBytes(s, old, new, limit: count < 0 ? Int.max : count)
}

private func replaceBytes(_ s: String, _ old: String, _ new: String, limit: Int) -> String {
    let hay = Array(s.utf8), needle = Array(old.utf8)
    guard needle.count <= hay.count else { return s }
    var out: [UInt8] = []
    out.reserveCapacity(hay.count)
    var i = 0, done = 0
    let first = needle[0]
    while i < hay.count {
        if done < limit, hay[i] == first, i + needle.count <= hay.count, hay[i..<(i + needle.count)].elementsEqual(needle) {
            out.append(contentsOf: new.utf8)
            i += needle.count
            done += 1
        } else {
            out.append(hay[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Python `str.count(sub)`: non-overlapping occurrences; an empty `sub` counts `len + 1`.
func pyCount(_ s: String, _ sub: String) -> Int {
    if sub.isEmpty { return s.pyLength + 1 }
    let hay = Array(s.utf8), needle = Array(sub.utf8)
    var i = 0, n = 0
    while i + needle.count <= hay.count {
        if hay[i..<(i + needle.count)].elementsEqual(needle) { n += 1; i += needle.count } else { i += 1 }
    }
    return n
}

/// Python `str.find(sub, start, end)` in code points; -1 when absent.
func pyFind(_ s: String, _ sub: String, start: Int? = nil, end: Int? = nil, reverse: Bool = false) -> Int {
    let u = s.scalarArray, p = sub.scalarArray
    let (lo, hi) = clampRange(start, end, count: u.count)
    guard hi - lo >= p.count else { return -1 }
    let candidates = reverse ? Array(stride(from: hi - p.count, through: lo, by: -1)) : Array(lo...(hi - p.count))
    for i in candidates where Array(u[i..<(i + p.count)]) == p { return i }
    return -1
}

/// Python's slice-index clamping of optional `start`/`end` for `find`, `startswith`…
func clampRange(_ start: Int?, _ end: Int?, count: Int) -> (Int, Int) {
    func clamp(_ v: Int?, _ def: Int) -> Int {
        guard var v else { return def }
        if v < 0 { v += count }
        return max(0, min(v, count))
    }
    return (clamp(start, 0), clamp(end, count))
}

func pyUpper(_ s: String) -> String { s.uppercased() }
func pyLower(_ s: String) -> String { s.lowercased() }

private func isCased(_ u: Unicode.Scalar) -> Bool {
    let p = u.properties
    return p.isLowercase || p.isUppercase || p.generalCategory == .titlecaseLetter
}

/// Python `str.title()`: a cased character after an uncased one is title-cased, other cased ones lowered.
func pyTitle(_ s: String) -> String {
    var out = "", previousCased = false
    for u in s.unicodeScalars {
        if previousCased { out += u.properties.lowercaseMapping } else { out += u.properties.titlecaseMapping }
        previousCased = isCased(u)
    }
    return out
}

/// Python `str.capitalize()`: first code point title-cased, the rest lowered.
func pyCapitalize(_ s: String) -> String {
    var out = "", first = true
    for u in s.unicodeScalars {
        out += first ? u.properties.titlecaseMapping : u.properties.lowercaseMapping
        first = false
    }
    return out
}

/// Python `str.islower()` / `str.isupper()`: every cased character in that case, and at least one.
func pyIsLower(_ s: String) -> Bool {
    var any = false
    for u in s.unicodeScalars where isCased(u) {
        if u.properties.isUppercase || u.properties.generalCategory == .titlecaseLetter { return false }
        any = true
    }
    return any
}

func pyIsUpper(_ s: String) -> Bool {
    var any = false
    for u in s.unicodeScalars where isCased(u) {
        if u.properties.isLowercase || u.properties.generalCategory == .titlecaseLetter { return false }
        any = true
    }
    return any
}

/// Characters Python's `\w` matches: letters, digits and numerals, underscore.
func isPyWordCharacter(_ u: Unicode.Scalar) -> Bool {
    if u == "_" { return true }
    switch u.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
         .decimalNumber, .letterNumber, .otherNumber:
        return true
    default:
        return false
    }
}

/// Python's `str.isprintable()` for one code point.
func isPyPrintable(_ u: Unicode.Scalar) -> Bool {
    if u == " " { return true }
    switch u.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
        return false
    default:
        return true
    }
}

/// Python `repr()` of a string: single quotes unless the text has a single quote and no double quote.
func pyRepr(string s: String) -> String {
    let hasSingle = s.unicodeScalars.contains("'"), hasDouble = s.unicodeScalars.contains("\"")
    let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
    var out = String.UnicodeScalarView()
    out.append(quote)
    for u in s.unicodeScalars {
        switch u {
        case quote, "\\": out.append("\\"); out.append(u)
        case "\t": out.append(contentsOf: "\\t".unicodeScalars)
        case "\n": out.append(contentsOf: "\\n".unicodeScalars)
        case "\r": out.append(contentsOf: "\\r".unicodeScalars)
        default:
            if u.value < 0x20 || u.value == 0x7F {
                out.append(contentsOf: String(format: "\\x%02x", u.value).unicodeScalars)
            } else if u.value < 0x7F || isPyPrintable(u) {
                out.append(u)
            } else if u.value <= 0xFF {
                out.append(contentsOf: String(format: "\\x%02x", u.value).unicodeScalars)
            } else if u.value <= 0xFFFF {
                out.append(contentsOf: String(format: "\\u%04x", u.value).unicodeScalars)
            } else {
                out.append(contentsOf: String(format: "\\U%08x", u.value).unicodeScalars)
            }
        }
    }
    out.append(quote)
    return String(out)
}

/// Shortest round-trip digits of a finite, non-zero double and its decimal point position:
/// value = 0.d1d2… × 10^decimalPoint.
func shortestDigits(_ d: Double) -> (digits: [UInt8], decimalPoint: Int) {
    // Swift's description is the shortest round-trip representation, like Python's repr; only its layout differs.
    var text = Array(abs(d).description.utf8)
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
        exponent = Int(String(decoding: text[(e + 1)...], as: UTF8.self)) ?? 0
        text = Array(text[..<e])
    }
    var digits: [UInt8] = []
    var pointAt: Int? = nil
    for c in text {
        if c == UInt8(ascii: ".") { pointAt = digits.count } else { digits.append(c - UInt8(ascii: "0")) }
    }
    var decimalPoint = (pointAt ?? digits.count) + exponent
    while let f = digits.first, f == 0, digits.count > 1 { digits.removeFirst(); decimalPoint -= 1 }
    while let l = digits.last, l == 0, digits.count > 1 { digits.removeLast() }
    return (digits, decimalPoint)
}

/// Python `repr(float)`: shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16, else exponent form.
func pyFloatRepr(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
    let (digits, point) = shortestDigits(d)
    let sign = d < 0 ? "-" : ""
    let ds = digits.map { String($0) }.joined()
    if point <= -4 || point > 16 {
        let exp = point - 1
        let mantissa = digits.count == 1 ? ds : String(ds.prefix(1)) + "." + String(ds.dropFirst())
        let e = abs(exp) < 10 ? "0\(abs(exp))" : "\(abs(exp))"
        return "\(sign)\(mantissa)e\(exp < 0 ? "-" : "+")\(e)"
    }
    if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + ds }
    if point >= digits.count { return sign + ds + String(repeating: "0", count: point - digits.count) + ".0" }
    return sign + String(ds.prefix(point)) + "." + String(ds.dropFirst(point))
}
