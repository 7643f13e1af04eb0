import Foundation

// Python's two string formatters: `'%s items' % n` (printf style; also the `format` filter) and
// `'{} and {}'.format(a, b)` (the format mini-language, for the common field and spec forms).

extension Interpreter {
    /// Python's `format % operand`. `escape` is applied to `%s`/`%r` results (markupsafe escapes them for a safe
    /// format string).
    func printfFormat(_ format: String, _ operand: Value, escape: (String) -> String, at o: SourceOffset) throws -> String {
        var args: [Value]
        // Python takes any non-tuple operand with __getitem__ (dict, list, undefined) as a mapping: `%(key)s` looks
        // the key up in it and leftover arguments are not an error.
        var mapping: Value? = nil
        switch operand {
        case .tuple(let t): args = t
        case .dict, .list, .undefined: args = [operand]; mapping = operand
        default: args = [operand]
        }
        var next = 0
        func take() throws -> Value {
            guard next < args.count else { throw PendingError(.runtime, at: o, "not enough arguments for format string") }
            next += 1
            return args[next - 1]
        }
        let u = format.scalarArray
        var out = ""
        var i = 0
        var usedMapping = false
        while i < u.count {
            let c = u[i]
            guard c == "%" else { out.unicodeScalars.append(c); i += 1; continue }
            i += 1
            guard i < u.count else { throw PendingError(.runtime, at: o, "incomplete format") }
            var value: Value? = nil
            if u[i] == "(" {
                guard let mapping else { throw PendingError(.runtime, at: o, "format requires a mapping") }
                var depth = 1, j = i + 1
                while j < u.count, depth > 0 {
                    if u[j] == "(" { depth += 1 } else if u[j] == ")" { depth -= 1 }
                    j += 1
                }
                guard depth == 0 else { throw PendingError(.runtime, at: o, "incomplete format key") }
                let key = String(scalars: u[(i + 1)..<(j - 1)])
                switch mapping {
                case .dict(let d):
                    guard let v = d[key] else { throw PendingError(.runtime, at: o, pyRepr(string: key)) }
                    value = v
                case .undefined(let undefined):
                    throw undefinedError(undefined, at: o)
                default:
                    throw PendingError(.runtime, at: o, "list indices must be integers or slices, not str")
                }
                usedMapping = true
                i = j
            }
            var flags = Set<Unicode.Scalar>()
            while i < u.count, "-+ #0".unicodeScalars.contains(u[i]) { flags.insert(u[i]); i += 1 }
            func number() throws -> Int? {
                if i < u.count, u[i] == "*" {
                    i += 1
                    guard let n = try take().intValue else { throw PendingError(.runtime, at: o, "* wants int") }
                    return n
                }
                var n: Int? = nil
                while i < u.count, let d = u[i].properties.numericType != nil && u[i].isASCII ? Int(String(u[i])) : nil {
                    n = (n ?? 0) * 10 + d
                    if n! > 10_000 { throw PendingError(.runtime, at: o, "width too big") }
                    i += 1
                }
                return n
            }
            var width = try number()
            var precision: Int? = nil
            if i < u.count, u[i] == "." {
                i += 1
                precision = try number() ?? 0
            }
            while i < u.count, "hlL".unicodeScalars.contains(u[i]) { i += 1 }
            guard i < u.count else { throw PendingError(.runtime, at: o, "incomplete format") }
            let conversion = u[i]
            i += 1
            if conversion == "%" { out += "%"; continue }
            let v = try value ?? take()
            if let w = width, w < 0 { flags.insert("-"); width = -w }
            out += try printfConvert(v, conversion, flags: flags, width: width ?? 0, precision: precision, escape: escape, at: o)
        }
        if next < args.count, mapping == nil, !usedMapping {
            throw PendingError(.runtime, at: o, "not all arguments converted during string formatting")
        }
        return out
    }

