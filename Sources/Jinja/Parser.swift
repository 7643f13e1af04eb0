import Foundation

/// Turns tokens into statements, following Jinja2's grammar (`jinja2/parser.py`) for the tags chat templates use.
/// Unknown filters and tests are refused here, as Jinja2 refuses them when it compiles a template.
struct Parser {
    var tokens: [Token]
    var i = 0
    /// Expression and statement nesting, bounded so that hostile input cannot exhaust the stack.
    var depth = 0
    static let maxDepth = 64
    /// How many `for` bodies enclose the current position within the current macro (for `break`/`continue`).
    var loopDepth = 0
    /// Open tags, innermost last, and the end tags each body is looking for: Jinja2's context for
    /// "unexpected end of template" and "unknown tag" messages.
    var tagStack: [String] = []
    var endStack: [[String]] = []
    /// Jinja2's "soft frame": inside an `{% if %}` or an `x if c else y`, an unknown filter or test only fails if it
    /// runs; elsewhere it fails the whole template (reported after parsing, as Jinja2 compiles after it parses).
    var soft = false
    var unknownNames: [PendingError] = []

    init(tokens: [Token]) { self.tokens = tokens }

    // MARK: - Token stream

    var current: Token { tokens[i] }
    var next: Token { tokens[min(i + 1, tokens.count - 1)] }

    mutating func advance() { if i < tokens.count - 1 { i += 1 } }

    func isName(_ name: String, _ t: Token? = nil) -> Bool {
        if case .name(let n) = (t ?? current).kind { return n == name }
        return false
    }

    func isOp(_ op: String, _ t: Token? = nil) -> Bool {
        if case .op(let o) = (t ?? current).kind { return o == op }
        return false
    }

    mutating func skipName(_ name: String) -> Bool {
        if isName(name) { advance(); return true }
        return false
    }

    mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) { advance(); return true }
        return false
    }

    func fail(_ what: String, at t: Token? = nil, fix: String = "") -> PendingError {
        PendingError(.syntax, at: (t ?? current).offset, what, fix: fix)
    }

    mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw fail("expected token '\(op)', got \(describe(current))") }
    }

    mutating func expectName(_ name: String) throws {
        guard skipName(name) else { throw fail("expected token '\(name)', got \(describe(current))") }
    }

    mutating func expectIdentifier() throws -> String {
        guard case .name(let n) = current.kind else { throw fail("expected token 'name', got \(describe(current))") }
        advance()
        return n
    }

    mutating func expectBlockEnd() throws {
        guard case .blockEnd = current.kind else {
            throw fail("expected token 'end of statement block', got \(describe(current))",
                       fix: "a statement tag holds one statement; check for a missing operator or quote")
        }
        advance()
    }

    func describe(_ t: Token) -> String {
        switch t.kind {
        case .data: return "'template data'"
        case .variableBegin: return "'begin of print statement'"
        case .variableEnd: return "'end of print statement'"
        case .blockBegin: return "'begin of statement block'"
        case .blockEnd: return "'end of statement block'"
        case .name(let n): return "'\(n)'"
        case .string: return "'string'"
        case .integer: return "'integer'"
        case .float: return "'float'"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }

    mutating func enter(_ t: Token? = nil) throws {
        depth += 1
        if depth > Parser.maxDepth {
            throw PendingError(.unsupported, at: (t ?? current).offset, "the template nests deeper than \(Parser.maxDepth) levels",
                               fix: "flatten the expression or the nested blocks")
        }
    }

    mutating func leave() { depth -= 1 }

    // MARK: - Template body

    mutating func parseTemplate() throws -> [Node] {
        let body = try subparse(until: nil)
        guard case .eof = current.kind else { throw fail("unexpected \(describe(current))") }
        if let first = unknownNames.first { throw first }
        return body
    }

    /// Nodes up to (not including) a block tag whose name is in `end`; at `eof` when `end` is nil.
    mutating func subparse(until end: [String]?) throws -> [Node] {
        var body: [Node] = []
        while true {
            switch current.kind {
            case .data(let text):
                body.append(.text(text))
                advance()
            case .variableBegin:
                advance()
                let e = try parseTuple(withCondexpr: true)
                guard case .variableEnd = current.kind else {
                    throw fail("expected token 'end of print statement', got \(describe(current))",
                               fix: "check for a missing operator or an unclosed bracket in {{ … }}")
                }
                advance()
                body.append(.output(e))
            case .blockBegin:
                advance()
                if let end, case .name(let n) = current.kind, end.contains(n) { return body }
                body.append(contentsOf: try parseStatement())
                try expectBlockEnd()
            case .eof:
                return body
            default:
                throw fail("unexpected \(describe(current))")
            }
        }
    }

    /// `%}`, a body, and the end tag (consumed when `dropNeedle`).
    /// `soft`: whether the body is in an `{% if %}`'s frame (other blocks open a frame of their own).
    mutating func parseBody(_ end: [String], dropNeedle: Bool, soft bodySoft: Bool = false) throws -> [Node] {
        _ = skipOp(":")
        try expectBlockEnd()
        let savedSoft = soft
        soft = bodySoft
        defer { soft = savedSoft }
        endStack.append(end)
        defer { endStack.removeLast() }
        let body = try subparse(until: end)
        if case .eof = current.kind {
            throw fail(unknownTagMessage(nil, openTags: tagStack), fix: "close every block tag")
        }
        if dropNeedle { advance() }
        return body
    }

    /// Jinja2's message for an unknown tag (`name`) or the end of the template (nil) inside open blocks.
    func unknownTagMessage(_ name: String?, openTags: ArraySlice<String>) -> String {
        var parts = [name.map { "Encountered unknown tag '\($0)'." } ?? "Unexpected end of template."]
        if let looking = endStack.last?.map({ "'\($0)'" }).joined(separator: " or ") {
            if let name, endStack.joined().contains(name) {
                parts.append("You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for \(looking).")
            } else {
                parts.append("Jinja was looking for the following tags: \(looking).")
            }
        }
        if let open = openTags.last { parts.append("The innermost block that needs to be closed is '\(open)'.") }
        return parts.joined(separator: " ")
    }

    func unknownTagMessage(_ name: String?, openTags: [String]) -> String {
        unknownTagMessage(name, openTags: openTags[...])
    }

    // MARK: - Statements

    static let unsupportedTags: Set<String> = ["block", "extends", "include", "import", "from", "autoescape", "endblock"]
    static let endTags: Set<String> = ["endif", "endfor", "endmacro", "endset", "endcall", "endfilter", "endwith",
                                       "elif", "else", "endraw", "endgeneration"]

    mutating func parseStatement() throws -> [Node] {
        let t = current
        guard case .name(let tag) = t.kind else { throw fail("tag name expected") }
        try enter(t)
        defer { leave() }
        tagStack.append(tag)
        defer { tagStack.removeLast() }
        switch tag {
        case "for": return [try parseFor()]
        case "if": return [try parseIf()]
        case "set": return [try parseSet()]
        case "macro": return [try parseMacro()]
        case "call": return [try parseCallBlock()]
        case "filter": return [try parseFilterBlock()]
        case "with": return [try parseWith()]
        case "print": return try parsePrint()
        case "generation":
            // transformers' AssistantTracker tag: renders its body (as a call block, so with its own scope).
            advance()
            let saved = loopDepth
            loopDepth = 0
            defer { loopDepth = saved }
            let body = try parseBody(["endgeneration"], dropNeedle: true)
            return [.with([], body: body)]
        case "break", "continue":
            guard loopDepth > 0 else {
                throw fail("'\(tag)' outside a for loop", fix: "{% \(tag) %} only works directly inside a {% for %} body")
            }
            advance()
            return [tag == "break" ? .breakLoop : .continueLoop]
        default:
            if Parser.unsupportedTags.contains(tag) {
                throw PendingError(.unsupported, at: t.offset, "the '\(tag)' tag is not supported",
                                   fix: "chat templates render alone: inline the other template's text instead")
            }
            let fix = Parser.endTags.contains(tag) ? "it does not close any open block here; check the nesting"
                : "check the spelling; supported tags: for, if, set, macro, call, filter, with, raw, break, continue"
            throw fail(unknownTagMessage(tag, openTags: tagStack.dropLast()), at: t, fix: fix)
        }
    }

    mutating func parseFor() throws -> Node {
        let offset = current.offset
        advance()
        let target = try parseAssignTarget(extraEnd: ["in"])
        if target.assignsName("loop") {
            throw fail("Can't assign to special loop variable in for-loop target")
        }
        try expectName("in")
        let iterable = try parseTuple(withCondexpr: false, extraEnd: ["recursive"])
        var filter: Expression? = nil
        if skipName("if") {
            let savedSoft = soft
            soft = false
            defer { soft = savedSoft }
            filter = try parseExpression()
        }
        let recursive = skipName("recursive")
        loopDepth += 1
        let body = try parseBody(["endfor", "else"], dropNeedle: false)
        loopDepth -= 1
        var otherwise: [Node] = []
        if skipName("else") {
            otherwise = try parseBody(["endfor"], dropNeedle: true)
        } else {
            advance()
        }
        return .forLoop(ForLoop(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise,
                                recursive: recursive, offset: offset))
    }

    mutating func parseIf() throws -> Node {
        advance()
        let savedSoft = soft
        soft = true
        defer { soft = savedSoft }
        var branches: [(Expression, [Node])] = []
        var otherwise: [Node] = []
        while true {
            let test = try parseTuple(withCondexpr: false)
            let body = try parseBody(["elif", "else", "endif"], dropNeedle: false, soft: true)
            branches.append((test, body))
            if skipName("elif") { continue }
            if skipName("else") { otherwise = try parseBody(["endif"], dropNeedle: true, soft: true) } else { advance() }
            break
        }
        return .ifChain(branches, otherwise: otherwise)
    }

    mutating func parseSet() throws -> Node {
        let offset = current.offset
        advance()
        let target = try parseAssignTarget(withNamespace: true)
        if skipOp("=") {
            return .set(target, try parseTuple(), offset)
        }
        let savedSoft = soft
        soft = false
        let filters = try parseFilterChain(startInline: false)
        soft = savedSoft
        let body = try parseBody(["endset"], dropNeedle: true)
        return .setBlock(target, filters: filters, body: body, offset)
    }

    mutating func parseMacro() throws -> Node {
        let offset = current.offset
        advance()
        let name = try expectIdentifier()
        let savedSoft = soft
        soft = false
        let (params, defaults) = try parseSignature()
        soft = savedSoft
        let saved = loopDepth
        loopDepth = 0
        defer { loopDepth = saved }
        let body = try parseBody(["endmacro"], dropNeedle: true)
        return .macro(MacroDefinition(name: name, parameters: params, defaults: defaults, body: body, offset: offset))
    }

    mutating func parseSignature() throws -> ([String], [Expression?]) {
        var params: [String] = [], defaults: [Expression?] = []
        try expectOp("(")
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            let name = try expectIdentifier()
            if skipOp("=") {
                defaults.append(try parseExpression())
            } else {
                if defaults.contains(where: { $0 != nil }) { throw fail("non-default argument follows default argument") }
                defaults.append(nil)
            }
            params.append(name)
        }
        try expectOp(")")
        return (params, defaults)
    }

    mutating func parseCallBlock() throws -> Node {
        let offset = current.offset
        advance()
        var params: [String] = [], defaults: [Expression?] = []
        if isOp("(") { (params, defaults) = try parseSignature() }
        let call = try parseExpression()
        guard case .call = call.kind else { throw PendingError(.syntax, at: offset, "expected call") }
        let saved = loopDepth
        loopDepth = 0
        defer { loopDepth = saved }
        let body = try parseBody(["endcall"], dropNeedle: true)
        return .callBlock(call: call, caller: MacroDefinition(name: "caller", parameters: params, defaults: defaults,
                                                              body: body, offset: offset))
    }

    mutating func parseFilterBlock() throws -> Node {
        advance()
        let savedSoft = soft
        soft = false
        let filters = try parseFilterChain(startInline: true)
        soft = savedSoft
        let body = try parseBody(["endfilter"], dropNeedle: true)
        return .filterBlock(filters: filters, body: body)
    }

    mutating func parseWith() throws -> Node {
        advance()
        var pairs: [(AssignTarget, Expression)] = []
        while true {
            if case .blockEnd = current.kind { break }
            if !pairs.isEmpty { try expectOp(",") }
            let target = try parseAssignTarget()
            try expectOp("=")
            pairs.append((target, try parseExpression()))
        }
        let body = try parseBody(["endwith"], dropNeedle: true)
        return .with(pairs, body: body)
    }

    mutating func parsePrint() throws -> [Node] {
        advance()
        var out: [Node] = []
        while true {
            if case .blockEnd = current.kind { break }
            if !out.isEmpty { try expectOp(",") }
            out.append(.output(try parseExpression()))
        }
        return out
    }

    /// A name, a namespace attribute (`ns.x`, with `withNamespace`) or a tuple of them.
    mutating func parseAssignTarget(extraEnd: Set<String> = [], withNamespace: Bool = false) throws -> AssignTarget {
        var targets: [AssignTarget] = []
        var isTuple = false
        while true {
            if !targets.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            let t = current
            if isOp("(") {
                advance()
                targets.append(try parseAssignTarget(withNamespace: withNamespace))
                try expectOp(")")
                if isOp(",") { isTuple = true; continue } else { break }
            }
            guard case .name(let name) = t.kind else {
                switch t.kind {
                case .string, .integer, .float: throw fail("can't assign to 'const'", fix: "assign to a variable name")
                default: throw fail("can't assign to \(describe(t))", fix: "assign to a variable name")
                }
            }
            if ["true", "false", "True", "False", "none", "None"].contains(name) {
                throw fail("can't assign to 'const'", at: t)
            }
            advance()
            if withNamespace, isOp(".") {
                advance()
                let attr = try expectIdentifier()
                targets.append(.namespaceAttribute(name, attr, t.offset))
            } else {
                targets.append(.name(name))
            }
            if isOp(",") { isTuple = true } else { break }
        }
        if targets.isEmpty { throw fail("Expected an expression, got \(describe(current))") }
        return isTuple ? .tuple(targets) : targets[0]
    }

    /// Where a comma-separated list may end. Jinja2 passes its extra end rules (`in` in a `for` target) in a way
    /// that never matches, so only the tag end and `)` end a tuple: `{% for a, b, in x %}` is an error there too.
    func isTupleEnd(_ extraEnd: Set<String> = []) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd: return true
        case .op(")"): return true
        default: return false
        }
    }
}

extension AssignTarget {
    func assignsName(_ name: String) -> Bool {
        switch self {
        case .name(let n): return n == name
        case .tuple(let ts): return ts.contains { $0.assignsName(name) }
        case .namespaceAttribute: return false
        }
    }
}
