import Foundation

// Filters over sequences and mappings. Those that return generators in Jinja2 (`map`, `select`, `reject`,
// `selectattr`, `rejectattr`, `unique`, `batch`, `slice`, `items`, `reverse`) return a one-shot `Generator` here
// too, so `|length` on them fails and `|list` is needed, exactly as in Python.

let collectionFilters: [String: FilterFunction] = [
    "length": { i, v, a, o in _ = try a.bind("length", [], at: o); return .int(try i.length(v, at: o)) },
    "count": { i, v, a, o in _ = try a.bind("count", [], at: o); return .int(try i.length(v, at: o)) },
    "list": { i, v, a, o in _ = try a.bind("list", [], at: o); return .list(try i.iterate(v, at: o)) },
    "first": { i, v, a, o in
        _ = try a.bind("first", [], at: o)
        if case .object(let obj) = v, let g = obj as? Generator {
            return try g.nextItem() ?? .undefined(Undefined(hint: "No first item, sequence was empty."))
        }
        return try i.iterate(v, at: o).first ?? .undefined(Undefined(hint: "No first item, sequence was empty."))
    },
    "last": { i, v, a, o in
        _ = try a.bind("last", [], at: o)
        if case .object(let obj) = v, obj is Generator {
            throw PendingError(.runtime, at: o, "'generator' object is not reversible", fix: "convert it with |list first")
        }
        return try i.iterate(v, at: o).last ?? .undefined(Undefined(hint: "No last item, sequence was empty."))
    },
    "join": { i, v, a, o in
        let p = try a.bind("join", ["d", "attribute"], at: o)
        var items = try i.iterate(v, at: o)
        if let attr = p[1], !attr.isNone {
            let getter = try i.attributeGetter(attr, at: o)
            items = try items.map { try getter($0) }
        }
        let separator = p[0].map(stringify) ?? ""
        return .string(items.map(stringify).joined(separator: separator))
    },
    "sort": { i, v, a, o in
        let p = try a.bind("sort", ["reverse", "case_sensitive", "attribute"], at: o)
        let reverse = p[0]?.isTruthy ?? false, caseSensitive = p[1]?.isTruthy ?? false
        let items = try i.iterate(v, at: o)
        let key = try i.multiAttributeGetter(p[2], caseSensitive: caseSensitive, at: o)
        return .list(try i.sorted(items, key: key, reverse: reverse, at: o))
    },
    "dictsort": { i, v, a, o in
        let p = try a.bind("dictsort", ["case_sensitive", "by", "reverse"], at: o)
        let caseSensitive = p[0]?.isTruthy ?? false, reverse = p[2]?.isTruthy ?? false
        let by = try stringArgument(p[1], "key", "by", at: o)
        guard by == "key" || by == "value" else {
            throw PendingError(.runtime, at: o, "You can only sort by either \"key\" or \"value\"")
        }
        guard case .dict(let d) = v else {
            if case .undefined(let u) = v { throw i.undefinedError(u, at: o) }
            throw PendingError(.runtime, at: o, "'\(v.typeName)' object has no attribute 'items'", fix: "dictsort needs a dict")
        }
        let pairs = zip(d.keys, d.values).map { Value.tuple([$0, $1]) }
        let position = by == "key" ? 0 : 1
        let key: (Value) throws -> Value = { pair in
            guard case .tuple(let kv) = pair else { return pair }
            return caseSensitive ? kv[position] : ignoringCase(kv[position])
        }
        return .list(try i.sorted(pairs, key: key, reverse: reverse, at: o))
    },
    "unique": { i, v, a, o in
        let p = try a.bind("unique", ["case_sensitive", "attribute"], at: o)
        let caseSensitive = p[0]?.isTruthy ?? false
        return i.generator { emit in
            let getter = try i.attributeGetter(p[1], at: o)
            var seen = Set<DictKey>()
            for item in try i.iterate(v, at: o) {
                var key = try getter(item)
                if !caseSensitive { key = ignoringCase(key) }
                guard let hashable = DictKey(key) else { throw PendingError(.runtime, at: o, "unhashable type: '\(key.typeName)'") }
                if seen.insert(hashable).inserted { emit(item) }
            }
        }
    },
    "min": { i, v, a, o in try i.extreme(v, a, "min", at: o) },
    "max": { i, v, a, o in try i.extreme(v, a, "max", at: o) },
    "sum": { i, v, a, o in
        let p = try a.bind("sum", ["attribute", "start"], at: o)
        var total = p[1] ?? .int(0)
        if total.isString { throw PendingError(.runtime, at: o, "sum() can't sum strings [use ''.join(seq) instead]") }
        let getter = try i.attributeGetter(p[0], at: o)
        for item in try i.iterate(v, at: o) { total = try i.binary(.add, total, try getter(item), at: o) }
        return total
    },
    "batch": { i, v, a, o in
        let p = try a.bind("batch", ["linecount", "fill_with"], at: o)
        guard let count = p[0]?.intValue, count > 0 else {
            throw PendingError(.runtime, at: o, "batch() needs a positive line count")
        }
        return i.generator { emit in
            var row: [Value] = []
            for item in try i.iterate(v, at: o) {
                if row.count == count { emit(.list(row)); row = [] }
                row.append(item)
            }
            if !row.isEmpty {
                if let fill = p[1], !fill.isNone { row += Array(repeating: fill, count: count - row.count) }
                emit(.list(row))
            }
        }
    },
    "slice": { i, v, a, o in
        let p = try a.bind("slice", ["slices", "fill_with"], at: o)
        guard let slices = p[0]?.intValue, slices > 0 else {
            throw PendingError(.runtime, at: o, "slice() needs a positive number of slices")
        }
        return i.generator { emit in
            let seq = try i.iterate(v, at: o)
            let per = seq.count / slices, extra = seq.count % slices
            var offset = 0
            for n in 0..<slices {
                let start = offset + n * per
                if n < extra { offset += 1 }
                let end = offset + (n + 1) * per
                var part = Array(seq[start..<end])
                if let fill = p[1], !fill.isNone, n >= extra { part.append(fill) }
                emit(.list(part))
            }
        }
    },
    "map": { i, v, a, o in
        i.generator { emit in
            guard v.isTruthy else { return }
            let f = try i.mapFunction(a, at: o)
            for item in try i.iterate(v, at: o) { emit(try f(item)) }
        }
    },
    "select": { i, v, a, o in i.selectOrReject(v, a, select: true, attribute: false, at: o) },
    "reject": { i, v, a, o in i.selectOrReject(v, a, select: false, attribute: false, at: o) },
    "selectattr": { i, v, a, o in i.selectOrReject(v, a, select: true, attribute: true, at: o) },
    "rejectattr": { i, v, a, o in i.selectOrReject(v, a, select: false, attribute: true, at: o) },
    "reverse": { i, v, a, o in
        _ = try a.bind("reverse", [], at: o)
        switch v {
        case .string(let s), .markup(let s): return text(String(scalars: s.scalarArray.reversed()), like: v)
        case .list(let items), .tuple(let items): return .object(Generator(items.reversed(), kind: "list_reverseiterator"))
        case .dict(let d): return .object(Generator(d.keys.reversed(), kind: "dict_reversekeyiterator"))
        case .undefined: return .object(Generator([], kind: "reversed"))
        case .object(let obj) where obj is Generator: return .list(try i.iterate(v, at: o).reversed())
        default:
            do { return .list(try i.iterate(v, at: o).reversed()) } catch {
                throw PendingError(.runtime, at: o, "argument must be iterable")
            }
        }
    },
    "items": { i, v, a, o in
        _ = try a.bind("items", [], at: o)
        return i.generator { emit in
            switch v {
            case .undefined: return
            case .dict(let d): for (k, x) in zip(d.keys, d.values) { emit(.tuple([k, x])) }
            default: throw PendingError(.runtime, at: o, "Can only get item pairs from a mapping.")
            }
        }
    },
]

