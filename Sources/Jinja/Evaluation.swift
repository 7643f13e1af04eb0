import Foundation

/// Expression evaluation with Jinja2's sandboxed lookup rules.
extension Interpreter {
    /// Evaluates an expression. A thin dispatcher: each kind is evaluated by its own non-inlined function, so
    /// that one level of expression nesting costs a small stack frame (this recursion is as deep as the template's
    /// expressions).
    func eval(_ e: Expression, _ scope: Scope) throws -> Value {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > Interpreter.maxNesting { throw nestingError(at: e.offset) }
        switch e.kind {
        case .literal(let v): return v
        case .name(let n): return scope.lookup(n) ?? .undefined(Undefined(variable: n))
        case .list(let items): return .list(try evalAll(items, scope))
        case .tuple(let items): return .tuple(try evalAll(items, scope))
        case .dict(let pairs): return try evalDict(pairs, scope)
        case .attribute(let obj, let name): return try evalAttribute(obj, name, scope, at: e.offset)
        case .item(let obj, let key): return try evalItem(obj, key, scope, at: e.offset)
        case .slice(let obj, let a, let b, let c): return try evalSlice(obj, a, b, c, scope, at: e.offset)
        case .call(let callee, let args): return try evalCall(callee, args, scope, at: e.offset)
        case .filter(let base, let name, let args): return try evalFilter(base, name, args, scope, at: e.offset)
        case .test(let base, let name, let args, let negated): return try evalTest(base, name, args, negated, scope, at: e.offset)
        case .unary(let op, let a): return try evalUnary(op, a, scope, at: e.offset)
        case .binary(let op, let a, let b): return try evalBinary(op, a, b, scope, at: e.offset)
        case .concat(let items): return try evalConcat(items, scope)
        case .compare(let first, let rest): return try evalCompare(first, rest, scope)
        case .and(let a, let b): return try evalAnd(a, b, scope)
        case .or(let a, let b): return try evalOr(a, b, scope)
        case .not(let a): return try evalNot(a, scope)
        case .conditional(let test, let then, let otherwise): return try evalConditional(test, then, otherwise, scope, at: e.offset)
        }
    }

    @inline(never) func evalAll(_ items: [Expression], _ scope: Scope) throws -> [Value] {
        var out: [Value] = []
        out.reserveCapacity(items.count)
        for item in items { out.append(try eval(item, scope)) }
        return out
    }

    @inline(never) func evalDict(_ pairs: [(Expression, Expression)], _ scope: Scope) throws -> Value {
        var d = ValueDictionary()
        for (k, v) in pairs {
            let key = try eval(k, scope)
            let value = try eval(v, scope)
            do { try d.set(key, value) } catch let u as UnhashableKey {
                throw PendingError(.runtime, at: k.offset, "unhashable type: '\(u.typeName)'")
            }
        }
        return .dict(d)
    }

    @inline(never) func evalAttribute(_ obj: Expression, _ name: String, _ scope: Scope, at offset: SourceOffset) throws -> Value {
        try getAttribute(try eval(obj, scope), name, at: offset)
    }

    @inline(never) func evalItem(_ obj: Expression, _ key: Expression, _ scope: Scope, at offset: SourceOffset) throws -> Value {
        let o = try eval(obj, scope)
        return try getItem(o, try eval(key, scope), at: offset)
    }

    @inline(never) func evalSlice(_ obj: Expression, _ a: Expression?, _ b: Expression?, _ c: Expression?, _ scope: Scope,
                                  at offset: SourceOffset) throws -> Value {
        let o = try eval(obj, scope)
        return try slice(o, try a.map { try eval($0, scope) }, try b.map { try eval($0, scope) },
                         try c.map { try eval($0, scope) }, at: offset)
    }

    @inline(never) func evalCall(_ callee: Expression, _ argExprs: CallArguments, _ scope: Scope, at offset: SourceOffset) throws -> Value {
        if case .attribute(let receiverExpr, let name) = callee.kind {
            let receiver = try eval(receiverExpr, scope)
            let args = try evalArguments(argExprs, scope, at: offset)
            if let result = try callMethod(receiver, name, args, at: offset) { return result }
            return try call(try getAttribute(receiver, name, at: offset), args, at: offset)
        }
        let f = try eval(callee, scope)
        return try call(f, try evalArguments(argExprs, scope, at: offset), at: offset)
    }

    @inline(never) func evalFilter(_ base: Expression?, _ name: String, _ argExprs: CallArguments, _ scope: Scope,
                                   at offset: SourceOffset) throws -> Value {
        guard let base else { throw PendingError(.syntax, at: offset, "filter without a value") }
        let v = try eval(base, scope)
        return try applyFilter(name, v, try evalArguments(argExprs, scope, at: offset), scope, at: offset)
    }

