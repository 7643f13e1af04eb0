import Foundation

/// A built-in filter: `value|name(args)`.
typealias FilterFunction = @Sendable (_ interpreter: Interpreter, _ value: Value, _ args: Arguments, _ offset: SourceOffset) throws -> Value

/// Jinja2's filters that this interpreter implements, with transformers' `tojson`.
let builtinFilters: [String: FilterFunction] = textFilters.merging(collectionFilters) { a, _ in a }

/// Jinja2 filters that exist but are refused (a template using one fails to parse with a message naming it).
let unsupportedFilters: Set<String> = ["filesizeformat", "groupby", "pprint", "random", "striptags", "urlencode",
                                       "urlize", "wordwrap", "xmlattr"]

extension Interpreter {
    func applyFilter(_ name: String, _ value: Value, _ args: Arguments, _ scope: Scope?, at offset: SourceOffset) throws -> Value {
        guard let f = builtinFilters[name] else {
            if unsupportedFilters.contains(name) {
                throw PendingError(.unsupported, at: offset, "the '\(name)' filter is not supported",
                                   fix: "chat templates rarely need it; rewrite that part of the template")
            }
            throw PendingError(.runtime, at: offset, "No filter named '\(name)' found.", fix: "check the filter's spelling")
        }
        return try f(self, value, args, offset)
    }
}

// MARK: - Argument helpers

func intArgument(_ v: Value?, _ fallback: Int, _ what: String, at offset: SourceOffset) throws -> Int {
    guard let v else { return fallback }
    guard let i = v.intValue else {
        throw PendingError(.runtime, at: offset, "'\(v.typeName)' object cannot be interpreted as an integer", fix: "\(what) must be an integer")
    }
    return i
}

func stringArgument(_ v: Value?, _ fallback: String, _ what: String, at offset: SourceOffset) throws -> String {
    guard let v else { return fallback }
    guard let s = v.stringValue else {
        throw PendingError(.runtime, at: offset, "\(what) must be str, not \(v.typeName)")
    }
    return s
}

/// A text result that stays a safe string when the input was one (markupsafe's `Markup` methods do).
func text(_ s: String, like original: Value) -> Value {
    if case .markup = original { return .markup(s) }
    return .string(s)
}

/// `soft_str`: the text of a value (a safe string stays what it is).
func softText(_ v: Value) -> String { v.stringValue ?? stringify(v) }

// MARK: - Text and number filters

