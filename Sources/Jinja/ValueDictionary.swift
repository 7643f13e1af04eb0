import Foundation

/// An insertion-ordered dictionary with Python's key semantics: `1`, `1.0` and `True` are one key; strings
/// compare by Unicode scalars (not by canonical equivalence, as Swift's `String ==` would).
public struct ValueDictionary: @unchecked Sendable {
    public private(set) var keys: [Value] = []
    public private(set) var values: [Value] = []
    /// Key → position, built once the dictionary outgrows a linear scan.
    private var index: [DictKey: Int]? = nil
    private static let indexThreshold = 12

    public init() {}

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// Key/value pairs in insertion order.
    public var items: [(key: Value, value: Value)] { Array(zip(keys, values)).map { (key: $0.0, value: $0.1) } }

    func position(of key: Value) -> Int? {
        if let index { return DictKey(key).map { index[$0] } ?? nil }
        for (i, k) in keys.enumerated() where pyEquals(k, key) { return i }
        return nil
    }

    func position(ofString key: String) -> Int? {
        if let index { return index[DictKey(string: key)] }
        for (i, k) in keys.enumerated() {
            if let s = k.stringValue, sameScalars(s, key) { return i }
        }
        return nil
    }

    public subscript(key: String) -> Value? {
        get { position(ofString: key).map { values[$0] } }
        set {
            if let v = newValue { _ = try? set(.string(key), v) } else { remove(.string(key)) }
        }
    }

    public subscript(key: Value) -> Value? {
        position(of: key).map { values[$0] }
    }

    /// Sets `key` (kept at its first position when present). Throws for an unhashable key (list, dict).
    mutating func set(_ key: Value, _ value: Value) throws {
        guard let hashKey = DictKey(key) else { throw UnhashableKey(typeName: key.typeName) }
        if let i = position(of: key) {
            values[i] = value
            return
        }
        keys.append(key)
        values.append(value)
        if index != nil {
            index![hashKey] = keys.count - 1
        } else if keys.count > Self.indexThreshold {
            var built: [DictKey: Int] = [:]
            for (i, k) in keys.enumerated() where built[DictKey(k)!] == nil { built[DictKey(k)!] = i }
            index = built
        }
    }

    mutating func remove(_ key: Value) {
        guard let i = position(of: key) else { return }
        keys.remove(at: i)
        values.remove(at: i)
        if index != nil {
            var built: [DictKey: Int] = [:]
            for (j, k) in keys.enumerated() { built[DictKey(k)!] = j }
            index = built
        }
    }
}

struct UnhashableKey: Error {
    let typeName: String
}

/// A hashable view of a value with Python's equality: numbers by value, strings by scalars, tuples by elements,
/// objects by identity. Lists and dicts are unhashable.
struct DictKey: Hashable {
    let value: Value

    init?(_ value: Value) {
        guard DictKey.isHashable(value) else { return nil }
        self.value = value
    }

    init(string: String) { self.value = .string(string) }

    private static func isHashable(_ v: Value) -> Bool {
        switch v {
        case .list, .dict: return false
        case .tuple(let items): return items.allSatisfy(isHashable)
        default: return true
        }
    }

    static func == (a: DictKey, b: DictKey) -> Bool { pyEquals(a.value, b.value) }

    func hash(into h: inout Hasher) { DictKey.hash(value, into: &h) }

    private static func hash(_ v: Value, into h: inout Hasher) {
        switch v {
        case .undefined: h.combine(-7)
        case .none: h.combine(-1)
        case .bool(let b): h.combine(0); h.combine(b ? 1 : 0)
        case .int(let i): h.combine(0); h.combine(i)
        case .double(let d):
            h.combine(0)
            if d.isFinite, d == d.rounded(), abs(d) < 9.2e18 { h.combine(Int(d)) } else { h.combine(d.bitPattern) }
        case .string(let s), .markup(let s):
            h.combine(1)
            for b in s.utf8 { h.combine(b) }
        case .tuple(let items):
            h.combine(2)
            for item in items { hash(item, into: &h) }
        case .object(let o): h.combine(ObjectIdentifier(o))
        case .list, .dict: h.combine(3)
        }
    }
}

/// Python string equality: same Unicode scalars.
@inline(__always)
func sameScalars(_ a: String, _ b: String) -> Bool {
    a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8)
}
