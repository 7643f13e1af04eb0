import Foundation

/// A built-in test: `value is name(args)`.
typealias TestFunction = @Sendable (_ interpreter: Interpreter, _ value: Value, _ args: Arguments, _ offset: SourceOffset) throws -> Bool

/// Tests Jinja2 has that this interpreter refuses (none today: every Jinja2 test is implemented).
let unsupportedTests: Set<String> = []

private func noArguments(_ name: String, _ f: @escaping @Sendable (Value) -> Bool) -> TestFunction {
    { _, v, a, o in
        _ = try a.bind(name, [], at: o)
        return f(v)
    }
}

private func oneArgument(_ name: String, _ f: @escaping @Sendable (Interpreter, Value, Value, SourceOffset) throws -> Bool) -> TestFunction {
    { i, v, a, o in
        let p = try a.bind(name, ["other"], at: o)
        guard let other = p[0] else { throw PendingError(.runtime, at: o, "the '\(name)' test needs an argument") }
        return try f(i, v, other, o)
    }
}

/// Jinja2's tests (`jinja2/tests.py`), with Python's semantics for undefined values: an undefined value is
/// iterable, a sequence and callable, since Jinja2's `Undefined` defines `__iter__`, `__len__` and `__call__`.
let builtinTests: [String: TestFunction] = {
    var t: [String: TestFunction] = [
        "defined": noArguments("defined") { !$0.isUndefined },
        "undefined": noArguments("undefined") { $0.isUndefined },
        "none": noArguments("none") { $0.isNone },
        "boolean": noArguments("boolean") { if case .bool = $0 { return true }; return false },
        "true": noArguments("true") { if case .bool(true) = $0 { return true }; return false },
        "false": noArguments("false") { if case .bool(false) = $0 { return true }; return false },
        "integer": noArguments("integer") { if case .int = $0 { return true }; return false },
        "float": noArguments("float") { if case .double = $0 { return true }; return false },
        "number": noArguments("number") { $0.isNumber },
        "string": noArguments("string") { $0.isString },
        "mapping": noArguments("mapping") { if case .dict = $0 { return true }; return false },
        "escaped": noArguments("escaped") { if case .markup = $0 { return true }; return false },
        "iterable": noArguments("iterable") { v in
            switch v {
            case .list, .tuple, .dict, .string, .markup, .undefined: return true
            case .object(let o): return o is Generator || o is LoopContext
            default: return false
            }
        },
        "sequence": noArguments("sequence") { v in
            switch v {
            case .list, .tuple, .dict, .string, .markup, .undefined: return true
            default: return false
            }
        },
        "callable": noArguments("callable") { v in
            switch v {
            case .undefined: return true
            case .object(let o): return o.isCallable
            default: return false
            }
        },
        "lower": { i, v, a, o in _ = try a.bind("lower", [], at: o); return pyIsLower(stringify(v)) },
        "upper": { i, v, a, o in _ = try a.bind("upper", [], at: o); return pyIsUpper(stringify(v)) },
        "odd": { i, v, a, o in
            _ = try a.bind("odd", [], at: o)
            return pyEquals(try i.binary(.modulo, v, .int(2), at: o), .int(1))
        },
        "even": { i, v, a, o in
            _ = try a.bind("even", [], at: o)
            return pyEquals(try i.binary(.modulo, v, .int(2), at: o), .int(0))
        },
        "divisibleby": oneArgument("divisibleby") { i, v, n, o in pyEquals(try i.binary(.modulo, v, n, at: o), .int(0)) },
        "in": oneArgument("in") { i, v, seq, o in try i.contains(seq, v, at: o) },
        "sameas": oneArgument("sameas") { _, v, other, _ in
            switch (v, other) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.int(let a), .int(let b)): return a == b && (-5...256).contains(a)
            case (.object(let a), .object(let b)): return a === b
            default: return false
            }
        },
        "filter": { _, v, a, o in _ = try a.bind("filter", [], at: o); return v.stringValue.map { builtinFilters[$0] != nil } ?? false },
        "test": { _, v, a, o in
            _ = try a.bind("test", [], at: o)
            guard let name = v.stringValue else { return false }
            return comparisonTests[name] != nil || ["defined", "undefined", "none", "boolean", "true", "false", "integer",
                "float", "number", "string", "mapping", "escaped", "iterable", "sequence", "callable", "lower", "upper", "odd",
                "even", "divisibleby", "in", "sameas", "filter", "test"].contains(name)
        },
    ]
    for (name, op) in comparisonTests {
        t[name] = oneArgument(name) { i, v, other, o in try i.compare(op, v, other, at: o) }
    }
    return t
}()

private let comparisonTests: [String: CompareOperator] = [
    "==": .equal, "eq": .equal, "equalto": .equal, "!=": .notEqual, "ne": .notEqual,
    ">": .greater, "gt": .greater, "greaterthan": .greater, ">=": .greaterEqual, "ge": .greaterEqual,
    "<": .less, "lt": .less, "lessthan": .less, "<=": .lessEqual, "le": .lessEqual,
]

extension Interpreter {
    func applyTest(_ name: String, _ value: Value, _ args: Arguments, _ scope: Scope?, at offset: SourceOffset) throws -> Bool {
        guard let f = builtinTests[name] else {
            throw PendingError(.runtime, at: offset, "No test named '\(name)' found.", fix: "check the test's spelling")
        }
        return try f(self, value, args, offset)
    }
}