    private func printfConvert(_ v: Value, _ c: Unicode.Scalar, flags: Set<Unicode.Scalar>, width: Int, precision: Int?,
                               escape: (String) -> String, at o: SourceOffset) throws -> String {
        func pad(_ s: String, numeric: Bool) -> String {
            let n = s.pyLength
            guard width > n else { return s }
            if flags.contains("-") { return s + String(repeating: " ", count: width - n) }
            if numeric, flags.contains("0") {
                var body = s, sign = ""
                if let f = body.first, f == "-" || f == "+" || f == " " { sign = String(f); body.removeFirst() }
                var prefix = ""
                if body.hasPrefix("0x") || body.hasPrefix("0X") || body.hasPrefix("0o") {
                    prefix = String(body.prefix(2)); body.removeFirst(2)
                }
                return sign + prefix + String(repeating: "0", count: width - n) + body
            }
            return String(repeating: " ", count: width - n) + s
        }
        func sign(_ negative: Bool) -> String { negative ? "-" : flags.contains("+") ? "+" : flags.contains(" ") ? " " : "" }
        switch c {
        case "s", "r", "a":
            var s = c == "s" ? stringify(v) : pyRepr(v)
            if let p = precision { s = String(scalars: s.scalarArray.prefix(p)) }
            return pad(escape(s), numeric: false)
        case "d", "i", "u":
            let n: Int
            switch v {
            case .int, .bool: n = v.intValue!
            case .double(let d):
                guard d.isFinite, abs(d) < 9.2e18 else { throw PendingError(.runtime, at: o, "cannot convert float infinity to integer") }
                n = Int(d)
            default: throw PendingError(.runtime, at: o, "%\(c) format: a real number is required, not \(v.typeName)")
            }
            var digits = String(n.magnitude)
            if let p = precision, digits.count < p { digits = String(repeating: "0", count: p - digits.count) + digits }
            return pad(sign(n < 0) + digits, numeric: true)
        case "x", "X", "o":
            guard let n = v.intValue else {
                throw PendingError(.runtime, at: o, "%\(c) format: an integer is required, not \(v.typeName)")
            }
            var digits = String(n.magnitude, radix: c == "o" ? 8 : 16, uppercase: c == "X")
            if let p = precision, digits.count < p { digits = String(repeating: "0", count: p - digits.count) + digits }
            let prefix = flags.contains("#") ? (c == "o" ? "0o" : c == "x" ? "0x" : "0X") : ""
            return pad(sign(n < 0) + prefix + digits, numeric: true)
        case "e", "E", "f", "F", "g", "G":
            guard let d = v.numberValue else {
                throw PendingError(.runtime, at: o, "must be real number, not \(v.typeName)")
            }
            if !d.isFinite {
                let t = d.isNaN ? "nan" : (d < 0 ? "-inf" : (flags.contains("+") ? "+inf" : "inf"))
                let cased = c.properties.isUppercase ? t.uppercased() : t
                return flags.contains("-") ? pad(cased, numeric: false) : String(repeating: " ", count: max(0, width - cased.count)) + cased
            }
            var spec = "%"
            for f in ["-", "+", " ", "#", "0"] where flags.contains(Unicode.Scalar(f)!) { spec += f }
            if width > 0 { spec += String(width) }
            spec += "." + String(precision ?? 6) + String(Character(c))
            return String(format: spec, d)
        case "c":
            if let n = v.intValue, let s = Unicode.Scalar(UInt32(clamping: max(0, n))) { return pad(String(Character(s)), numeric: false) }
            if let s = v.stringValue, s.unicodeScalars.count == 1 { return pad(s, numeric: false) }
            throw PendingError(.runtime, at: o, "%c requires int or char")
        default:
            throw PendingError(.runtime, at: o, "unsupported format character '\(c)' (0x\(String(c.value, radix: 16)))")
        }
    }