/// Jinja2's `ignore_case`: strings lowered, other values as they are.
func ignoringCase(_ v: Value) -> Value {
    switch v {
    case .string(let s): return .string(pyLower(s))
    case .markup(let s): return .markup(pyLower(s))
    default: return v
    }
}

extension Interpreter {
    /// Python `len()`.
    func length(_ v: Value, at offset: SourceOffset) throws -> Int {
        switch v {
        case .string(let s), .markup(let s): return s.pyLength
        case .list(let items), .tuple(let items): return items.count
        case .dict(let d): return d.count
        case .undefined: return 0
        case .object(let o):
            if let l = o as? LoopContext { return l.items.count }
            throw PendingError(.runtime, at: offset, "object of type '\(o.typeName)' has no len()",
                               fix: o is Generator ? "convert it with |list first" : "")
        default:
            throw PendingError(.runtime, at: offset, "object of type '\(v.typeName)' has no len()")
        }
    }

    /// Builds a generator eagerly; an error raised while producing it is deferred to the consumer, as Python's
    /// lazy generators would raise it.
    func generator(_ produce: (_ emit: (Value) -> Void) throws -> Void) -> Value {
        var items: [Value] = []
        do {
            try produce { items.append($0) }
        } catch let e as PendingError {
            return .object(Generator(items, failure: e))
        } catch {
            return .object(Generator(items, failure: PendingError(.runtime, at: 0, "\(error)")))
        }
        return .object(Generator(items))
    }