private let textFilters: [String: FilterFunction] = [
    "upper": { _, v, a, o in _ = try a.bind("upper", [], at: o); return text(pyUpper(softText(v)), like: v) },
    "lower": { _, v, a, o in _ = try a.bind("lower", [], at: o); return text(pyLower(softText(v)), like: v) },
    "capitalize": { _, v, a, o in _ = try a.bind("capitalize", [], at: o); return text(pyCapitalize(softText(v)), like: v) },
    "title": { _, v, a, o in
        _ = try a.bind("title", [], at: o)
        return .string(jinjaTitle(softText(v)))
    },
    "trim": { _, v, a, o in
        let p = try a.bind("trim", ["chars"], at: o)
        let chars: String? = p[0].flatMap { $0.isNone ? nil : $0.stringValue }
        if let c = p[0], !c.isNone, c.stringValue == nil {
            throw PendingError(.runtime, at: o, "strip arg must be None or str")
        }
        return text(pyStrip(softText(v), chars), like: v)
    },
    "replace": { _, v, a, o in
        let p = try a.bind("replace", ["old", "new", "count"], at: o)
        guard let old = p[0], let new = p[1] else {
            throw PendingError(.runtime, at: o, "replace() missing required arguments 'old' and 'new'")
        }
        let count = try p[2].flatMap { $0.isNone ? nil : try intArgument($0, -1, "count", at: o) } ?? -1
        return .string(pyReplace(stringify(v), stringify(old), stringify(new), count: count))
    },
    "center": { _, v, a, o in
        let p = try a.bind("center", ["width"], at: o)
        return text(pyPad(softText(v), width: try intArgument(p[0], 80, "width", at: o), align: .center), like: v)
    },
    "indent": { _, v, a, o in
        let p = try a.bind("indent", ["width", "first", "blank"], at: o)
        var indention = "    "
        if let w = p[0] {
            if let s = w.stringValue { indention = s } else { indention = String(repeating: " ", count: max(0, try intArgument(w, 4, "width", at: o))) }
        }
        return text(jinjaIndent(softText(v), indention, first: p[1]?.isTruthy ?? false, blank: p[2]?.isTruthy ?? false), like: v)
    },
    "truncate": { _, v, a, o in
        let p = try a.bind("truncate", ["length", "killwords", "end", "leeway"], at: o)
        let length = try intArgument(p[0], 255, "length", at: o)
        let end = try stringArgument(p[2], "...", "end", at: o)
        let leeway = try intArgument(p[3].flatMap { $0.isNone ? nil : $0 }, 5, "leeway", at: o)
        guard length >= end.pyLength else { throw PendingError(.runtime, at: o, "expected length >= \(end.pyLength), got \(length)") }
        guard leeway >= 0 else { throw PendingError(.runtime, at: o, "expected leeway >= 0, got \(leeway)") }
        let s = softText(v), u = s.scalarArray
        if u.count <= length + leeway { return text(s, like: v) }
        let head = String(scalars: u[0..<(length - end.pyLength)])
        if p[1]?.isTruthy ?? false { return text(head + end, like: v) }
        let cut = pyRSplit(head, " ", maxsplit: 1)?.first ?? head
        return text(cut + end, like: v)
    },
    "wordcount": { _, v, a, o in
        _ = try a.bind("wordcount", [], at: o)
        var count = 0, inWord = false
        for u in softText(v).unicodeScalars {
            let w = isPyWordCharacter(u)
            if w, !inWord { count += 1 }
            inWord = w
        }
        return .int(count)
    },
    "string": { _, v, a, o in
        _ = try a.bind("string", [], at: o)
        if case .markup = v { return v }
        return .string(stringify(v))
    },
    "safe": { _, v, a, o in
        _ = try a.bind("safe", [], at: o)
        if case .markup = v { return v }
        return .markup(stringify(v))
    },
    "escape": { _, v, a, o in _ = try a.bind("escape", [], at: o); return escapeValue(v) },
    "e": { _, v, a, o in _ = try a.bind("e", [], at: o); return escapeValue(v) },
    "forceescape": { _, v, a, o in _ = try a.bind("forceescape", [], at: o); return .markup(htmlEscape(stringify(v))) },
    "format": { i, v, a, o in
        if !a.positional.isEmpty, !a.keywords.isEmpty {
            throw PendingError(.runtime, at: o, "can't handle positional and keyword arguments at the same time")
        }
        let operand: Value
        if !a.keywords.isEmpty {
            var d = ValueDictionary()
            for (k, x) in a.keywords { d[k] = x }
            operand = .dict(d)
        } else {
            operand = .tuple(a.positional)
        }
        let s = softText(v)
        let result = try i.printfFormat(s, operand, escape: { if case .markup = v { return htmlEscape($0) } else { return $0 } }, at: o)
        return text(result, like: v)
    },
    "tojson": { i, v, a, o in .string(try JSONDumper(a, at: o, i).dump(v)) },
    "default": { _, v, a, o in try defaultFilter("default", v, a, o) },
    "d": { _, v, a, o in try defaultFilter("d", v, a, o) },
    "abs": { i, v, a, o in
        _ = try a.bind("abs", [], at: o)
        switch v {
        case .int, .bool:
            let x = v.intValue!
            if x == Int.min { throw i.overflowError(at: o) }
            return .int(abs(x))
        case .double(let d): return .double(abs(d))
        case .undefined(let u): throw i.undefinedError(u, at: o)
        default: throw PendingError(.runtime, at: o, "bad operand type for abs(): '\(v.typeName)'")
        }
    },
    "round": { i, v, a, o in
        let p = try a.bind("round", ["precision", "method"], at: o)
        let precision = try intArgument(p[0], 0, "precision", at: o)
        let method = try stringArgument(p[1], "common", "method", at: o)
        guard ["common", "ceil", "floor"].contains(method) else {
            throw PendingError(.runtime, at: o, "method must be common, ceil or floor")
        }
        if case .undefined(let u) = v, u.isUnsafe { throw i.undefinedError(u, at: o) }
        guard let x = v.numberValue else {
            throw PendingError(.runtime, at: o, "type \(v.typeName) doesn't define __round__ method")
        }
        if method == "common" {
            if let n = v.intValue { return .int(try roundInteger(n, precision, at: o)) }
            return .double(pyRound(x, precision))
        }
        let scale = Foundation.pow(10.0, Double(precision))
        return .double((method == "ceil" ? (x * scale).rounded(.up) : (x * scale).rounded(.down)) / scale)
    },
    "int": { i, v, a, o in
        let p = try a.bind("int", ["default", "base"], at: o)
        let fallback = p[0] ?? .int(0)
        let base = try intArgument(p[1], 10, "base", at: o)
        if case .undefined(let u) = v { throw i.undefinedError(u, at: o) }
        return toInt(v, base: base) ?? fallback
    },
    "float": { i, v, a, o in
        let p = try a.bind("float", ["default"], at: o)
        if case .undefined(let u) = v { throw i.undefinedError(u, at: o) }
        return toFloat(v).map { .double($0) } ?? (p[0] ?? .double(0))
    },
    "attr": { i, v, a, o in
        let p = try a.bind("attr", ["name"], at: o)
        guard let name = p[0]?.stringValue else { throw PendingError(.runtime, at: o, "attr() needs an attribute name") }
        if case .undefined(let u) = v { throw i.undefinedError(u, at: o) }
        return i.realAttribute(v, name) ?? .undefined(Undefined(missing: name, of: v))
    },
]