    @inline(never) func evalTest(_ base: Expression, _ name: String, _ argExprs: CallArguments, _ negated: Bool, _ scope: Scope,
                                 at offset: SourceOffset) throws -> Value {
        let v = try eval(base, scope)
        let result = try applyTest(name, v, try evalArguments(argExprs, scope, at: offset), scope, at: offset)
        return .bool(result != negated)
    }

    @inline(never) func evalUnary(_ op: UnaryOperator, _ a: Expression, _ scope: Scope, at offset: SourceOffset) throws -> Value {
        try unary(op, try eval(a, scope), at: offset)
    }

    @inline(never) func evalBinary(_ op: BinaryOperator, _ a: Expression, _ b: Expression, _ scope: Scope, at offset: SourceOffset) throws -> Value {
        let l = try eval(a, scope)
        let r = try eval(b, scope)
        return try binary(op, l, r, at: offset)
    }

    @inline(never) func evalConcat(_ items: [Expression], _ scope: Scope) throws -> Value {
        var s = ""
        for item in items { s += stringify(try eval(item, scope)) }
        return .string(s)
    }

    @inline(never) func evalCompare(_ first: Expression, _ rest: [(CompareOperator, Expression)], _ scope: Scope) throws -> Value {
        var left = try eval(first, scope)
        for (op, expr) in rest {
            let right = try eval(expr, scope)
            if !(try compare(op, left, right, at: expr.offset)) { return .bool(false) }
            left = right
        }
        return .bool(true)
    }

    @inline(never) func evalAnd(_ a: Expression, _ b: Expression, _ scope: Scope) throws -> Value {
        let l = try eval(a, scope)
        return l.isTruthy ? try eval(b, scope) : l
    }

    @inline(never) func evalOr(_ a: Expression, _ b: Expression, _ scope: Scope) throws -> Value {
        let l = try eval(a, scope)
        return l.isTruthy ? l : try eval(b, scope)
    }

    @inline(never) func evalNot(_ a: Expression, _ scope: Scope) throws -> Value {
        .bool(!(try eval(a, scope).isTruthy))
    }

    @inline(never) func evalConditional(_ test: Expression, _ then: Expression, _ otherwise: Expression?, _ scope: Scope,
                                        at offset: SourceOffset) throws -> Value {
        if try eval(test, scope).isTruthy { return try eval(then, scope) }
        if let otherwise { return try eval(otherwise, scope) }
        let line = source.position(of: offset).line
        return .undefined(Undefined(hint: "the inline if-expression on line \(line) evaluated to false and no else section was defined."))
    }

    func evalArguments(_ a: CallArguments, _ scope: Scope, at offset: SourceOffset) throws -> Arguments {
        var args = Arguments()
        args.positional.reserveCapacity(a.positional.count)
        for p in a.positional { args.positional.append(try eval(p, scope)) }
        for (k, v) in a.keywords { args.keywords.append((k, try eval(v, scope))) }
        if let star = a.star {
            args.positional.append(contentsOf: try iterate(try eval(star, scope), at: star.offset))
        }
        if let starStar = a.starStar {
            guard case .dict(let d) = try eval(starStar, scope) else {
                throw PendingError(.runtime, at: starStar.offset, "argument after ** must be a mapping")
            }
            for (k, v) in zip(d.keys, d.values) {
                guard let name = k.stringValue else { throw PendingError(.runtime, at: starStar.offset, "keywords must be strings") }
                if args.keywords.contains(where: { $0.0 == name }) {
                    throw PendingError(.runtime, at: starStar.offset, "got multiple values for keyword argument '\(name)'")
                }
                args.keywords.append((name, v))
            }
        }
        return args
    }

    // MARK: - Lookup

    /// The error for using an undefined value other than printing, testing or iterating it.
    func undefinedError(_ u: Undefined, at offset: SourceOffset) -> PendingError {
        if u.isUnsafe { return PendingError(.runtime, at: offset, u.message, fix: "templates cannot modify lists or dicts; build a new one with +, or use a namespace") }
        let fix = u.variableName.map { "pass '\($0)' to the renderer, or guard its use with `is defined`" }
            ?? "check the key or attribute name, or guard its use with `is defined`"
        return PendingError(.runtime, at: offset, u.message, fix: fix)
    }

    /// `obj.name`: the attribute (a method, a namespace field), else the item, else undefined.
    func getAttribute(_ obj: Value, _ name: String, at offset: SourceOffset) throws -> Value {
        if case .undefined(let u) = obj { throw undefinedError(u, at: offset) }
        if let v = realAttribute(obj, name) { return v }
        if case .dict(let d) = obj, let v = d[name] { return v }
        return .undefined(Undefined(missing: name, of: obj))
    }

