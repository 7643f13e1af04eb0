import Foundation

/// Variables visible at one point of a render. A `for` iteration, a macro call and a `with` block each get a child
/// scope, so their `set`s do not leak out (which is why templates carry state across iterations in a `namespace`);
/// `if` blocks share their parent's.
final class Scope {
    var variables: [String: Value]
    let parent: Scope?

    init(parent: Scope?, variables: [String: Value] = [:]) {
        self.parent = parent
        self.variables = variables
    }

    func lookup(_ name: String) -> Value? {
        var scope: Scope? = self
        while let s = scope {
            if let v = s.variables[name] { return v }
            scope = s.parent
        }
        return nil
    }

    func set(_ name: String, _ value: Value) { variables[name] = value }
}
