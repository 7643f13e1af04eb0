import Foundation

/// Expressions, by Jinja2's precedence (loosest first): `x if c else y`, `or`, `and`, `not`, comparisons and `in`,
/// `+ -`, `~`, `* / // %`, `**`, unary `- +`, then primaries with `.attr`, `[…]`, calls, `|filter` and `is test`.
extension Parser {
    mutating func parseExpression(withCondexpr: Bool = true) throws -> Expression {
        withCondexpr ? try parseConditional() : try parseOr()
    }

    /// Comma-separated expressions; one without a trailing comma is returned as itself.
    mutating func parseTuple(withCondexpr: Bool = true, extraEnd: Set<String> = [], explicitParentheses: Bool = false) throws -> Expression {
        let offset = current.offset
        var items: [Expression] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(try parseExpression(withCondexpr: withCondexpr))
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw fail("Expected an expression, got \(describe(current))") }
        }
        return Expression(kind: .tuple(items), offset: offset)
    }

    mutating func parseConditional() throws -> Expression {
        try enter()
        defer { leave() }
        var chain = 0
        defer { depth -= chain }
        let mark = unknownNames.count
        let savedSoft = soft
        defer { soft = savedSoft }
        var expr = try parseOr()
        while skipName("if") {
            // The whole conditional expression is a soft frame, its first operand included.
            if unknownNames.count > mark { unknownNames.removeSubrange(mark...) }
            soft = true
            try enter(); chain += 1
            let test = try parseOr()
            let otherwise = skipName("else") ? try parseConditional() : nil
            expr = Expression(kind: .conditional(test: test, then: expr, otherwise: otherwise), offset: expr.offset)
        }
        return expr
    }

    mutating func parseOr() throws -> Expression {
        var left = try parseAnd()
        var chain = 0
        defer { depth -= chain }
        while skipName("or") {
            try enter(); chain += 1
            let right = try parseAnd()
            left = Expression(kind: .or(left, right), offset: left.offset)
        }
        return left
    }

    mutating func parseAnd() throws -> Expression {
        var left = try parseNot()
        var chain = 0
        defer { depth -= chain }
        while skipName("and") {
            try enter(); chain += 1
            let right = try parseNot()
            left = Expression(kind: .and(left, right), offset: left.offset)
        }
        return left
    }

    mutating func parseNot() throws -> Expression {
        if isName("not") {
            let offset = current.offset
            advance()
            try enter()
            defer { leave() }
            return Expression(kind: .not(try parseNot()), offset: offset)
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws -> Expression {
        let expr = try parseMath1()
        var ops: [(CompareOperator, Expression)] = []
        while true {
            if case .op(let o) = current.kind, let op = CompareOperator(rawValue: o), op != .in, op != .notIn {
                advance()
                ops.append((op, try parseMath1()))
            } else if skipName("in") {
                ops.append((.in, try parseMath1()))
            } else if isName("not"), isName("in", next) {
                advance(); advance()
                ops.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? expr : Expression(kind: .compare(expr, ops), offset: expr.offset)
    }

    mutating func parseMath1() throws -> Expression {
        var left = try parseConcat()
        var chain = 0
        defer { depth -= chain }
        while true {
            let op: BinaryOperator
            if isOp("+") { op = .add } else if isOp("-") { op = .subtract } else { break }
            try enter(); chain += 1
            advance()
            let right = try parseConcat()
            left = Expression(kind: .binary(op, left, right), offset: left.offset)
        }
        return left
    }

    mutating func parseConcat() throws -> Expression {
        let first = try parseMath2()
        var items = [first]
        while skipOp("~") { items.append(try parseMath2()) }
        return items.count == 1 ? first : Expression(kind: .concat(items), offset: first.offset)
    }

    mutating func parseMath2() throws -> Expression {
        var left = try parsePow()
        var chain = 0
        defer { depth -= chain }
        while true {
            let op: BinaryOperator
            if isOp("*") { op = .multiply } else if isOp("/") { op = .divide } else if isOp("//") { op = .floorDivide }
            else if isOp("%") { op = .modulo } else { break }
            try enter(); chain += 1
            advance()
            let right = try parsePow()
            left = Expression(kind: .binary(op, left, right), offset: left.offset)
        }
        return left
    }

    mutating func parsePow() throws -> Expression {
        var left = try parseUnary()
        var chain = 0
        defer { depth -= chain }
        while skipOp("**") {
            try enter(); chain += 1
            let right = try parseUnary()
            left = Expression(kind: .binary(.power, left, right), offset: left.offset)
        }
        return left
    }

    /// `-x` binds tighter than filters only for the operand: `-x|abs` is `(-x)|abs`, as in Jinja2.
    mutating func parseUnary(withFilter: Bool = true) throws -> Expression {
        let offset = current.offset
        var node: Expression
        if isOp("-") || isOp("+") {
            let op: UnaryOperator = isOp("-") ? .negate : .plus
            advance()
            try enter()
            defer { leave() }
            node = Expression(kind: .unary(op, try parseUnary(withFilter: false)), offset: offset)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpression(node) }
        return node
    }

    mutating func parsePrimary() throws -> Expression {
        let t = current
        switch t.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return Expression(kind: .literal(.bool(true)), offset: t.offset)
            case "false", "False": return Expression(kind: .literal(.bool(false)), offset: t.offset)
            case "none", "None": return Expression(kind: .literal(.none), offset: t.offset)
            default: return Expression(kind: .name(n), offset: t.offset)
            }
        case .string(let s):
            advance()
            var text = s
            while case .string(let more) = current.kind {
                text += more
                advance()
            }
            return Expression(kind: .literal(.string(text)), offset: t.offset)
        case .integer(let v):
            advance()
            return Expression(kind: .literal(.int(v)), offset: t.offset)
        case .float(let v):
            advance()
            return Expression(kind: .literal(.double(v)), offset: t.offset)
        case .op("("):
            advance()
            try enter(t)
            defer { leave() }
            let e = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return e
        case .op("["):
            advance()
            try enter(t)
            defer { leave() }
            var items: [Expression] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return Expression(kind: .list(items), offset: t.offset)
        case .op("{"):
            advance()
            try enter(t)
            defer { leave() }
            var pairs: [(Expression, Expression)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            try expectOp("}")
            return Expression(kind: .dict(pairs), offset: t.offset)
        default:
            throw fail("unexpected \(describe(t))", fix: "an expression was expected here")
        }
    }

    mutating func parsePostfix(_ start: Expression) throws -> Expression {
        var node = start
        var chain = 0
        defer { depth -= chain }
        while true {
            if isOp(".") || isOp("[") || isOp("(") || isOp("|") || isName("is") { try enter(); chain += 1 }
            if isOp(".") || isOp("[") {
                node = try parseSubscript(node)
            } else if isOp("(") {
                node = try parseCall(node)
            } else {
                return node
            }
        }
    }

    mutating func parseFilterExpression(_ start: Expression) throws -> Expression {
        var node = start
        var chain = 0
        defer { depth -= chain }
        while true {
            if isOp(".") || isOp("[") || isOp("(") || isOp("|") || isName("is") { try enter(); chain += 1 }
            if isOp("|") {
                node = try parseFilter(node)
            } else if isName("is") {
                node = try parseTest(node)
            } else if isOp("(") {
                node = try parseCall(node)
            } else {
                return node
            }
        }
    }

    mutating func parseSubscript(_ node: Expression) throws -> Expression {
        let t = current
        advance()
        if case .op(".") = t.kind {
            let attr = current
            advance()
            switch attr.kind {
            case .name(let n): return Expression(kind: .attribute(node, n), offset: node.offset)
            case .integer(let v): return Expression(kind: .item(node, Expression(kind: .literal(.int(v)), offset: attr.offset)), offset: node.offset)
            default: throw fail("expected name or number", at: attr)
            }
        }
        // `[` … `]`
        try enter(t)
        defer { leave() }
        var args: [Expression] = []
        var slice: (Expression?, Expression?, Expression?)? = nil
        while !isOp("]") {
            if !args.isEmpty || slice != nil { try expectOp(",") }
            switch try parseSubscribed() {
            case .index(let e):
                if slice != nil { throw PendingError(.unsupported, at: t.offset, "a slice inside a tuple subscript is not supported") }
                args.append(e)
            case .slice(let a, let b, let c):
                guard args.isEmpty, slice == nil else {
                    throw PendingError(.unsupported, at: t.offset, "a slice inside a tuple subscript is not supported")
                }
                slice = (a, b, c)
            }
        }
        try expectOp("]")
        if let (a, b, c) = slice {
            guard args.isEmpty else { throw PendingError(.unsupported, at: t.offset, "a slice inside a tuple subscript is not supported") }
            return Expression(kind: .slice(node, start: a, stop: b, step: c), offset: node.offset)
        }
        // `x[]` is legal Jinja: an empty tuple key.
        let key = args.count == 1 ? args[0] : Expression(kind: .tuple(args), offset: args.first?.offset ?? t.offset)
        return Expression(kind: .item(node, key), offset: node.offset)
    }

    enum Subscript {
        case index(Expression)
        case slice(Expression?, Expression?, Expression?)
    }

    /// One subscript: an index, or a slice `a:b:c` with any part optional.
    mutating func parseSubscribed() throws -> Subscript {
        var start: Expression? = nil
        if !isOp(":") {
            let e = try parseExpression()
            guard isOp(":") else { return .index(e) }
            start = e
        }
        advance()  // ':'
        var stop: Expression? = nil, step: Expression? = nil
        if !isOp(":"), !isOp("]"), !isOp(",") { stop = try parseExpression() }
        if skipOp(":") {
            if !isOp("]"), !isOp(",") { step = try parseExpression() }
        }
        return .slice(start, stop, step)
    }

    mutating func parseCallArguments() throws -> CallArguments {
        let open = current
        try expectOp("(")
        try enter(open)
        defer { leave() }
        var args = CallArguments()
        var requireComma = false
        func ensure(_ ok: Bool) throws {
            if !ok { throw fail("invalid syntax for function call expression", at: open) }
        }
        while !isOp(")") {
            if requireComma {
                try expectOp(",")
                if isOp(")") { break }
            }
            if skipOp("*") {
                try ensure(args.star == nil && args.starStar == nil)
                args.star = try parseExpression()
            } else if skipOp("**") {
                try ensure(args.starStar == nil)
                args.starStar = try parseExpression()
            } else if case .name(let key) = current.kind, isOp("=", next) {
                try ensure(args.starStar == nil)
                advance(); advance()
                args.keywords.append((key, try parseExpression()))
            } else {
                try ensure(args.star == nil && args.starStar == nil && args.keywords.isEmpty)
                args.positional.append(try parseExpression())
            }
            requireComma = true
        }
        try expectOp(")")
        return args
    }

    mutating func parseCall(_ node: Expression) throws -> Expression {
        let args = try parseCallArguments()
        return Expression(kind: .call(node, args), offset: node.offset)
    }

    /// `|name(args)`, repeated; with `startInline` the first filter has no `|` (`{% filter upper %}`).
    mutating func parseFilterChain(startInline: Bool) throws -> [Expression] {
        var out: [Expression] = []
        var inline = startInline
        while isOp("|") || inline {
            if !inline { advance() }
            inline = false
            out.append(try parseFilterCall(nil))
        }
        return out
    }

    mutating func parseFilter(_ node: Expression) throws -> Expression {
        var node = node
        var chain = 0
        defer { depth -= chain }
        while isOp("|") {
            try enter(); chain += 1
            advance()
            node = try parseFilterCall(node)
        }
        return node
    }

    private mutating func parseFilterCall(_ node: Expression?) throws -> Expression {
        let t = current
        var name = try expectIdentifier()
        while skipOp(".") { name += "." + (try expectIdentifier()) }
        try checkFilter(name, at: t)
        let args = isOp("(") ? try parseCallArguments() : .none
        return Expression(kind: .filter(node, name, args), offset: node?.offset ?? t.offset)
    }

    mutating func parseTest(_ node: Expression) throws -> Expression {
        advance()  // `is`
        let negated = skipName("not")
        let t = current
        var name = try expectIdentifier()
        while skipOp(".") { name += "." + (try expectIdentifier()) }
        try checkTest(name, at: t)
        var args = CallArguments.none
        if isOp("(") {
            args = try parseCallArguments()
        } else {
            var takesArgument = false
            switch current.kind {
            case .name(let n): takesArgument = !["else", "or", "and"].contains(n)
            case .string, .integer, .float, .op("("), .op("["), .op("{"): takesArgument = true
            default: break
            }
            if takesArgument {
                if isName("is") { throw fail("You cannot chain multiple tests with is") }
                var arg = try parsePrimary()
                arg = try parsePostfix(arg)
                args.positional = [arg]
            }
        }
        return Expression(kind: .test(node, name, args, negated: negated), offset: node.offset)
    }

    /// Records an unknown or refused filter outside a soft frame (see `Parser.soft`).
    private mutating func checkFilter(_ name: String, at t: Token) throws {
        if builtinFilters[name] != nil || soft { return }
        if unsupportedFilters.contains(name) {
            unknownNames.append(PendingError(.unsupported, at: t.offset, "the '\(name)' filter is not supported",
                                             fix: "chat templates rarely need it; rewrite that part of the template"))
        } else {
            unknownNames.append(PendingError(.syntax, at: t.offset, "No filter named '\(name)'.", fix: "check the filter's spelling"))
        }
    }

    private mutating func checkTest(_ name: String, at t: Token) throws {
        if builtinTests[name] != nil || soft { return }
        if unsupportedTests.contains(name) {
            unknownNames.append(PendingError(.unsupported, at: t.offset, "the '\(name)' test is not supported"))
        } else {
            unknownNames.append(PendingError(.syntax, at: t.offset, "No test named '\(name)'.", fix: "check the test's spelling"))
        }
    }
}
