import Foundation

// Python methods of str, dict, list and tuple that templates call (`content.strip()`, `message.get('x')`).
// The sandbox refuses the mutating ones (`list.append`, `dict.update`) as transformers' does.

let stringMethodNames: Set<String> = [
    "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format", "format_map",
    "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric",
    "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans", "partition",
    "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split",
    "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill",
]
let dictMethodNames: Set<String> = ["clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values"]
let listMethodNames: Set<String> = ["append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort"]
private let mutatingDictMethods: Set<String> = ["clear", "pop", "popitem", "setdefault", "update"]
private let mutatingListMethods: Set<String> = ["append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"]

extension Interpreter {
    /// `obj.name` for a method: a bound function, or the sandbox's unsafe marker for a mutating one.
    func boundMethod(_ receiver: Value, _ name: String) -> Value {
        if isMutating(receiver, name) {
            return .undefined(Undefined(hint: "access to attribute '\(name)' of '\(receiver.typeName)' object is unsafe.", unsafe: true))
        }
        return .object(Function(name, repr: "<built-in method \(name) of \(receiver.typeName) object>") { [unowned self] args, _, offset in
            guard let v = try self.callMethod(receiver, name, args, at: offset) else {
                throw PendingError(.runtime, at: offset, "'\(receiver.typeName)' object has no attribute '\(name)'")
            }
            return v
        })
    }

    private func isMutating(_ receiver: Value, _ name: String) -> Bool {
        switch receiver {
        case .dict: return mutatingDictMethods.contains(name)
        case .list: return mutatingListMethods.contains(name)
        default: return false
        }
    }

    /// Calls a method of a str, dict, list or tuple; nil when the receiver has no such method (the caller then
    /// looks the name up as an attribute or item, as Jinja2 does).
    func callMethod(_ receiver: Value, _ name: String, _ args: Arguments, at offset: SourceOffset) throws -> Value? {
        switch receiver {
        case .string(let s), .markup(let s):
            guard stringMethodNames.contains(name) else { return nil }
            let result = try stringMethod(s, name, args, at: offset)
            if case .markup = receiver, case .string(let t) = result { return .markup(t) }
            return result
        case .dict(let d):
            guard dictMethodNames.contains(name) else { return nil }
            return try dictMethod(d, name, args, at: offset)
        case .list(let items), .tuple(let items):
            if case .tuple = receiver, name != "index", name != "count" { return nil }
            guard listMethodNames.contains(name) else { return nil }
            if mutatingListMethods.contains(name) {
                throw PendingError(.runtime, at: offset, "access to attribute '\(name)' of 'list' object is unsafe.",
                                   fix: "templates cannot modify lists; build a new one (`xs + [x]`) or keep it in a namespace")
            }
            return try listMethod(items, name, args, at: offset, isTuple: { if case .tuple = receiver { return true }; return false }())
        case .undefined(let u):
            throw undefinedError(u, at: offset)
        default:
            return nil
        }
    }

    private func dictMethod(_ d: ValueDictionary, _ name: String, _ args: Arguments, at offset: SourceOffset) throws -> Value {
        switch name {
        case "keys":
            _ = try args.bind("keys", [], at: offset)
            return .list(d.keys)
        case "values":
            _ = try args.bind("values", [], at: offset)
            return .list(d.values)
        case "items":
            _ = try args.bind("items", [], at: offset)
            return .list(zip(d.keys, d.values).map { .tuple([$0, $1]) })
        case "get":
            guard args.keywords.isEmpty, (1...2).contains(args.positional.count) else {
                throw PendingError(.runtime, at: offset, "get expected 1 or 2 arguments, got \(args.positional.count)")
            }
            let key = args.positional[0]
            guard DictKey(key) != nil else { throw PendingError(.runtime, at: offset, "unhashable type: '\(key.typeName)'") }
            return d[key] ?? (args.positional.count > 1 ? args.positional[1] : .none)
        case "copy":
            _ = try args.bind("copy", [], at: offset)
            return .dict(d)
        case "fromkeys":
            throw PendingError(.unsupported, at: offset, "dict.fromkeys() is not supported")
        default:
            throw PendingError(.runtime, at: offset, "access to attribute '\(name)' of 'dict' object is unsafe.",
                               fix: "templates cannot modify dicts; build a new one or keep values in a namespace")
        }
    }