private func defaultFilter(_ name: String, _ v: Value, _ a: Arguments, _ o: SourceOffset) throws -> Value {
    let p = try a.bind(name, ["default_value", "boolean"], at: o)
    let fallback = p[0] ?? .string("")
    if v.isUndefined || ((p[1]?.isTruthy ?? false) && !v.isTruthy) { return fallback }
    return v
}

/// Jinja2's `title` filter: words start after `-`, whitespace or an opening bracket.
func jinjaTitle(_ s: String) -> String {
    var out = "", atWordStart = true
    for u in s.unicodeScalars {
        let isSeparator = u == "-" || isPySpace(u) || u == "(" || u == "{" || u == "[" || u == "<"
        if isSeparator {
            out.unicodeScalars.append(u)
            atWordStart = true
        } else if atWordStart {
            out += u.properties.uppercaseMapping
            atWordStart = false
        } else {
            out += u.properties.lowercaseMapping
        }
    }
    return out
}

/// Jinja2's `indent` filter (with its trailing-newline quirk).
func jinjaIndent(_ s: String, _ indention: String, first: Bool, blank: Bool) -> String {
    let lines = pySplitlines(s + "\n")
    var rv: String
    if blank {
        rv = lines.joined(separator: "\n" + indention)
    } else {
        rv = lines.first ?? ""
        let rest = lines.dropFirst()
        if !rest.isEmpty {
            rv += "\n" + rest.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n")
        }
    }
    return first ? indention + rv : rv
}

enum PadAlignment { case left, right, center }

/// Python's `str.center` / `ljust` / `rjust`.
func pyPad(_ s: String, width: Int, fill: Unicode.Scalar = " ", align: PadAlignment) -> String {
    let n = s.pyLength
    guard width > n else { return s }
    let margin = width - n
    let left: Int
    switch align {
    case .left: left = 0
    case .right: left = margin
    case .center: left = margin / 2 + (margin & width & 1)
    }
    let f = String(Character(fill))
    return String(repeating: f, count: left) + s + String(repeating: f, count: margin - left)
}

/// Python's `round(x, n)` for a float: correctly rounded, ties to even.
func pyRound(_ x: Double, _ n: Int) -> Double {
    guard x.isFinite else { return x }
    if n >= 0 {
        guard n <= 300 else { return x }
        return Double(String(format: "%.\(n)f", x)) ?? x
    }
    let scale = Foundation.pow(10.0, Double(-n))
    return (x / scale).rounded(.toNearestOrEven) * scale
}