    /// Python's `str.format(*args, **kwargs)` for fields `{}`, `{0}`, `{name}`, `{x.attr}`, `{x[key]}`, conversions
    /// `!s`/`!r` and specs `[[fill]align][sign][#][0][width][,][.precision][type]`.
    func strFormat(_ format: String, _ args: Arguments, at o: SourceOffset) throws -> String {
        let u = format.scalarArray
        var out = ""
        var i = 0
        var auto = 0
        var numbering: Bool? = nil  // true: automatic, false: manual
        while i < u.count {
            let c = u[i]
            if c == "}" {
                guard i + 1 < u.count, u[i + 1] == "}" else {
                    throw PendingError(.runtime, at: o, "Single '}' encountered in format string")
                }
                out += "}"
                i += 2
                continue
            }
            guard c == "{" else { out.unicodeScalars.append(c); i += 1; continue }
            if i + 1 < u.count, u[i + 1] == "{" { out += "{"; i += 2; continue }
            var j = i + 1
            while j < u.count, u[j] != "}" {
                if u[j] == "{" { throw PendingError(.unsupported, at: o, "nested replacement fields in format specs are not supported") }
                j += 1
            }
            guard j < u.count else { throw PendingError(.runtime, at: o, "Single '{' encountered in format string") }
            var field = String(scalars: u[(i + 1)..<j])
            i = j + 1
            var spec = ""
            if let colon = field.firstIndex(of: ":") {
                spec = String(field[field.index(after: colon)...])
                field = String(field[..<colon])
            }
            var conversion: Character? = nil
            if let bang = field.firstIndex(of: "!") {
                let conv = field[field.index(after: bang)...]
                guard conv.count == 1, let ch = conv.first, "sra".contains(ch) else {
                    throw PendingError(.runtime, at: o, "Unknown conversion specifier \(conv)")
                }
                conversion = ch
                field = String(field[..<bang])
            }
            // The argument name, then `.attr` / `[key]` steps.
            var nameEnd = field.endIndex
            if let k = field.firstIndex(where: { $0 == "." || $0 == "[" }) { nameEnd = k }
            let argName = String(field[..<nameEnd])
            var value: Value
            if argName.isEmpty || argName.allSatisfy({ $0.isASCII && $0.isNumber }) {
                let index: Int
                if argName.isEmpty {
                    if numbering == false { throw PendingError(.runtime, at: o, "cannot switch from manual field specification to automatic field numbering") }
                    numbering = true
                    index = auto
                    auto += 1
                } else {
                    if numbering == true { throw PendingError(.runtime, at: o, "cannot switch from automatic field numbering to manual field specification") }
                    numbering = false
                    index = Int(argName) ?? Int.max
                }
                guard index < args.positional.count else {
                    throw PendingError(.runtime, at: o, "tuple index out of range")
                }
                value = args.positional[index]
            } else {
                guard let v = args.keywords.first(where: { $0.0 == argName })?.1 else {
                    throw PendingError(.runtime, at: o, pyRepr(string: argName))
                }
                value = v
            }
            var rest = field[nameEnd...]
            while let first = rest.first {
                rest = rest.dropFirst()
                if first == "." {
                    let end = rest.firstIndex(where: { $0 == "." || $0 == "[" }) ?? rest.endIndex
                    value = try getAttribute(value, String(rest[..<end]), at: o)
                    rest = rest[end...]
                } else {
                    guard let close = rest.firstIndex(of: "]") else { throw PendingError(.runtime, at: o, "Missing ']' in format string") }
                    let key = String(rest[..<close])
                    value = try getItem(value, Int(key).map { .int($0) } ?? .string(key), at: o)
                    rest = rest[rest.index(after: close)...]
                }
            }
            if let conversion { value = .string(conversion == "s" ? stringify(value) : pyRepr(value)) }
            out += try formatSpec(value, spec, at: o)
        }
        return out
    }

