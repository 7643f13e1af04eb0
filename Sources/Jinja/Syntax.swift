import Foundation

/// An expression of the template language, with the offset of its first token for error messages.
struct Expression {
    indirect enum Kind {
        case literal(Value)
        case name(String)
        case list([Expression])
        case tuple([Expression])
        case dict([(Expression, Expression)])
        /// `obj.name` — attribute first, then item (Jinja2's `getattr`).
        case attribute(Expression, String)
        /// `obj[key]` — item first, then attribute (Jinja2's `getitem`).
        case item(Expression, Expression)
        /// `obj[start:stop:step]`.
        case slice(Expression, start: Expression?, stop: Expression?, step: Expression?)
        case call(Expression, CallArguments)
        /// `value|name(args)`; `value == nil` inside `{% filter %}` and `{% set x | f %}` heads.
        case filter(Expression?, String, CallArguments)
        /// `value is name(args)`, negated for `is not`.
        case test(Expression, String, CallArguments, negated: Bool)
        case unary(UnaryOperator, Expression)
        case binary(BinaryOperator, Expression, Expression)
        /// `a ~ b ~ c`.
        case concat([Expression])
        /// `a < b <= c`: Python's chained comparison.
        case compare(Expression, [(CompareOperator, Expression)])
        case and(Expression, Expression)
        case or(Expression, Expression)
        case not(Expression)
        /// `then if test else otherwise`; without `else` an undefined value.
        case conditional(test: Expression, then: Expression, otherwise: Expression?)
    }

    var kind: Kind
    var offset: SourceOffset
}

/// Arguments of a call, filter or test as written.
struct CallArguments {
    var positional: [Expression] = []
    var keywords: [(String, Expression)] = []
    /// `*args` and `**kwargs`.
    var star: Expression? = nil
    var starStar: Expression? = nil

    static let none = CallArguments()
}

enum UnaryOperator { case negate, plus }

enum BinaryOperator: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
}

enum CompareOperator: String {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case `in` = "in", notIn = "not in"
}

/// What `{% set %}` and `{% for %}` assign to.
indirect enum AssignTarget {
    case name(String)
    case tuple([AssignTarget])
    /// `ns.attr` on a namespace object.
    case namespaceAttribute(String, String, SourceOffset)
}

/// A macro as defined by `{% macro %}` or the body of a `{% call %}` block.
final class MacroDefinition {
    let name: String
    let parameters: [String]
    /// Default expression per parameter (nil: required).
    let defaults: [Expression?]
    let body: [Node]
    /// Whether the body reads `varargs`, `kwargs`, `caller` (Jinja2 only accepts extra arguments then).
    let catchesVarargs: Bool
    let catchesKeywords: Bool
    let takesCaller: Bool
    let offset: SourceOffset

    init(name: String, parameters: [String], defaults: [Expression?], body: [Node], offset: SourceOffset) {
        self.name = name
        self.parameters = parameters
        self.defaults = defaults
        self.body = body
        self.offset = offset
        var names = Set<String>()
        collectNames(body, into: &names)
        for d in defaults { if let d { collectNames(d, into: &names) } }
        catchesVarargs = names.contains("varargs") && !parameters.contains("varargs")
        catchesKeywords = names.contains("kwargs") && !parameters.contains("kwargs")
        takesCaller = names.contains("caller") && !parameters.contains("caller")
    }
}

/// A `{% for %}` loop.
struct ForLoop {
    var target: AssignTarget
    var iterable: Expression
    /// `{% for x in xs if cond %}`.
    var filter: Expression?
    var body: [Node]
    var otherwise: [Node]
    var recursive: Bool
    var offset: SourceOffset
}

