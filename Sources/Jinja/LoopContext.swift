import Foundation

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
