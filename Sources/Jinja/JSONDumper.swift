import Foundation

/// Python's `json.dumps`, as transformers' `tojson` filter calls it (`ensure_ascii=False` by default): the same
/// separators, indentation, escapes and float formatting, byte for byte.
struct JSONDumper {
    var ensureASCII = false
    /// nil: one line; otherwise each nesting level is indented by this string.
    var indent: String? = nil
    var itemSeparator = ", "
    var keySeparator = ": "
    var sortKeys = false

    /// Jinja2's `tojson(x, ensure_ascii, indent, separators, sort_keys)` arguments, transformers' signature.
    init(_ args: Arguments, at offset: SourceOffset, _ interpreter: Interpreter) throws {
        let p = try args.bind("tojson", ["ensure_ascii", "indent", "separators", "sort_keys"], at: offset)
        ensureASCII = p[0]?.isTruthy ?? false
        switch p[1] {
        case nil, .none?: indent = nil
        case .string(let s)?, .markup(let s)?: indent = s
        case let v? where v.intValue != nil: indent = String(repeating: " ", count: max(0, v.intValue!))
        case let v?:
            throw PendingError(.runtime, at: offset, "tojson indent must be an integer or a string, not \(v.typeName)")
        }
        if indent != nil { itemSeparator = "," }
        if let separators = p[2], !separators.isNone {
            // Python unpacks any two-item iterable: a tuple, a list, even a two-character string.
            let items = try interpreter.iterate(separators, at: offset)
            guard items.count == 2, let a = items[0].stringValue, let b = items[1].stringValue else {
                throw PendingError(.runtime, at: offset, "tojson separators must be two strings (item, key)")
            }
            itemSeparator = a
            keySeparator = b
        }
        sortKeys = p[3]?.isTruthy ?? false
        self.interpreter = interpreter
        self.offset = offset
    }

    private let interpreter: Interpreter?
    private let offset: SourceOffset

    init() {
        interpreter = nil
        offset = 0
    }

    func dump(_ v: Value) throws -> String {
        var out = ""
        try write(v, level: 0, into: &out)
        return out
    }

    private func notSerializable(_ v: Value) -> PendingError {
        PendingError(.runtime, at: offset, "Object of type \(v.typeName) is not JSON serializable",
                     fix: v.isUndefined ? "a value passed to tojson is undefined; check the key or guard it with `is defined`" : "")
    }

    private func write(_ v: Value, level: Int, into out: inout String) throws {
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += JSONDumper.floatText(d)
        case .string(let s), .markup(let s): writeString(s, into: &out)
        case .list(let items), .tuple(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            let (open, separator, close) = layout(level)
            out += open
            for (i, item) in items.enumerated() {
                if i > 0 { out += separator }
                try write(item, level: level + 1, into: &out)
            }
            out += close + "]"
        case .dict(let d):
            if d.isEmpty { out += "{}"; return }
            var pairs = Array(zip(d.keys, d.values))
            if sortKeys, let interpreter {
                var failure: Error? = nil
                pairs.sort { a, b in
                    do { return try interpreter.pyLess(a.0, b.0, at: offset) } catch { failure = error; return false }
                }
                if let failure { throw failure }
            }
            out += "{"
            let (open, separator, close) = layout(level)
            out += open
            for (i, (k, value)) in pairs.enumerated() {
                if i > 0 { out += separator }
                writeString(try keyText(k), into: &out)
                out += keySeparator
                try write(value, level: level + 1, into: &out)
            }
            out += close + "}"
        case .undefined, .object:
            throw notSerializable(v)
        }
    }

    /// Text after the opening bracket, between items, and before the closing bracket.
    private func layout(_ level: Int) -> (String, String, String) {
        guard let indent else { return ("", itemSeparator, "") }
        let inner = "\n" + String(repeating: indent, count: level + 1)
        let outer = "\n" + String(repeating: indent, count: level)
        return (inner, itemSeparator + inner, outer)
    }

    private func keyText(_ k: Value) throws -> String {
        switch k {
        case .string(let s), .markup(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return JSONDumper.floatText(d)
        case .bool(let b): return b ? "true" : "false"
        case .none: return "null"
        default:
            throw PendingError(.runtime, at: offset, "keys must be str, int, float, bool or None, not \(k.typeName)")
        }
    }

    static func floatText(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return pyFloatRepr(d)
    }

    private func writeString(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 || (ensureASCII && u.value > 0x7E) {
                    if u.value > 0xFFFF {
                        let v = u.value - 0x10000
                        out += String(format: "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                    } else {
                        out += String(format: "\\u%04x", u.value)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}
