import Foundation

/// Jinja2's default `Undefined`: what a missing variable, key or attribute evaluates to. It prints as nothing, is
/// false, iterates as empty and has length 0; any other use (an attribute, an item, arithmetic, a call) fails
/// with the message Jinja2 gives, naming what was missing.
public struct Undefined: Sendable, Equatable {
    enum Origin: Sendable, Equatable {
        /// A variable that is not defined.
        case variable(String)
        /// `obj.name` / `obj['name']` with no such attribute or key; `owner` is Python's `object_type_repr`.
        case attribute(owner: String, name: String)
        /// `obj[key]` with a non-string key that is absent (an index out of range).
        case element(owner: String, key: String)
        /// A hint of its own ("No first item, sequence was empty.").
        case hint(String)
    }

    let origin: Origin
    /// The sandbox's marker for an unsafe attribute (`list.append`): using it is a security error.
    let isUnsafe: Bool

    init(variable name: String) { origin = .variable(name); isUnsafe = false }
    init(hint: String, unsafe: Bool = false) { origin = .hint(hint); isUnsafe = unsafe }
    init(missing name: String, of owner: Value) { origin = .attribute(owner: objectTypeRepr(owner), name: name); isUnsafe = false }
    init(missingKey key: Value, of owner: Value) {
        if case .string(let s) = key { origin = .attribute(owner: objectTypeRepr(owner), name: s) } else {
            origin = .element(owner: objectTypeRepr(owner), key: pyRepr(key))
        }
        isUnsafe = false
    }

    /// The message Jinja2's `UndefinedError` carries.
    public var message: String {
        switch origin {
        case .variable(let name): return "\(pyRepr(string: name)) is undefined"
        case .attribute(let owner, let name): return "\(pyRepr(string: owner)) has no attribute \(pyRepr(string: name))"
        case .element(let owner, let key): return "\(owner) has no element \(key)"
        case .hint(let h): return h
        }
    }

    /// The missing variable's name, when this is a missing variable.
    public var variableName: String? {
        if case .variable(let n) = origin { return n }
        return nil
    }
}

/// Python's `jinja2.utils.object_type_repr`: "None", "dict object", "jinja2.utils.Namespace object"…
func objectTypeRepr(_ v: Value) -> String {
    switch v {
    case .none: return "None"
    case .markup: return "markupsafe.Markup object"
    case .undefined: return "jinja2.runtime.Undefined object"
    case .object(let o): return "\(o.qualifiedTypeName) object"
    default: return "\(v.typeName) object"
    }
}