    /// Jinja2's `make_attrgetter`: a dotted path (`"a.b.0"`, integer parts as indices) looked up item-first.
    func attributeGetter(_ attribute: Value?, default fallback: Value? = nil, at offset: SourceOffset) throws -> (Value) throws -> Value {
        let parts = attributeParts(attribute)
        return { item in
            var v = item
            for part in parts {
                v = try self.getItem(v, part, at: offset)
                if let fallback, v.isUndefined { v = fallback }
            }
            return v
        }
    }

    private func attributeParts(_ attribute: Value?) -> [Value] {
        guard let attribute, !attribute.isNone else { return [] }
        guard let s = attribute.stringValue else { return [attribute] }
        return s.split(separator: ".", omittingEmptySubsequences: false).map { part in
            if !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isNumber }), let i = Int(part) { return .int(i) }
            return .string(String(part))
        }
    }

    /// Jinja2's `make_multi_attrgetter` for `sort`: comma-separated paths give a list key.
    func multiAttributeGetter(_ attribute: Value?, caseSensitive: Bool, at offset: SourceOffset) throws -> (Value) throws -> Value {
        let paths: [Value?]
        if let s = attribute?.stringValue {
            paths = s.split(separator: ",", omittingEmptySubsequences: false).map { .string(String($0)) }
        } else {
            paths = [attribute]
        }
        let getters = try paths.map { try attributeGetter($0, at: offset) }
        return { item in
            let keys = try getters.map { g -> Value in
                let k = try g(item)
                return caseSensitive ? k : ignoringCase(k)
            }
            return .list(keys)
        }
    }

    /// Python's `sorted(items, key=…, reverse=…)`: stable, and equal items keep their order when reversed too.
    func sorted(_ items: [Value], key: (Value) throws -> Value, reverse: Bool, at offset: SourceOffset) throws -> [Value] {
        let keyed = try items.map { (try key($0), $0) }
        let result = try stableSorted(keyed) { a, b in
            reverse ? try self.pyLess(b.0, a.0, at: offset) : try self.pyLess(a.0, b.0, at: offset)
        }
        return result.map { $0.1 }
    }

    func extreme(_ v: Value, _ a: Arguments, _ name: String, at offset: SourceOffset) throws -> Value {
        let p = try a.bind(name, ["case_sensitive", "attribute"], at: offset)
        let caseSensitive = p[0]?.isTruthy ?? false
        let items = try iterate(v, at: offset)
        guard var best = items.first else { return .undefined(Undefined(hint: "No aggregated item, sequence was empty.")) }
        let getter = try attributeGetter(p[1], at: offset)
        func key(_ x: Value) throws -> Value { caseSensitive ? try getter(x) : ignoringCase(try getter(x)) }
        var bestKey = try key(best)
        for item in items.dropFirst() {
            let k = try key(item)
            let better = name == "min" ? try pyLess(k, bestKey, at: offset) : try pyLess(bestKey, k, at: offset)
            if better { best = item; bestKey = k }
        }
        return best
    }

    /// Jinja2's `prepare_map`: `map(attribute='x', default=…)` or `map('filter', args…)`.
    func mapFunction(_ a: Arguments, at offset: SourceOffset) throws -> (Value) throws -> Value {
        if a.positional.isEmpty, let attr = a.keywords.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = a.keywords.first(where: { $0.0 == "default" })?.1
            if let extra = a.keywords.first(where: { $0.0 != "attribute" && $0.0 != "default" }) {
                throw PendingError(.runtime, at: offset, "Unexpected keyword argument '\(extra.0)'")
            }
            return try attributeGetter(attr, default: fallback.flatMap { $0.isNone ? nil : $0 }, at: offset)
        }
        guard let nameValue = a.positional.first else { throw PendingError(.runtime, at: offset, "map requires a filter argument") }
        guard let name = nameValue.stringValue, builtinFilters[name] != nil else {
            throw PendingError(.runtime, at: offset, "No filter named \(pyRepr(nameValue)).")
        }
        let rest = Arguments(positional: Array(a.positional.dropFirst()), keywords: a.keywords)
        return { item in try self.applyFilter(name, item, rest, nil, at: offset) }
    }

    /// Jinja2's `select_or_reject`.
    func selectOrReject(_ v: Value, _ a: Arguments, select: Bool, attribute: Bool, at offset: SourceOffset) -> Value {
        generator { emit in
            guard v.isTruthy else { return }
            var args = a.positional
            var transform: (Value) throws -> Value = { $0 }
            if attribute {
                guard !args.isEmpty else { throw PendingError(.runtime, at: offset, "Missing parameter for attribute name") }
                transform = try attributeGetter(args.removeFirst(), at: offset)
            }
            var test: (Value) throws -> Bool = { $0.isTruthy }
            if !args.isEmpty {
                let nameValue = args.removeFirst()
                guard let name = nameValue.stringValue, builtinTests[name] != nil else {
                    throw PendingError(.runtime, at: offset, "No test named \(pyRepr(nameValue)).")
                }
                let rest = Arguments(positional: args, keywords: a.keywords)
                test = { try self.applyTest(name, $0, rest, nil, at: offset) }
            }
            for item in try iterate(v, at: offset) where try test(try transform(item)) == select { emit(item) }
        }
    }
}

/// A stable merge sort with a throwing comparator.
func stableSorted<T>(_ items: [T], by less: (T, T) throws -> Bool) throws -> [T] {
    guard items.count > 1 else { return items }
    var a = items
    var b = items
    var width = 1
    let n = a.count
    while width < n {
        var start = 0
        while start < n {
            let mid = min(start + width, n), end = min(start + 2 * width, n)
            var i = start, j = mid, k = start
            while i < mid, j < end {
                if try less(a[j], a[i]) { b[k] = a[j]; j += 1 } else { b[k] = a[i]; i += 1 }
                k += 1
            }
            while i < mid { b[k] = a[i]; i += 1; k += 1 }
            while j < end { b[k] = a[j]; j += 1; k += 1 }
            start += 2 * width
        }
        swap(&a, &b)
        width *= 2
    }
    return a
}
