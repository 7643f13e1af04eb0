import Foundation

/// Python `str()` of a value: what `{{ x }}` prints. Undefined prints as nothing; containers print their items'
/// `repr()` (`['a', 1]`, `{'k': None}`, `(1,)`).
func stringify(_ v: Value) -> String {
    switch v {
    case .undefined: return ""
    case .none: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let i): return String(i)
    case .double(let d): return pyFloatRepr(d)
    case .string(let s), .markup(let s): return s
    case .list(let items): return "[" + items.map(pyRepr).joined(separator: ", ") + "]"
    case .tuple(let items):
        return items.count == 1 ? "(" + pyRepr(items[0]) + ",)" : "(" + items.map(pyRepr).joined(separator: ", ") + ")"
    case .dict(let d):
        var parts: [String] = []
        parts.reserveCapacity(d.count)
        for (k, value) in zip(d.keys, d.values) { parts.append(pyRepr(k) + ": " + pyRepr(value)) }
        return "{" + parts.joined(separator: ", ") + "}"
    case .object(let o): return o.repr
    }
}

/// Python `repr()` of a value.
func pyRepr(_ v: Value) -> String {
    switch v {
    case .string(let s): return pyRepr(string: s)
    case .markup(let s): return "Markup(" + pyRepr(string: s) + ")"
    case .undefined: return "Undefined"
    default: return stringify(v)
    }
}

/// markupsafe's `escape`: `& < > ' "` as HTML entities.
func htmlEscape(_ s: String) -> String {
    guard s.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x27 || $0 == 0x22 }) else { return s }
    var out = ""
    out.reserveCapacity(s.utf8.count + 16)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "'": out += "&#39;"
        case "\"": out += "&#34;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}

/// markupsafe's `escape` of any value: a safe string stays as it is, anything else is `str()`-ed and escaped.
func escapeValue(_ v: Value) -> Value {
    if case .markup = v { return v }
    return .markup(htmlEscape(stringify(v)))
}
