import Foundation

/// Walks a parsed template and writes its output: statements here, expressions in `Evaluation.swift`.
/// One interpreter serves one render.
final class Interpreter {
    let source: SourceText
    /// The clock `strftime_now` reads, and the time zone it formats in.
    let now: () -> Date
    let timeZone: TimeZone
    var out = ""
    var callDepth = 0
    static let maxCallDepth = 40
    /// Run-time nesting in rough stack units (an expression level ~1.3 KB, a macro call 3 units, a loop 2), bounded so
    /// that a render fits a 512 KB worker-thread stack whatever the template does.
    var nesting = 0
    static let maxNesting = 256
    /// Cap on one string or list built by `*` or `range` etc., so that a template cannot exhaust memory.
    static let maxResultSize = 50_000_000

    init(source: SourceText, now: @escaping () -> Date, timeZone: TimeZone) {
        self.source = source
        self.now = now
        self.timeZone = timeZone
    }

    enum Flow { case normal, breakLoop, continueLoop }

    // MARK: - Statements

    func execute(_ nodes: [Node], _ scope: Scope) throws -> Flow {
        for node in nodes {
            let flow = try execute(node, scope)
            if flow != .normal { return flow }
        }
        return .normal
    }

    /// Runs one statement; like `eval`, a thin dispatcher over non-inlined functions to keep each nesting level's
    /// stack frame small.
    func execute(_ node: Node, _ scope: Scope) throws -> Flow {
        switch node {
        case .text(let s):
            out += s
        case .output(let e):
            try executeOutput(e, scope)
        case .ifChain(let branches, let otherwise):
            return try executeIf(branches, otherwise, scope)
        case .forLoop(let loop):
            return try executeFor(loop, scope)
        case .set(let target, let e, _):
            try executeSet(target, e, scope)
        case .setBlock(let target, let filters, let body, let offset):
            try executeSetBlock(target, filters, body, scope, at: offset)
        case .macro(let def):
            scope.set(def.name, .object(Macro(def, closure: scope)))
        case .callBlock(let call, let callerDef):
            try executeCallBlock(call, callerDef, scope)
        case .filterBlock(let filters, let body):
            try executeFilterBlock(filters, body, scope)
        case .with(let pairs, let body):
            return try executeWith(pairs, body, scope)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    @inline(never) func executeOutput(_ e: Expression, _ scope: Scope) throws {
        out += stringify(try eval(e, scope))
    }

    @inline(never) func executeIf(_ branches: [(Expression, [Node])], _ otherwise: [Node], _ scope: Scope) throws -> Flow {
        nesting += 1
        defer { nesting -= 1 }
        for (test, body) in branches where try eval(test, scope).isTruthy {
            return try execute(body, scope)
        }
        return try execute(otherwise, scope)
    }

    @inline(never) func executeSet(_ target: AssignTarget, _ e: Expression, _ scope: Scope) throws {
        try assign(target, try eval(e, scope), in: scope, at: e.offset)
    }

    @inline(never) func executeSetBlock(_ target: AssignTarget, _ filters: [Expression], _ body: [Node], _ scope: Scope,
                                        at offset: SourceOffset) throws {
        var value: Value = .string(try capture(body, Scope(parent: scope)))
        value = try applyFilters(filters, to: value, scope)
        try assign(target, value, in: scope, at: offset)
    }

    @inline(never) func executeCallBlock(_ call: Expression, _ callerDef: MacroDefinition, _ scope: Scope) throws {
        let caller = Macro(callerDef, closure: scope)
        guard case .call(let callee, let argExprs) = call.kind else { return }
        var args = try evalArguments(argExprs, scope, at: call.offset)
        args.keywords.append(("caller", .object(caller)))
        let f = try eval(callee, scope)
        out += stringify(try self.call(f, args, at: call.offset))
    }

    @inline(never) func executeFilterBlock(_ filters: [Expression], _ body: [Node], _ scope: Scope) throws {
        let text = try capture(body, Scope(parent: scope))
        out += stringify(try applyFilters(filters, to: .string(text), scope))
    }

    @inline(never) func executeWith(_ pairs: [(AssignTarget, Expression)], _ body: [Node], _ scope: Scope) throws -> Flow {
        let inner = Scope(parent: scope)
        let values = try pairs.map { try eval($0.1, scope) }
        for ((target, e), v) in zip(pairs, values) { try assign(target, v, in: inner, at: e.offset) }
        return try execute(body, inner)
    }

    /// Renders `nodes` into a string of their own (macro bodies, `{% set %}` blocks, filter blocks).
    func capture(_ nodes: [Node], _ scope: Scope) throws -> String {
        let saved = out
        out = ""
        defer { out = saved }
        _ = try execute(nodes, scope)
        return out
    }

    func applyFilters(_ filters: [Expression], to value: Value, _ scope: Scope) throws -> Value {
        var v = value
        for f in filters {
            guard case .filter(_, let name, let argExprs) = f.kind else { continue }
            v = try applyFilter(name, v, try evalArguments(argExprs, scope, at: f.offset), scope, at: f.offset)
        }
        return v
    }

    @inline(never) func executeFor(_ loop: ForLoop, _ scope: Scope, over given: Value? = nil, depth0: Int = 0) throws -> Flow {
        nesting += 2
        defer { nesting -= 2 }
        if nesting > Interpreter.maxNesting { throw nestingError(at: loop.offset) }
        let iterable = try given ?? eval(loop.iterable, scope)
        var items = try iterate(iterable, at: loop.iterable.offset)
        if let test = loop.filter {
            var kept: [Value] = []
            for item in items {
                let s = Scope(parent: scope)
                try assign(loop.target, item, in: s, at: loop.offset)
                if try eval(test, s).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            _ = try execute(loop.otherwise, Scope(parent: scope))
            return .normal
        }
        var recurse: ((Value, Int, SourceOffset) throws -> Value)? = nil
        if loop.recursive {
            recurse = { [unowned self] value, depth, offset in
                try self.enterCall(at: offset)
                defer { self.callDepth -= 1; self.nesting -= 3 }
                let saved = self.out
                self.out = ""
                defer { self.out = saved }
                _ = try self.executeFor(loop, scope, over: value, depth0: depth)
                return .string(self.out)
            }
        }
        let context = LoopContext(items: items, depth0: depth0, recurse: recurse)
        let loopValue = Value.object(context)
        for (i, item) in items.enumerated() {
            context.index0 = i
            let s = Scope(parent: scope)
            try assign(loop.target, item, in: s, at: loop.offset)
            s.variables["loop"] = loopValue
            if try execute(loop.body, s) == .breakLoop { break }
        }
        return .normal
    }

    func assign(_ target: AssignTarget, _ value: Value, in scope: Scope, at offset: SourceOffset) throws {
        switch target {
        case .name(let n):
            scope.set(n, value)
        case .tuple(let targets):
            let items = try iterate(value, at: offset)
            guard items.count == targets.count else {
                if items.count > targets.count {
                    throw PendingError(.runtime, at: offset, "too many values to unpack (expected \(targets.count))")
                }
                throw PendingError(.runtime, at: offset, "not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            for (t, v) in zip(targets, items) { try assign(t, v, in: scope, at: offset) }
        case .namespaceAttribute(let name, let attr, let at):
            guard case .object(let o)? = scope.lookup(name), let ns = o as? Namespace else {
                throw PendingError(.runtime, at: at, "cannot assign attribute on non-namespace object",
                                   fix: "create it with {% set \(name) = namespace() %} first")
            }
            try Namespace.checkName(.string(attr), at: at)
            ns.attributes[attr] = value
        }
    }

    // MARK: - Macros

    func nestingError(at offset: SourceOffset) -> PendingError {
        PendingError(.unsupported, at: offset, "the template nests too deeply at run time (expressions, loops and macro calls)",
                     fix: "check for a macro (or recursive loop) that never stops calling itself")
    }

    func enterCall(at offset: SourceOffset) throws {
        nesting += 3
        if nesting > Interpreter.maxNesting { nesting -= 3; throw nestingError(at: offset) }
        callDepth += 1
        if callDepth > Interpreter.maxCallDepth {
            callDepth -= 1
            nesting -= 3
            throw PendingError(.runtime, at: offset, "macro calls nest deeper than \(Interpreter.maxCallDepth)",
                               fix: "check for a macro (or recursive loop) that never stops calling itself")
        }
    }

    /// Jinja2's `Macro.__call__`: positional, then keyword arguments by name; missing ones take their default
    /// (evaluated in the macro's scope) or are undefined; extra ones go to `varargs`/`kwargs` when the body reads them.
    func invoke(_ macro: Macro, _ args: Arguments, at offset: SourceOffset) throws -> Value {
        let def = macro.definition
        try enterCall(at: offset)
        defer { callDepth -= 1; nesting -= 3 }
        let scope = Scope(parent: macro.closure)
        var keywords = args.keywords
        func takeKeyword(_ name: String) -> Value? {
            guard let i = keywords.firstIndex(where: { $0.0 == name }) else { return nil }
            return keywords.remove(at: i).1
        }
        for (i, name) in def.parameters.enumerated() {
            var value: Value? = i < args.positional.count ? args.positional[i] : takeKeyword(name)
            if value == nil {
                if let d = def.defaults[i] {
                    value = try eval(d, scope)
                } else {
                    value = .undefined(Undefined(hint: "parameter \(pyRepr(string: name)) was not provided"))
                }
            }
            scope.set(name, value!)
        }
        if def.takesCaller {
            scope.set("caller", takeKeyword("caller") ?? .undefined(Undefined(hint: "No caller defined")))
        }
        if def.catchesKeywords {
            var d = ValueDictionary()
            for (k, v) in keywords { d[k] = v }
            scope.set("kwargs", .dict(d))
        } else if let (k, _) = keywords.first {
            if k == "caller" {
                throw PendingError(.runtime, at: offset, "macro \(pyRepr(string: def.name)) was invoked with two values for the special caller argument. This is most likely a bug.")
            }
            throw PendingError(.runtime, at: offset, "macro \(pyRepr(string: def.name)) takes no keyword argument \(pyRepr(string: k))")
        }
        if def.catchesVarargs {
            scope.set("varargs", .tuple(Array(args.positional.dropFirst(def.parameters.count))))
        } else if args.positional.count > def.parameters.count {
            throw PendingError(.runtime, at: offset, "macro \(pyRepr(string: def.name)) takes not more than \(def.parameters.count) argument(s)")
        }
        return .string(try capture(def.body, scope))
    }
}