    /// Python's `format(value, spec)`.
    func formatSpec(_ v: Value, _ spec: String, at o: SourceOffset) throws -> String {
        if spec.isEmpty { return stringify(v) }
        var s = spec.scalarArray
        var fill: Unicode.Scalar = " "
        var align: Unicode.Scalar? = nil
        if s.count >= 2, "<>=^".unicodeScalars.contains(s[1]) { fill = s[0]; align = s[1]; s.removeFirst(2) }
        else if let f = s.first, "<>=^".unicodeScalars.contains(f) { align = f; s.removeFirst() }
        var signFlag: Unicode.Scalar = "-"
        if let f = s.first, "+- ".unicodeScalars.contains(f) { signFlag = f; s.removeFirst() }
        var alternate = false
        if s.first == "#" { alternate = true; s.removeFirst() }
        if s.first == "0" {
            if align == nil { fill = "0"; align = "=" }
            s.removeFirst()
        }
        var width = 0
        while let f = s.first, f.isASCII, let d = Int(String(f)) { width = width * 10 + d; s.removeFirst(); if width > 10_000 { break } }
        var grouping: Unicode.Scalar? = nil
        if let f = s.first, f == "," || f == "_" { grouping = f; s.removeFirst() }
        var precision: Int? = nil
        if s.first == "." {
            s.removeFirst()
            var p = 0, any = false
            while let f = s.first, f.isASCII, let d = Int(String(f)) { p = p * 10 + d; s.removeFirst(); any = true }
            guard any else { throw PendingError(.runtime, at: o, "Format specifier missing precision") }
            precision = p
        }
        let type: Unicode.Scalar? = s.first
        if s.count > 1 { throw PendingError(.runtime, at: o, "Invalid format specifier '\(spec)'") }

        func padded(_ body: String, sign: String, numeric: Bool) -> String {
            let n = body.pyLength + sign.pyLength
            guard width > n else { return sign + body }
            let f = String(Character(fill))
            switch align ?? (numeric ? ">" : "<") {
            case "<": return sign + body + String(repeating: f, count: width - n)
            case "^":
                let left = (width - n) / 2
                return String(repeating: f, count: left) + sign + body + String(repeating: f, count: width - n - left)
            case "=": return sign + String(repeating: f, count: width - n) + body
            default: return String(repeating: f, count: width - n) + sign + body
            }
        }
        func group(_ digits: String) -> String {
            guard let g = grouping else { return digits }
            var out: [Character] = []
            for (k, ch) in digits.reversed().enumerated() {
                if k > 0, k % 3 == 0 { out.append(Character(Unicode.Scalar(g))) }
                out.append(ch)
            }
            return String(out.reversed())
        }
        func signText(_ negative: Bool) -> String { negative ? "-" : signFlag == "+" ? "+" : signFlag == " " ? " " : "" }

        switch v {
        case .string(let t), .markup(let t):
            guard type == nil || type == "s" else {
                throw PendingError(.runtime, at: o, "Unknown format code '\(type!)' for object of type 'str'")
            }
            var body = t
            if let p = precision { body = String(scalars: t.scalarArray.prefix(p)) }
            return padded(body, sign: "", numeric: false)
        case .int, .bool:
            let n = v.intValue!
            switch type {
            case nil, "d", "n":
                return padded(group(String(n.magnitude)), sign: signText(n < 0), numeric: true)
            case "b", "o", "x", "X":
                let radix = type == "b" ? 2 : type == "o" ? 8 : 16
                let prefix = alternate ? (type == "b" ? "0b" : type == "o" ? "0o" : type == "x" ? "0x" : "0X") : ""
                return padded(prefix + String(n.magnitude, radix: radix, uppercase: type == "X"), sign: signText(n < 0), numeric: true)
            case "c":
                guard let sc = Unicode.Scalar(UInt32(clamping: max(0, n))) else { throw PendingError(.runtime, at: o, "%c arg not in range") }
                return padded(String(Character(sc)), sign: "", numeric: false)
            default:
                return try formatSpec(.double(Double(n)), spec, at: o)
            }
        case .double(let d):
            let negative = d.sign == .minus && !d.isNaN
            let magnitude = abs(d)
            var body: String
            switch type {
            case "f", "F", "e", "E", "g", "G", "%":
                if !magnitude.isFinite {
                    body = magnitude.isNaN ? "nan" : "inf"
                    if type!.properties.isUppercase { body = body.uppercased() }
                } else if type == "%" {
                    body = String(format: "%.\(precision ?? 6)f", magnitude * 100) + "%"
                } else {
                    body = String(format: "%\(alternate ? "#" : "").\(precision ?? 6)\(Character(type!))", magnitude)
                }
            case nil:
                if let p = precision {
                    body = String(format: "%.\(max(p, 1))g", magnitude)
                    if !body.contains(".") && !body.contains("e") && !body.contains("n") && !body.contains("i") { body += ".0" }
                } else {
                    body = pyFloatRepr(magnitude)
                }
            default:
                throw PendingError(.runtime, at: o, "Unknown format code '\(type!)' for object of type 'float'")
            }
            if grouping != nil, let dot = body.firstIndex(where: { !$0.isNumber }) {
                body = group(String(body[..<dot])) + body[dot...]
            } else if grouping != nil {
                body = group(body)
            }
            return padded(body, sign: signText(negative), numeric: true)
        default:
            throw PendingError(.runtime, at: o, "unsupported format string passed to \(v.typeName).__format__")
        }
    }
}