    /// A Python attribute of the value (not an item): a method of str/list/dict, an object's field.
    func realAttribute(_ obj: Value, _ name: String) -> Value? {
        switch obj {
        case .dict:
            if dictMethodNames.contains(name) { return boundMethod(obj, name) }
        case .string, .markup:
            if stringMethodNames.contains(name) { return boundMethod(obj, name) }
        case .list:
            if listMethodNames.contains(name) { return boundMethod(obj, name) }
        case .tuple:
            if name == "index" || name == "count" { return boundMethod(obj, name) }
        case .object(let o):
            return o.attribute(name)
        default:
            break
        }
        return nil
    }

    /// `obj[key]`: the item, else (for a string key) the attribute, else undefined.
    func getItem(_ obj: Value, _ key: Value, at offset: SourceOffset) throws -> Value {
        switch obj {
        case .undefined(let u):
            throw undefinedError(u, at: offset)
        case .dict(let d):
            if let v = d[key] { return v }
        case .list(let items), .tuple(let items):
            if let i = key.intValue {
                let j = i < 0 ? i + items.count : i
                if j >= 0, j < items.count { return items[j] }
            }
        case .string(let s), .markup(let s):
            if let i = key.intValue {
                let u = s.unicodeScalars
                let n = u.count
                let j = i < 0 ? i + n : i
                if j >= 0, j < n { return .string(String(u[u.index(u.startIndex, offsetBy: j)])) }
            }
        default:
            break
        }
        if let name = key.stringValue, let v = realAttribute(obj, name) { return v }
        return .undefined(Undefined(missingKey: key, of: obj))
    }

    /// Python slicing of a list, tuple or string.
    func slice(_ obj: Value, _ start: Value?, _ stop: Value?, _ step: Value?, at offset: SourceOffset) throws -> Value {
        func index(_ v: Value?) throws -> Int? {
            guard let v, !(v.isNone) else { return nil }
            guard let i = v.intValue else {
                throw PendingError(.runtime, at: offset, "slice indices must be integers or None or have an __index__ method")
            }
            return i
        }
        let a = try index(start), b = try index(stop), c = try index(step) ?? 1
        guard c != 0 else { throw PendingError(.runtime, at: offset, "slice step cannot be zero") }
        func indices(_ n: Int) -> [Int] {
            func adjust(_ v: Int?, _ def: Int) -> Int {
                guard var v else { return def }
                if v < 0 {
                    v += n
                    if v < 0 { v = c < 0 ? -1 : 0 }
                } else if v >= n {
                    v = c < 0 ? n - 1 : n
                }
                return v
            }
            let lo = adjust(a, c > 0 ? 0 : n - 1), hi = adjust(b, c > 0 ? n : -1)
            var out: [Int] = []
            var i = lo
            if c > 0 { while i < hi { out.append(i); i += c } } else { while i > hi { out.append(i); i += c } }
            return out
        }
        switch obj {
        case .undefined(let u): throw undefinedError(u, at: offset)
        case .list(let items): return .list(indices(items.count).map { items[$0] })
        case .tuple(let items): return .tuple(indices(items.count).map { items[$0] })
        case .string(let s), .markup(let s):
            let u = s.scalarArray
            let text = String(scalars: indices(u.count).map { u[$0] })
            if case .markup = obj { return .markup(text) }
            return .string(text)
        case .dict:
            // Jinja2 compiles a slice to a plain Python subscript, so nothing falls back to undefined here.
            throw PendingError(.runtime, at: offset, "unhashable type: 'slice'")
        default:
            throw PendingError(.runtime, at: offset, "'\(obj.typeName)' object is not subscriptable")
        }
    }

    // MARK: - Calls

    func call(_ f: Value, _ args: Arguments, at offset: SourceOffset) throws -> Value {
        switch f {
        case .object(let o) where o.isCallable:
            return try o.call(args, self, at: offset)
        case .undefined(let u):
            throw undefinedError(u, at: offset)
        default:
            throw PendingError(.runtime, at: offset, "'\(f.typeName)' object is not callable")
        }
    }

    /// Iterates a value as Python's `for` does: a list's items, a dict's keys, a string's characters; undefined is
    /// empty; a generator is consumed.
    func iterate(_ v: Value, at offset: SourceOffset) throws -> [Value] {
        switch v {
        case .list(let items), .tuple(let items): return items
        case .dict(let d): return d.keys
        case .string(let s), .markup(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        case .object(let o):
            if let g = o as? Generator { return try g.drain() }
            if let l = o as? LoopContext { return l.items }
            if let c = o as? Cycler { return c.items }
            throw PendingError(.runtime, at: offset, "'\(o.typeName)' object is not iterable")
        default:
            throw PendingError(.runtime, at: offset, "'\(v.typeName)' object is not iterable")
        }
    }
}

extension Value {
    var isNone: Bool { if case .none = self { return true } else { return false } }
}