private func roundInteger(_ n: Int, _ precision: Int, at o: SourceOffset) throws -> Int {
    guard precision < 0 else { return n }
    guard precision > -19 else { return 0 }
    var scale = 1
    for _ in 0..<(-precision) { scale *= 10 }
    let q = n / scale, r = n % scale
    var result = q
    if 2 * abs(r) > scale || (2 * abs(r) == scale && q % 2 != 0) { result += n < 0 ? -1 : 1 }
    let (v, overflow) = result.multipliedReportingOverflow(by: scale)
    if overflow { throw PendingError(.unsupported, at: o, "integer result beyond 64 bits") }
    return v
}

/// Jinja2's `int` filter conversion: `int(value, base)` for strings, else `int(value)`, else `int(float(value))`.
func toInt(_ v: Value, base: Int) -> Value? {
    switch v {
    case .int, .bool: return .int(v.intValue!)
    case .double(let d):
        guard d.isFinite, abs(d) < 9.2e18 else { return nil }
        return .int(Int(d))
    case .string(let s), .markup(let s):
        if let i = parsePythonInt(s, base: base) { return .int(i) }
        guard let d = parsePythonFloat(s), d.isFinite, abs(d) < 9.2e18 else { return nil }
        return .int(Int(d))
    default:
        return nil
    }
}

/// Python `float(value)`, or nil where it raises `TypeError`/`ValueError`.
func toFloat(_ v: Value) -> Double? {
    switch v {
    case .int, .bool, .double: return v.numberValue
    case .string(let s), .markup(let s): return parsePythonFloat(s)
    default: return nil
    }
}

/// Python `int(text, base)`: surrounding whitespace, a sign, `_` between digits, a prefix matching the base (any
/// prefix for base 0).
func parsePythonInt(_ text: String, base: Int) -> Int? {
    var s = pyStrip(text, nil).lowercased()
    var negative = false
    if s.hasPrefix("-") || s.hasPrefix("+") { negative = s.hasPrefix("-"); s.removeFirst() }
    var radix = base
    let prefixes: [(String, Int)] = [("0x", 16), ("0o", 8), ("0b", 2)]
    for (p, r) in prefixes where s.hasPrefix(p) && (base == 0 || base == r) {
        radix = r
        s.removeFirst(2)
        if s.hasPrefix("_") { s.removeFirst() }
        break
    }
    if radix == 0 {
        radix = 10
        if s.count > 1, s.allSatisfy({ $0 == "0" || $0 == "_" }) == false, s.hasPrefix("0") { return nil }
    }
    guard radix >= 2, radix <= 36, !s.isEmpty, !s.hasPrefix("_"), !s.hasSuffix("_"), !s.contains("__") else { return nil }
    guard let magnitude = Int(s.replacingOccurrences(of: "_", with: ""), radix: radix) else { return nil }
    return negative ? -magnitude : magnitude
}

/// Python `float(text)`: whitespace, sign, `inf`/`nan`, digits with `_` separators.
func parsePythonFloat(_ text: String) -> Double? {
    let s = pyStrip(text, nil)
    let lower = s.lowercased()
    var body = lower
    var sign = 1.0
    if body.hasPrefix("-") || body.hasPrefix("+") { sign = body.hasPrefix("-") ? -1 : 1; body.removeFirst() }
    if body == "inf" || body == "infinity" { return sign * .infinity }
    if body == "nan" { return .nan }
    guard !body.isEmpty, body.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "e" || $0 == "_" || $0 == "+" || $0 == "-") }),
          !body.hasPrefix("_"), !body.contains("__") else { return nil }
    let chars = Array(body)
    for (k, c) in chars.enumerated() where c == "_" {
        guard k > 0, k + 1 < chars.count, chars[k - 1].isNumber, chars[k + 1].isNumber else { return nil }
    }
    guard let d = Double(body.replacingOccurrences(of: "_", with: "")) else { return nil }
    return sign * d
}