    private func listMethod(_ items: [Value], _ name: String, _ args: Arguments, at offset: SourceOffset, isTuple: Bool) throws -> Value {
        let kind = isTuple ? "tuple" : "list"
        switch name {
        case "count":
            let p = try args.bind("count", ["value"], at: offset)
            guard let x = p[0] else { throw PendingError(.runtime, at: offset, "count() takes exactly one argument (0 given)") }
            return .int(items.filter { pyEquals($0, x) }.count)
        case "index":
            guard args.keywords.isEmpty, (1...3).contains(args.positional.count) else {
                throw PendingError(.runtime, at: offset, "index expected at least 1 argument, got \(args.positional.count)")
            }
            let (lo, hi) = clampRange(args.positional.count > 1 ? try intArgument(args.positional[1], 0, "start", at: offset) : nil,
                                      args.positional.count > 2 ? try intArgument(args.positional[2], 0, "stop", at: offset) : nil,
                                      count: items.count)
            if lo < hi, let i = items[lo..<hi].firstIndex(where: { pyEquals($0, args.positional[0]) }) { return .int(i) }
            throw PendingError(.runtime, at: offset, isTuple ? "tuple.index(x): x not in tuple" : "\(pyRepr(args.positional[0])) is not in list")
        case "copy":
            _ = try args.bind("copy", [], at: offset)
            return .list(items)
        default:
            throw PendingError(.runtime, at: offset, "'\(kind)' object has no attribute '\(name)'")
        }
    }