/// A statement or piece of output.
indirect enum Node {
    case text(String)
    case output(Expression)
    case ifChain([(Expression, [Node])], otherwise: [Node])
    case forLoop(ForLoop)
    case set(AssignTarget, Expression, SourceOffset)
    /// `{% set x %}…{% endset %}`, optionally through filters (`{% set x | trim %}`).
    case setBlock(AssignTarget, filters: [Expression], body: [Node], SourceOffset)
    case macro(MacroDefinition)
    /// `{% call(args) macro(…) %}body{% endcall %}`: the body becomes `caller`.
    case callBlock(call: Expression, caller: MacroDefinition)
    case filterBlock(filters: [Expression], body: [Node])
    case with([(AssignTarget, Expression)], body: [Node])
    case breakLoop
    case continueLoop
}

// MARK: - Name collection (which special names a macro body uses)

private func collectNames(_ nodes: [Node], into names: inout Set<String>) {
    for n in nodes { collectNames(n, into: &names) }
}

private func collectNames(_ node: Node, into names: inout Set<String>) {
    switch node {
    case .text, .breakLoop, .continueLoop: break
    case .output(let e): collectNames(e, into: &names)
    case .ifChain(let branches, let otherwise):
        for (c, b) in branches { collectNames(c, into: &names); collectNames(b, into: &names) }
        collectNames(otherwise, into: &names)
    case .forLoop(let f):
        collectNames(f.iterable, into: &names)
        if let c = f.filter { collectNames(c, into: &names) }
        collectNames(f.body, into: &names)
        collectNames(f.otherwise, into: &names)
    case .set(_, let e, _): collectNames(e, into: &names)
    case .setBlock(_, let filters, let body, _):
        for f in filters { collectNames(f, into: &names) }
        collectNames(body, into: &names)
    case .macro: break  // a nested macro's special names are its own
    case .callBlock(let call, let caller):
        collectNames(call, into: &names)
        for d in caller.defaults { if let d { collectNames(d, into: &names) } }
    case .filterBlock(let filters, let body):
        for f in filters { collectNames(f, into: &names) }
        collectNames(body, into: &names)
    case .with(let pairs, let body):
        for (_, e) in pairs { collectNames(e, into: &names) }
        collectNames(body, into: &names)
    }
}

private func collectNames(_ args: CallArguments, into names: inout Set<String>) {
    for a in args.positional { collectNames(a, into: &names) }
    for (_, a) in args.keywords { collectNames(a, into: &names) }
    if let s = args.star { collectNames(s, into: &names) }
    if let s = args.starStar { collectNames(s, into: &names) }
}

private func collectNames(_ e: Expression, into names: inout Set<String>) {
    switch e.kind {
    case .literal: break
    case .name(let n): names.insert(n)
    case .list(let items), .tuple(let items), .concat(let items):
        for i in items { collectNames(i, into: &names) }
    case .dict(let pairs):
        for (k, v) in pairs { collectNames(k, into: &names); collectNames(v, into: &names) }
    case .attribute(let o, _): collectNames(o, into: &names)
    case .item(let o, let k): collectNames(o, into: &names); collectNames(k, into: &names)
    case .slice(let o, let a, let b, let c):
        collectNames(o, into: &names)
        for x in [a, b, c] { if let x { collectNames(x, into: &names) } }
    case .call(let f, let args): collectNames(f, into: &names); collectNames(args, into: &names)
    case .filter(let v, _, let args):
        if let v { collectNames(v, into: &names) }
        collectNames(args, into: &names)
    case .test(let v, _, let args, _): collectNames(v, into: &names); collectNames(args, into: &names)
    case .unary(_, let a), .not(let a): collectNames(a, into: &names)
    case .binary(_, let a, let b), .and(let a, let b), .or(let a, let b):
        collectNames(a, into: &names); collectNames(b, into: &names)
    case .compare(let a, let rest):
        collectNames(a, into: &names)
        for (_, b) in rest { collectNames(b, into: &names) }
    case .conditional(let t, let a, let b):
        collectNames(t, into: &names); collectNames(a, into: &names)
        if let b { collectNames(b, into: &names) }
    }
}
