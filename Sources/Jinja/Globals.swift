import Foundation

/// The global functions of transformers' environment: Jinja2's `range` (sandbox-limited), `dict`, `namespace`,
/// `cycler`, `joiner`, plus transformers' `raise_exception` and `strftime_now`.
func makeGlobals() -> [String: Value] {
    var g: [String: Value] = [:]
    g["range"] = .object(Function("range", repr: "<class 'range'>") { args, _, o in
        guard args.keywords.isEmpty else { throw PendingError(.runtime, at: o, "range() takes no keyword arguments") }
        let ints = try args.positional.map { v -> Int in
            guard let i = v.intValue else {
                throw PendingError(.runtime, at: o, "'\(v.typeName)' object cannot be interpreted as an integer")
            }
            return i
        }
        var start = 0, stop = 0, step = 1
        switch ints.count {
        case 1: stop = ints[0]
        case 2: start = ints[0]; stop = ints[1]
        case 3: start = ints[0]; stop = ints[1]; step = ints[2]
        default: throw PendingError(.runtime, at: o, "range expected at most 3 arguments, got \(ints.count)")
        }
        guard step != 0 else { throw PendingError(.runtime, at: o, "range() arg 3 must not be zero") }
        let (span, overflow) = stop.subtractingReportingOverflow(start)
        if overflow { throw PendingError(.runtime, at: o, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).") }
        let count = span == 0 || (span > 0) != (step > 0) ? 0 : (abs(span) - 1) / abs(step) + 1
        guard count <= 100_000 else {
            throw PendingError(.runtime, at: o, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).")
        }
        return .list((0..<count).map { .int(start + $0 * step) })
    })
    g["dict"] = .object(DictConstructor())
    g["namespace"] = .object(Function("namespace", repr: "<class 'transformers.utils.chat_template_utils.TemplateNamespace'>") { args, i, o in
        let ns = Namespace()
        guard args.positional.count <= 1 else { throw PendingError(.runtime, at: o, "dict expected at most 1 argument, got \(args.positional.count)") }
        if let source = args.positional.first { ns.attributes = try i.mappingEntries(source, at: o) }
        for (k, v) in args.keywords { ns.attributes[k] = v }
        for k in ns.attributes.keys { try Namespace.checkName(k, at: o) }
        return .object(ns)
    })
    g["cycler"] = .object(Function("cycler", repr: "<class 'jinja2.utils.Cycler'>") { args, _, o in
        guard !args.positional.isEmpty else { throw PendingError(.runtime, at: o, "at least one item has to be provided") }
        return .object(Cycler(args.positional))
    })
    g["joiner"] = .object(Function("joiner", repr: "<class 'jinja2.utils.Joiner'>") { args, _, o in
        let p = try args.bind("joiner", ["sep"], at: o)
        return .object(Joiner(p[0].map(stringify) ?? ", "))
    })
    g["lipsum"] = .object(Function("lipsum", repr: "<function generate_lorem_ipsum>") { _, _, o in
        throw PendingError(.unsupported, at: o, "lipsum() is not supported")
    })
    g["raise_exception"] = .object(Function("raise_exception", repr: "<function raise_exception>") { args, _, o in
        let p = try args.bind("raise_exception", ["message"], at: o)
        guard let message = p[0] else { throw PendingError(.runtime, at: o, "raise_exception() missing 1 required positional argument: 'message'") }
        throw PendingError(.raised, at: o, stringify(message))
    })
    g["strftime_now"] = .object(Function("strftime_now", repr: "<function strftime_now>") { args, i, o in
        let p = try args.bind("strftime_now", ["format"], at: o)
        guard let format = p[0]?.stringValue else { throw PendingError(.runtime, at: o, "strftime() argument 1 must be str") }
        return .string(pyStrftime(format, i.now(), i.timeZone))
    })
    return g
}

/// transformers' `TemplateDict`: `dict(…)` builds a dict, `dict.fromkeys(keys, value)` one with equal values.
final class DictConstructor: JinjaObject, @unchecked Sendable {
    override var typeName: String { "TemplateDict" }
    override var qualifiedTypeName: String { "transformers.utils.chat_template_utils.TemplateDict" }
    override var isCallable: Bool { true }
    override var repr: String { "<transformers.utils.chat_template_utils.TemplateDict object>" }

    override func call(_ args: Arguments, _ interpreter: Interpreter, at o: SourceOffset) throws -> Value {
        var d = ValueDictionary()
        guard args.positional.count <= 1 else { throw PendingError(.runtime, at: o, "dict expected at most 1 argument, got \(args.positional.count)") }
        if let source = args.positional.first { d = try interpreter.mappingEntries(source, at: o) }
        for (k, v) in args.keywords { d[k] = v }
        return .dict(d)
    }

    override func attribute(_ name: String) -> Value? {
        guard name == "fromkeys" else { return nil }
        return .object(Function("fromkeys", repr: "<bound method TemplateDict.fromkeys>") { args, i, o in
            guard args.keywords.isEmpty, (1...2).contains(args.positional.count) else {
                throw PendingError(.runtime, at: o, "fromkeys expected 1 or 2 arguments, got \(args.positional.count)")
            }
            let value = args.positional.count > 1 ? args.positional[1] : .none
            var d = ValueDictionary()
            for k in try i.iterate(args.positional[0], at: o) {
                do { try d.set(k, value) } catch { throw PendingError(.runtime, at: o, "unhashable type: '\(k.typeName)'") }
            }
            return .dict(d)
        })
    }
}

extension Interpreter {
    /// Python's `dict(source)`: a mapping's entries, or key/value pairs from an iterable.
    func mappingEntries(_ source: Value, at o: SourceOffset) throws -> ValueDictionary {
        if case .dict(let d) = source { return d }
        // `dict(x)` first looks up `x.keys`, which an undefined value refuses.
        if case .undefined(let u) = source { throw undefinedError(u, at: o) }
        if case .object(let obj) = source, let ns = obj as? Namespace { return ns.attributes }
        var d = ValueDictionary()
        for (k, pair) in try iterate(source, at: o).enumerated() {
            let kv = try iterate(pair, at: o)
            guard kv.count == 2 else {
                throw PendingError(.runtime, at: o, "dictionary update sequence element #\(k) has length \(kv.count); 2 is required")
            }
            do { try d.set(kv[0], kv[1]) } catch { throw PendingError(.runtime, at: o, "unhashable type: '\(kv[0].typeName)'") }
        }
        return d
    }
}