    private func stringMethod(_ s: String, _ name: String, _ args: Arguments, at o: SourceOffset) throws -> Value {
        func optionalString(_ v: Value?, _ what: String) throws -> String? {
            guard let v, !v.isNone else { return nil }
            guard let t = v.stringValue else { throw PendingError(.runtime, at: o, "\(what) arg must be None or str") }
            return t
        }
        func required(_ v: Value?, _ what: String) throws -> String {
            guard let v else { throw PendingError(.runtime, at: o, "\(name)() missing required argument '\(what)'") }
            guard let t = v.stringValue else {
                throw PendingError(.runtime, at: o, "\(name)() argument must be str, not \(v.typeName)")
            }
            return t
        }
        func optionalInt(_ v: Value?) throws -> Int? {
            guard let v, !v.isNone else { return nil }
            return try intArgument(v, 0, "index", at: o)
        }
        switch name {
        case "upper": _ = try args.bind(name, [], at: o); return .string(pyUpper(s))
        case "lower", "casefold": _ = try args.bind(name, [], at: o); return .string(pyLower(s))
        case "title": _ = try args.bind(name, [], at: o); return .string(pyTitle(s))
        case "capitalize": _ = try args.bind(name, [], at: o); return .string(pyCapitalize(s))
        case "swapcase":
            _ = try args.bind(name, [], at: o)
            var out = ""
            for u in s.unicodeScalars {
                out += u.properties.isUppercase ? u.properties.lowercaseMapping
                    : u.properties.isLowercase ? u.properties.uppercaseMapping : String(u)
            }
            return .string(out)
        case "strip", "lstrip", "rstrip":
            let p = try args.bind(name, ["chars"], at: o)
            let chars = try optionalString(p[0], name)
            return .string(pyStrip(s, chars, left: name != "rstrip", right: name != "lstrip"))
        case "split", "rsplit":
            let p = try args.bind(name, ["sep", "maxsplit"], at: o)
            let sep = try optionalString(p[0], "sep")
            let maxsplit = try intArgument(p[1], -1, "maxsplit", at: o)
            guard let parts = name == "split" ? pySplit(s, sep, maxsplit: maxsplit) : pyRSplit(s, sep, maxsplit: maxsplit) else {
                throw PendingError(.runtime, at: o, "empty separator")
            }
            return .list(parts.map { .string($0) })
        case "splitlines":
            let p = try args.bind(name, ["keepends"], at: o)
            return .list(pySplitlines(s, keepends: p[0]?.isTruthy ?? false).map { .string($0) })
        case "startswith", "endswith":
            guard args.keywords.isEmpty, (1...3).contains(args.positional.count) else {
                throw PendingError(.runtime, at: o, "\(name)() takes at least 1 argument (\(args.positional.count) given)")
            }
            let candidates: [String]
            switch args.positional[0] {
            case .string(let t), .markup(let t): candidates = [t]
            case .tuple(let ts):
                candidates = try ts.map {
                    guard let t = $0.stringValue else {
                        throw PendingError(.runtime, at: o, "tuple for \(name) must only contain str, not \($0.typeName)")
                    }
                    return t
                }
            case let v:
                throw PendingError(.runtime, at: o, "\(name) first arg must be str or a tuple of str, not \(v.typeName)")
            }
            let u = s.scalarArray
            let (lo, hi) = clampRange(try optionalInt(args.positional.count > 1 ? args.positional[1] : nil),
                                      try optionalInt(args.positional.count > 2 ? args.positional[2] : nil), count: u.count)
            if lo > hi { return .bool(false) }
            let window = Array(u[lo..<hi])
            for c in candidates {
                let p = c.scalarArray
                if p.count <= window.count, name == "startswith" ? Array(window.prefix(p.count)) == p : Array(window.suffix(p.count)) == p {
                    return .bool(true)
                }
            }
            return .bool(false)
        case "replace":
            guard args.keywords.isEmpty, (2...3).contains(args.positional.count) else {
                throw PendingError(.runtime, at: o, "replace expected at least 2 arguments, got \(args.positional.count)")
            }
            let old = try required(args.positional[0], "old"), new = try required(args.positional[1], "new")
            let count = args.positional.count > 2 ? try intArgument(args.positional[2], -1, "count", at: o) : -1
            return .string(pyReplace(s, old, new, count: count))
        case "find", "rfind", "index", "rindex", "count":
            guard args.keywords.isEmpty, (1...3).contains(args.positional.count) else {
                throw PendingError(.runtime, at: o, "\(name)() takes at least 1 argument (\(args.positional.count) given)")
            }
            let sub = try required(args.positional[0], "sub")
            let start = try optionalInt(args.positional.count > 1 ? args.positional[1] : nil)
            let end = try optionalInt(args.positional.count > 2 ? args.positional[2] : nil)
            if name == "count" {
                let u = s.scalarArray
                let (lo, hi) = clampRange(start, end, count: u.count)
                return .int(lo > hi ? 0 : pyCount(String(scalars: u[lo..<hi]), sub))
            }
            let i = pyFind(s, sub, start: start, end: end, reverse: name.hasPrefix("r"))
            if i < 0, name.hasSuffix("index") { throw PendingError(.runtime, at: o, "substring not found") }
            return .int(i)
        case "join":
            let p = try args.bind(name, ["iterable"], at: o)
            guard let iterable = p[0] else { throw PendingError(.runtime, at: o, "join() takes exactly one argument (0 given)") }
            let items = try iterate(iterable, at: o)
            var parts: [String] = []
            for (k, item) in items.enumerated() {
                guard let t = item.stringValue else {
                    throw PendingError(.runtime, at: o, "sequence item \(k): expected str instance, \(item.typeName) found")
                }
                parts.append(t)
            }
            return .string(parts.joined(separator: s))
        case "center", "ljust", "rjust":
            guard args.keywords.isEmpty, (1...2).contains(args.positional.count) else {
                throw PendingError(.runtime, at: o, "\(name) expected 1 or 2 arguments, got \(args.positional.count)")
            }
            let width = try intArgument(args.positional[0], 0, "width", at: o)
            var fill: Unicode.Scalar = " "
            if args.positional.count > 1 {
                guard let f = args.positional[1].stringValue, f.unicodeScalars.count == 1 else {
                    throw PendingError(.runtime, at: o, "The fill character must be exactly one character long")
                }
                fill = f.unicodeScalars.first!
            }
            return .string(pyPad(s, width: width, fill: fill, align: name == "center" ? .center : name == "ljust" ? .left : .right))
        case "zfill":
            let p = try args.bind(name, ["width"], at: o)
            let width = try intArgument(p[0], 0, "width", at: o)
            var u = s.scalarArray
            guard width > u.count else { return .string(s) }
            var sign: [Unicode.Scalar] = []
            if let f = u.first, f == "+" || f == "-" { sign = [f]; u.removeFirst() }
            return .string(String(scalars: sign + Array(repeating: "0", count: width - u.count - sign.count) + u))
        case "partition", "rpartition":
            let p = try args.bind(name, ["sep"], at: o)
            let sep = try required(p[0], "sep")
            guard !sep.isEmpty else { throw PendingError(.runtime, at: o, "empty separator") }
            let i = pyFind(s, sep, reverse: name == "rpartition")
            let u = s.scalarArray
            if i < 0 {
                return name == "partition" ? .tuple([.string(s), .string(""), .string("")]) : .tuple([.string(""), .string(""), .string(s)])
            }
            let n = sep.pyLength
            return .tuple([.string(String(scalars: u[0..<i])), .string(sep), .string(String(scalars: u[(i + n)...]))])
        case "removeprefix", "removesuffix":
            let p = try args.bind(name, ["affix"], at: o)
            let affix = try required(p[0], "affix")
            let u = s.scalarArray, a = affix.scalarArray
            if name == "removeprefix", !a.isEmpty, u.starts(with: a) { return .string(String(scalars: u.dropFirst(a.count))) }
            if name == "removesuffix", !a.isEmpty, u.count >= a.count, Array(u.suffix(a.count)) == a {
                return .string(String(scalars: u.dropLast(a.count)))
            }
            return .string(s)
        case "expandtabs":
            let p = try args.bind(name, ["tabsize"], at: o)
            let size = try intArgument(p[0], 8, "tabsize", at: o)
            var out = String.UnicodeScalarView(), column = 0
            for u in s.unicodeScalars {
                if u == "\t" {
                    let n = size > 0 ? size - column % size : 0
                    out.append(contentsOf: Array(repeating: " ", count: n))
                    column += n
                } else {
                    out.append(u)
                    column = u == "\n" || u == "\r" ? 0 : column + 1
                }
            }
            return .string(String(out))
        case "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "islower", "isupper", "istitle",
             "isascii", "isidentifier", "isprintable":
            _ = try args.bind(name, [], at: o)
            return .bool(stringPredicate(s, name))
        case "format":
            return .string(try strFormat(s, args, at: o))
        case "format_map":
            guard args.keywords.isEmpty, args.positional.count == 1, case .dict(let d) = args.positional[0] else {
                throw PendingError(.runtime, at: o, "format_map() takes exactly one mapping argument")
            }
            return .string(try strFormat(s, Arguments(keywords: zip(d.keys, d.values).compactMap { k, v in k.stringValue.map { ($0, v) } }), at: o))
        default:
            throw PendingError(.unsupported, at: o, "str.\(name)() is not supported", fix: "rewrite that part of the template without it")
        }
    }

