import Foundation

/// Python `==`: numbers by value (`1 == 1.0 == True`), strings by scalars, containers element-wise, a list never
/// equal to a tuple, undefined equal only to undefined, objects by identity.
func pyEquals(_ a: Value, _ b: Value) -> Bool {
    switch (a, b) {
    case (.undefined, .undefined), (.none, .none): return true
    case (.int(let x), .int(let y)): return x == y
    case (.string(let x), .string(let y)), (.string(let x), .markup(let y)), (.markup(let x), .string(let y)),
         (.markup(let x), .markup(let y)):
        return sameScalars(x, y)
    case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { pyEquals($0, $1) }
    case (.dict(let x), .dict(let y)):
        guard x.count == y.count else { return false }
        for (k, v) in zip(x.keys, x.values) {
            guard let w = y[k], pyEquals(v, w) else { return false }
        }
        return true
    case (.object(let x), .object(let y)): return x === y
    default:
        if a.isNumber, b.isNumber {
            if let x = a.intValue, let y = b.intValue { return x == y }
            return a.numberValue! == b.numberValue!
        }
        return false
    }
}

extension Interpreter {
    func typeError(_ op: String, _ a: Value, _ b: Value, at offset: SourceOffset) -> PendingError {
        PendingError(.runtime, at: offset, "unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
    }

    /// Python's `<` (`orEqual` for `<=`), raising for types it cannot order.
    func pyLess(_ a: Value, _ b: Value, orEqual: Bool = false, at offset: SourceOffset) throws -> Bool {
        switch (a, b) {
        case (.undefined(let u), _), (_, .undefined(let u)):
            throw undefinedError(u, at: offset)
        case (.int(let x), .int(let y)):
            return orEqual ? x <= y : x < y
        case (.string(let x), .string(let y)), (.string(let x), .markup(let y)), (.markup(let x), .string(let y)),
             (.markup(let x), .markup(let y)):
            // UTF-8 byte order is code point order.
            let c = compareBytes(x, y)
            return orEqual ? c <= 0 : c < 0
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where !pyEquals(p, q) { return try pyLess(p, q, at: offset) }
            return orEqual ? x.count <= y.count : x.count < y.count
        default:
            if a.isNumber, b.isNumber {
                if let x = a.intValue, let y = b.intValue { return orEqual ? x <= y : x < y }
                let x = a.numberValue!, y = b.numberValue!
                return orEqual ? x <= y : x < y
            }
            throw PendingError(.runtime, at: offset,
                               "'\(orEqual ? "<=" : "<")' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    func compare(_ op: CompareOperator, _ a: Value, _ b: Value, at offset: SourceOffset) throws -> Bool {
        switch op {
        case .equal: return pyEquals(a, b)
        case .notEqual: return !pyEquals(a, b)
        case .less: return try pyLess(a, b, at: offset)
        case .lessEqual: return try pyLess(a, b, orEqual: true, at: offset)
        case .greater: return try pyLess(b, a, at: offset)
        case .greaterEqual: return try pyLess(b, a, orEqual: true, at: offset)
        case .in: return try contains(b, a, at: offset)
        case .notIn: return !(try contains(b, a, at: offset))
        }
    }

    /// Python `item in container`.
    func contains(_ container: Value, _ item: Value, at offset: SourceOffset) throws -> Bool {
        switch container {
        case .string(let s), .markup(let s):
            guard let sub = item.stringValue else {
                throw PendingError(.runtime, at: offset, "'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return sub.isEmpty || pyFind(s, sub) >= 0
        case .list(let items), .tuple(let items):
            return items.contains { pyEquals($0, item) }
        case .dict(let d):
            guard DictKey(item) != nil else { throw PendingError(.runtime, at: offset, "unhashable type: '\(item.typeName)'") }
            return d[item] != nil
        case .undefined:
            return false
        case .object(let o):
            if let g = o as? Generator {
                while let v = try g.nextItem() { if pyEquals(v, item) { return true } }
                return false
            }
            if let l = o as? LoopContext { return l.items.contains { pyEquals($0, item) } }
            throw PendingError(.runtime, at: offset, "argument of type '\(o.typeName)' is not iterable")
        default:
            throw PendingError(.runtime, at: offset, "argument of type '\(container.typeName)' is not iterable")
        }
    }

    func unary(_ op: UnaryOperator, _ v: Value, at offset: SourceOffset) throws -> Value {
        switch v {
        case .undefined(let u): throw undefinedError(u, at: offset)
        case .int, .bool:
            let i = v.intValue!
            if op == .plus { return .int(i) }
            let (r, overflow) = (0).subtractingReportingOverflow(i)
            if overflow { throw overflowError(at: offset) }
            return .int(r)
        case .double(let d): return .double(op == .plus ? d : -d)
        default:
            throw PendingError(.runtime, at: offset, "bad operand type for unary \(op == .plus ? "+" : "-"): '\(v.typeName)'")
        }
    }

    func overflowError(at offset: SourceOffset) -> PendingError {
        PendingError(.unsupported, at: offset, "integer result beyond 64 bits",
                     fix: "Python's integers are unbounded; this interpreter's stop at 64 bits")
    }

    func binary(_ op: BinaryOperator, _ a: Value, _ b: Value, at offset: SourceOffset) throws -> Value {
        if case .undefined(let u) = a { throw undefinedError(u, at: offset) }
        // `'text' % x` is str.__mod__, which takes an undefined value (it has __getitem__) as a mapping.
        if case .undefined(let u) = b, !(op == .modulo && a.isString) { throw undefinedError(u, at: offset) }
        switch op {
        case .add: return try add(a, b, at: offset)
        case .subtract:
            return try arithmetic(a, b, op: "-", at: offset, int: { $0.subtractingReportingOverflow($1) }, double: { $0 - $1 })
        case .multiply: return try multiply(a, b, at: offset)
        case .divide:
            guard let x = a.numberValue, let y = b.numberValue else { throw typeError("/", a, b, at: offset) }
            guard y != 0 else {
                let isFloat: Bool = { if case .double = a { return true }; if case .double = b { return true }; return false }()
                throw PendingError(.runtime, at: offset, isFloat ? "float division by zero" : "division by zero")
            }
            return .double(x / y)
        case .floorDivide:
            if let x = a.intValue, let y = b.intValue {
                guard y != 0 else { throw PendingError(.runtime, at: offset, "integer division or modulo by zero") }
                if x == Int.min, y == -1 { throw overflowError(at: offset) }
                let q = x / y
                return .int((x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q)
            }
            guard let x = a.numberValue, let y = b.numberValue else { throw typeError("//", a, b, at: offset) }
            guard y != 0 else { throw PendingError(.runtime, at: offset, "float floor division by zero") }
            return .double(pyFloatMod(x, y).quotient)
        case .modulo:
            if let format = a.stringValue {
                let text = try printfFormat(format, b, escape: { if case .markup = a { return htmlEscape($0) } else { return $0 } }, at: offset)
                if case .markup = a { return .markup(text) }
                return .string(text)
            }
            if let x = a.intValue, let y = b.intValue {
                guard y != 0 else { throw PendingError(.runtime, at: offset, "integer modulo by zero") }
                if y == -1 { return .int(0) }
                let r = x % y
                return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            }
            guard let x = a.numberValue, let y = b.numberValue else { throw typeError("%", a, b, at: offset) }
            guard y != 0 else { throw PendingError(.runtime, at: offset, "float modulo") }
            return .double(pyFloatMod(x, y).remainder)
        case .power:
            return try power(a, b, at: offset)
        }
    }

    private func arithmetic(_ a: Value, _ b: Value, op: String, at offset: SourceOffset,
                            int: (Int, Int) -> (partialValue: Int, overflow: Bool), double: (Double, Double) -> Double) throws -> Value {
        if let x = a.intValue, let y = b.intValue {
            let (r, overflow) = int(x, y)
            if overflow { throw overflowError(at: offset) }
            return .int(r)
        }
        guard let x = a.numberValue, let y = b.numberValue else { throw typeError(op, a, b, at: offset) }
        return .double(double(x, y))
    }

    private func add(_ a: Value, _ b: Value, at offset: SourceOffset) throws -> Value {
        switch (a, b) {
        case (.string(let x), .string(let y)): return .string(x + y)
        case (.markup(let x), .markup(let y)): return .markup(x + y)
        case (.markup(let x), .string(let y)): return .markup(x + htmlEscape(y))
        case (.string(let x), .markup(let y)): return .markup(htmlEscape(x) + y)
        case (.list(let x), .list(let y)): return .list(x + y)
        case (.tuple(let x), .tuple(let y)): return .tuple(x + y)
        case (.string, _):
            throw PendingError(.runtime, at: offset, "can only concatenate str (not \"\(b.typeName)\") to str",
                               fix: "use ~ to join values as text, or |string")
        case (.list, _): throw PendingError(.runtime, at: offset, "can only concatenate list (not \"\(b.typeName)\") to list")
        case (.tuple, _): throw PendingError(.runtime, at: offset, "can only concatenate tuple (not \"\(b.typeName)\") to tuple")
        default:
            return try arithmetic(a, b, op: "+", at: offset, int: { $0.addingReportingOverflow($1) }, double: { $0 + $1 })
        }
    }

    private func multiply(_ a: Value, _ b: Value, at offset: SourceOffset) throws -> Value {
        func repeated(_ n: Int, _ unit: Int) throws -> Int {
            let count = max(0, n)
            if unit > 0, count > Interpreter.maxResultSize / unit {
                throw PendingError(.runtime, at: offset, "result of * too large (over \(Interpreter.maxResultSize) elements)")
            }
            return count
        }
        switch (a, b) {
        case (.string(let s), _) where b.intValue != nil: return .string(String(repeating: s, count: try repeated(b.intValue!, s.utf8.count)))
        case (_, .string(let s)) where a.intValue != nil: return .string(String(repeating: s, count: try repeated(a.intValue!, s.utf8.count)))
        case (.markup(let s), _) where b.intValue != nil: return .markup(String(repeating: s, count: try repeated(b.intValue!, s.utf8.count)))
        case (.list(let x), _) where b.intValue != nil:
            let n = try repeated(b.intValue!, x.count)
            return .list(Array([[Value]](repeating: x, count: n).joined()))
        case (_, .list(let x)) where a.intValue != nil:
            let n = try repeated(a.intValue!, x.count)
            return .list(Array([[Value]](repeating: x, count: n).joined()))
        case (.tuple(let x), _) where b.intValue != nil:
            let n = try repeated(b.intValue!, x.count)
            return .tuple(Array([[Value]](repeating: x, count: n).joined()))
        case (.string, _), (.list, _), (.tuple, _), (_, .string), (_, .list), (_, .tuple):
            let other = a.isNumber ? a : b
            throw PendingError(.runtime, at: offset, "can't multiply sequence by non-int of type '\(other.typeName)'")
        default:
            return try arithmetic(a, b, op: "*", at: offset, int: { $0.multipliedReportingOverflow(by: $1) }, double: { $0 * $1 })
        }
    }

    private func power(_ a: Value, _ b: Value, at offset: SourceOffset) throws -> Value {
        if let x = a.intValue, let y = b.intValue {
            if y < 0 {
                guard x != 0 else { throw PendingError(.runtime, at: offset, "0.0 cannot be raised to a negative power") }
                return .double(Foundation.pow(Double(x), Double(y)))
            }
            var result = 1, base = x, e = y
            while e > 0 {
                if e & 1 == 1 {
                    let (r, o) = result.multipliedReportingOverflow(by: base)
                    if o { throw overflowError(at: offset) }
                    result = r
                }
                e >>= 1
                if e > 0 {
                    let (sq, o) = base.multipliedReportingOverflow(by: base)
                    if o { throw overflowError(at: offset) }
                    base = sq
                }
            }
            return .int(result)
        }
        guard let x = a.numberValue, let y = b.numberValue else { throw typeError("** or pow()", a, b, at: offset) }
        if x == 0, y < 0 { throw PendingError(.runtime, at: offset, "0.0 cannot be raised to a negative power") }
        if x < 0, y != y.rounded() {
            throw PendingError(.unsupported, at: offset, "a negative number to a fractional power is complex in Python")
        }
        return .double(Foundation.pow(x, y))
    }
}

/// Python's float `divmod`: remainder with the divisor's sign.
func pyFloatMod(_ x: Double, _ y: Double) -> (quotient: Double, remainder: Double) {
    var mod = fmod(x, y)
    var div = (x - mod) / y
    if mod != 0 {
        if (y < 0) != (mod < 0) { mod += y; div -= 1 }
    } else {
        mod = y < 0 ? -0.0 : 0.0
    }
    var floorDiv: Double
    if div != 0 {
        floorDiv = div.rounded(.down)
        if div - floorDiv > 0.5 { floorDiv += 1 }
    } else {
        floorDiv = x / y < 0 ? -0.0 : 0.0
    }
    return (floorDiv, mod)
}

/// Byte-wise comparison of two strings' UTF-8 (= code point order): negative, zero or positive.
func compareBytes(_ a: String, _ b: String) -> Int {
    var i = a.utf8.makeIterator(), j = b.utf8.makeIterator()
    while true {
        switch (i.next(), j.next()) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case (let x?, let y?): if x != y { return x < y ? -1 : 1 }
        }
    }
}
