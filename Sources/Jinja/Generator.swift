import Foundation

/// A one-shot iterator (`map`, `select`, `reverse`… return these in Jinja2): always true, no length, and
/// empty once consumed. An error raised while producing item k is raised when item k is consumed.
final class Generator: JinjaObject, @unchecked Sendable {
    private var items: [Value]
    private var position = 0
    private var failure: PendingError?
    let kind: String

    init(_ items: [Value], failure: PendingError? = nil, kind: String = "generator") {
        self.items = items
        self.failure = failure
        self.kind = kind
    }

    override var typeName: String { kind }
    override var repr: String { "<\(kind) object>" }

    /// The remaining items (then raises a pending error), leaving the generator exhausted.
    func drain() throws -> [Value] {
        let rest = Array(items[position...])
        position = items.count
        if let f = failure {
            failure = nil
            throw f
        }
        return rest
    }

    func nextItem() throws -> Value? {
        if position < items.count {
            position += 1
            return items[position - 1]
        }
        if let f = failure {
            failure = nil
            throw f
        }
        return nil
    }
}