    private func stringPredicate(_ s: String, _ name: String) -> Bool {
        let u = s.unicodeScalars
        switch name {
        case "isascii": return u.allSatisfy { $0.isASCII }
        case "isprintable": return u.allSatisfy(isPyPrintable)
        case "islower": return pyIsLower(s)
        case "isupper": return pyIsUpper(s)
        case "istitle":
            var cased = false, previousCased = false
            for c in u {
                let p = c.properties
                if p.isUppercase || p.generalCategory == .titlecaseLetter {
                    if previousCased { return false }
                    previousCased = true
                    cased = true
                } else if p.isLowercase {
                    if !previousCased { return false }
                    previousCased = true
                    cased = true
                } else {
                    previousCased = false
                }
            }
            return cased
        case "isidentifier":
            guard let f = u.first, f == "_" || f.properties.isXIDStart else { return false }
            return u.dropFirst().allSatisfy { $0.properties.isXIDContinue }
        default:
            guard !u.isEmpty else { return false }
            return u.allSatisfy { c in
                let category = c.properties.generalCategory
                switch name {
                case "isdecimal": return category == .decimalNumber
                case "isdigit": return category == .decimalNumber || c.properties.numericType == .digit
                case "isnumeric": return c.properties.numericType != nil
                case "isalpha": return [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter].contains(category)
                case "isalnum": return isPyWordCharacter(c) && c != "_"
                case "isspace": return isPySpace(c)
                default: return false
                }
            }
        }
    }
}
