import Foundation

/// A value in a template: the Python types a Hugging Face chat template sees (None, bool, int, float, str, list,
/// tuple, dict) plus Jinja2's undefined, safe strings and objects (namespace, macro, loop, generator…).
///
/// Dictionaries keep insertion order, as Python's do: build tool schemas and messages with dictionary literals
/// (`["role": "user", "content": "Hi"]`) or `Value(json:)` so that `tojson` writes keys in their given order.
public enum Value: @unchecked Sendable {
    case undefined(Undefined)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// A string marked safe (`|safe`, `|escape`); `+` with a plain string HTML-escapes the plain one, as
    /// markupsafe's `Markup` does. Prints as the plain text.
    case markup(String)
    case list([Value])
    case tuple([Value])
    case dict(ValueDictionary)
    /// Namespaces, macros and functions, loop contexts, generators: the reference types of a render.
    case object(JinjaObject)

    /// The undefined value of a missing variable named `name`.
    public static func undefinedVariable(_ name: String) -> Value { .undefined(Undefined(variable: name)) }
}

// MARK: - Swift literals

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .list(elements) }
    public init(nilLiteral: ()) { self = .none }
    /// Keys in literal order; a repeated key keeps its last value at its first position, as Python does.
    public init(dictionaryLiteral elements: (String, Value)...) {
        var d = ValueDictionary()
        for (k, v) in elements { d[k] = v }
        self = .dict(d)
    }
}

extension Value {
    /// A Swift string dictionary as a template dict, keys sorted (Swift dictionaries have no order to keep).
    public init(_ dictionary: [String: Value]) {
        var d = ValueDictionary()
        for k in dictionary.keys.sorted() { d[k] = dictionary[k]! }
        self = .dict(d)
    }

    /// Python's type name, as error messages print it.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .markup: return "Markup"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .object(let o): return o.typeName
        }
    }

    /// Python truthiness.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s), .markup(let s): return !s.isEmpty
        case .list(let a), .tuple(let a): return !a.isEmpty
        case .dict(let d): return d.count > 0
        case .object(let o): return o.isTruthy
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// The text of a `str` or safe string.
    var stringValue: String? {
        switch self {
        case .string(let s), .markup(let s): return s
        default: return nil
        }
    }

    /// An `int` (or `bool`, which Python treats as one).
    var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// A number of any kind, as a double.
    var numberValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .bool(let b): return b ? 1 : 0
        case .double(let d): return d
        default: return nil
        }
    }

    var isNumber: Bool {
        switch self {
        case .int, .bool, .double: return true
        default: return false
        }
    }

    var isString: Bool {
        switch self {
        case .string, .markup: return true
        default: return false
        }
    }
}
