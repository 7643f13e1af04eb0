import Foundation

/// The reference-typed values of a render: namespaces, functions and macros, loop contexts, generators.
/// They live only during one `render` call (hence the unchecked `Sendable`: no instance crosses threads).
public class JinjaObject: @unchecked Sendable {
    /// Python's type name (`Namespace`, `generator`…), for error messages.
    var typeName: String { "object" }
    /// Module-qualified type name, as `object_type_repr` prints it.
    var qualifiedTypeName: String { typeName }
    var isTruthy: Bool { true }
    var isCallable: Bool { false }
    /// `obj.name`, or nil when there is no such attribute.
    func attribute(_ name: String) -> Value? { nil }
    func call(_ args: Arguments, _ interpreter: Interpreter, at offset: SourceOffset) throws -> Value {
        throw PendingError(.runtime, at: offset, "'\(typeName)' object is not callable")
    }
    /// What `str()` prints.
    var repr: String { "<\(qualifiedTypeName) object>" }
}

/// `namespace(...)`: the one mutable object templates have; `{% set ns.x = … %}` writes through it. As
/// transformers' `TemplateNamespace`, it refuses names starting with `_`.
final class Namespace: JinjaObject, @unchecked Sendable {
    var attributes = ValueDictionary()
    override var typeName: String { "TemplateNamespace" }
    override var qualifiedTypeName: String { "transformers.utils.chat_template_utils.TemplateNamespace" }

    static func checkName(_ name: Value, at offset: SourceOffset) throws {
        if let s = name.stringValue, s.hasPrefix("_") {
            throw PendingError(.runtime, at: offset, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got \(pyRepr(string: s)). Please rename the attribute.")
        }
    }
    override func attribute(_ name: String) -> Value? { attributes[name] }
    override var repr: String { "<Namespace \(stringify(.dict(attributes)))>" }
}

/// A built-in function or a bound method (`'a,b'.split`), called with evaluated arguments.
final class Function: JinjaObject, @unchecked Sendable {
    typealias Body = (Arguments, Interpreter, SourceOffset) throws -> Value
    let name: String
    let body: Body
    let reprText: String

    init(_ name: String, repr: String? = nil, _ body: @escaping Body) {
        self.name = name
        self.body = body
        self.reprText = repr ?? "<built-in function \(name)>"
    }

    override var typeName: String { "builtin_function_or_method" }
    override var isCallable: Bool { true }
    override var repr: String { reprText }
    override func call(_ args: Arguments, _ interpreter: Interpreter, at offset: SourceOffset) throws -> Value {
        try body(args, interpreter, offset)
    }
}

/// A `{% macro %}` (or a call block's `caller`) closed over the scope it was defined in.
final class Macro: JinjaObject, @unchecked Sendable {
    let definition: MacroDefinition
    let closure: Scope

    init(_ definition: MacroDefinition, closure: Scope) {
        self.definition = definition
        self.closure = closure
    }

    override var typeName: String { "Macro" }
    override var qualifiedTypeName: String { "jinja2.runtime.Macro" }
    override var isCallable: Bool { true }
    override var repr: String { "<Macro \(pyRepr(string: definition.name))>" }
    override func attribute(_ name: String) -> Value? {
        switch name {
        case "name": return .string(definition.name)
        case "arguments": return .tuple(definition.parameters.map { .string($0) })
        case "catch_kwargs": return .bool(definition.catchesKeywords)
        case "catch_varargs": return .bool(definition.catchesVarargs)
        case "caller": return .bool(definition.takesCaller)
        default: return nil
        }
    }
    override func call(_ args: Arguments, _ interpreter: Interpreter, at offset: SourceOffset) throws -> Value {
        try interpreter.invoke(self, args, at: offset)
    }
}

/// The `loop` variable of a `{% for %}` body.
final class LoopContext: JinjaObject, @unchecked Sendable {
    let items: [Value]
    var index0 = 0
    let depth0: Int
    /// The argument tuple of the last `loop.changed(…)` call.
    var lastChanged: [Value]? = nil
    /// Renders the loop body over another iterable, for `recursive` loops.
    let recurse: ((Value, Int, SourceOffset) throws -> Value)?

    init(items: [Value], depth0: Int, recurse: ((Value, Int, SourceOffset) throws -> Value)?) {
        self.items = items
        self.depth0 = depth0
        self.recurse = recurse
    }

    override var typeName: String { "LoopContext" }
    override var qualifiedTypeName: String { "jinja2.runtime.LoopContext" }
    override var isCallable: Bool { true }
    override var repr: String { "<LoopContext \(index0 + 1)/\(items.count)>" }

    override func attribute(_ name: String) -> Value? {
        let n = items.count
        switch name {
        case "index": return .int(index0 + 1)
        case "index0": return .int(index0)
        case "revindex": return .int(n - index0)
        case "revindex0": return .int(n - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == n - 1)
        case "length": return .int(n)
        case "depth": return .int(depth0 + 1)
        case "depth0": return .int(depth0)
        case "previtem": return index0 > 0 ? items[index0 - 1] : .undefined(Undefined(hint: "there is no previous item"))
        case "nextitem": return index0 + 1 < n ? items[index0 + 1] : .undefined(Undefined(hint: "there is no next item"))
        case "cycle": return .object(Function("cycle", repr: "<bound method LoopContext.cycle>") { [unowned self] a, _, o in try self.cycle(a, at: o) })
        case "changed": return .object(Function("changed", repr: "<bound method LoopContext.changed>") { [unowned self] a, _, _ in self.changed(a) })
        default: return nil
        }
    }

