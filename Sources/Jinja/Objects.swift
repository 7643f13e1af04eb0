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