    func cycle(_ args: Arguments, at offset: SourceOffset) throws -> Value {
        guard args.keywords.isEmpty else { throw PendingError(.runtime, at: offset, "cycle() takes no keyword arguments") }
        guard !args.positional.isEmpty else { throw PendingError(.runtime, at: offset, "no items for cycling given") }
        return args.positional[index0 % args.positional.count]
    }

    func changed(_ args: Arguments) -> Value {
        let value = args.positional
        if let last = lastChanged, last.count == value.count, zip(last, value).allSatisfy({ pyEquals($0, $1) }) { return .bool(false) }
        lastChanged = value
        return .bool(true)
    }

    override func call(_ args: Arguments, _ interpreter: Interpreter, at offset: SourceOffset) throws -> Value {
        guard let recurse else {
            throw PendingError(.runtime, at: offset, "The loop must have the 'recursive' marker to be called recursively.",
                               fix: "write {% for … recursive %}")
        }
        guard args.positional.count == 1, args.keywords.isEmpty else {
            throw PendingError(.runtime, at: offset, "loop() takes exactly one argument (the items to recurse into)")
        }
        return try recurse(args.positional[0], depth0 + 1, offset)
    }
}

/// A one-shot iterator (`map`, `select`, `reverse`… return these in Jinja2): always true, no length, and
/// empty once consumed. An error raised while producing item k is raised when item k is consumed.
final class Generator: JinjaObject, @unchecked Sendable {
    private var items: [Value]
    private var position = 0
    private var failure: PendingError?
    let kind: String

    init(_ items: [Value], failure: PendingError? = nil, kind: String = "generator") {
        self.items = items
        self.failure = failure
        self.kind = kind
    }

    override var typeName: String { kind }
    override var repr: String { "<\(kind) object>" }

    /// The remaining items (then raises a pending error), leaving the generator exhausted.
    func drain() throws -> [Value] {
        let rest = Array(items[position...])
        position = items.count
        if let f = failure {
            failure = nil
            throw f
        }
        return rest
    }

    func nextItem() throws -> Value? {
        if position < items.count {
            position += 1
            return items[position - 1]
        }
        if let f = failure {
            failure = nil
            throw f
        }
        return nil
    }
}

/// `cycler(a, b, …)`: `.next()` returns the items in turn, `.current` the one `next` returns next.
final class Cycler: JinjaObject, @unchecked Sendable {
    let items: [Value]
    var position = 0

    init(_ items: [Value]) { self.items = items }

    override var typeName: String { "Cycler" }
    override var qualifiedTypeName: String { "jinja2.utils.Cycler" }

    override func attribute(_ name: String) -> Value? {
        switch name {
        case "items": return .list(items)
        case "current": return items[position]
        case "next", "__next__":
            return .object(Function("next") { [unowned self] _, _, _ in
                let v = self.items[self.position]
                self.position = (self.position + 1) % self.items.count
                return v
            })
        case "reset": return .object(Function("reset") { [unowned self] _, _, _ in self.position = 0; return .none })
        default: return nil
        }
    }
}

/// `joiner(sep)`: returns "" on the first call and `sep` afterwards.
final class Joiner: JinjaObject, @unchecked Sendable {
    let separator: String
    var used = false

    init(_ separator: String) { self.separator = separator }

    override var typeName: String { "Joiner" }
    override var qualifiedTypeName: String { "jinja2.utils.Joiner" }
    override var isCallable: Bool { true }
    override func call(_ args: Arguments, _ interpreter: Interpreter, at offset: SourceOffset) throws -> Value {
        if !used { used = true; return .string("") }
        return .string(separator)
    }
}

/// Evaluated call arguments.
struct Arguments {
    var positional: [Value] = []
    var keywords: [(String, Value)] = []

    static let empty = Arguments()

    init(positional: [Value] = [], keywords: [(String, Value)] = []) {
        self.positional = positional
        self.keywords = keywords
    }

    /// Python-style binding to parameter names: positional arguments first, then keywords by name; nil for a
    /// parameter not given.
    func bind(_ function: String, _ names: [String], at offset: SourceOffset) throws -> [Value?] {
        guard positional.count <= names.count else {
            throw PendingError(.runtime, at: offset, "\(function)() takes at most \(names.count) argument\(names.count == 1 ? "" : "s") (\(positional.count) given)")
        }
        var out: [Value?] = positional.map { $0 } + Array(repeating: nil, count: names.count - positional.count)
        for (k, v) in keywords {
            guard let i = names.firstIndex(of: k) else {
                throw PendingError(.runtime, at: offset, "\(function)() got an unexpected keyword argument '\(k)'")
            }
            guard out[i] == nil else {
                throw PendingError(.runtime, at: offset, "\(function)() got multiple values for argument '\(k)'")
            }
            out[i] = v
        }
        return out
    }
}
