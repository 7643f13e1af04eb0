import TensorCore

/// A GGUF file's key/value metadata in file order, with typed accessors that throw an error naming the file
/// and the key when a key is missing or holds another type.
public struct GGUFMetadata: Sendable, Equatable {
    /// Keys in the order the file (or the writer) holds them.
    public private(set) var keys: [String] = []
    public private(set) var values: [String: GGUFValue] = [:]
    /// What error messages name: the file's path, or a label for metadata built in memory.
    public var source: String

    public init(source: String = "GGUF metadata") { self.source = source }

    public var count: Int { keys.count }

    public subscript(key: String) -> GGUFValue? { values[key] }

    public func contains(_ key: String) -> Bool { values[key] != nil }

    /// Key/value pairs in order.
    public var entries: [(key: String, value: GGUFValue)] { keys.map { ($0, values[$0]!) } }

    /// Appends a key, or replaces its value in place when it is already there (it keeps its position).
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }

    /// Appends a key the caller has checked is new (the reader refuses duplicates before calling this).
    mutating func append(_ key: String, _ value: GGUFValue) {
        keys.append(key)
        values[key] = value
    }

    public static func == (a: GGUFMetadata, b: GGUFMetadata) -> Bool { a.keys == b.keys && a.values == b.values }

    // MARK: - typed accessors

    func missing(_ key: String, _ expected: String) -> DNDError {
        DNDError("\(source): metadata key '\(key)' (\(expected)) is missing; the file is incomplete, re-convert the model with a current llama.cpp convert_hf_to_gguf.py")
    }

    func wrongType(_ key: String, _ value: GGUFValue, _ expected: String) -> DNDError {
        DNDError("\(source): metadata key '\(key)' is \(value.typeDescription) (\(value)), expected \(expected); the file does not follow the GGUF conventions, re-convert the model")
    }

    func require(_ key: String, _ expected: String) throws -> GGUFValue {
        guard let v = values[key] else { throw missing(key, expected) }
        return v
    }

    /// A string value.
    public func string(_ key: String) throws -> String {
        guard let v = try stringIfPresent(key) else { throw missing(key, "a string") }
        return v
    }

    /// Any integer type (uint8 … int64) as an Int.
    public func int(_ key: String) throws -> Int {
        guard let v = try intIfPresent(key) else { throw missing(key, "an integer") }
        return v
    }

    /// A float32 or float64 value.
    public func float(_ key: String) throws -> Float {
        guard let v = try floatIfPresent(key) else { throw missing(key, "a float") }
        return v
    }

    public func bool(_ key: String) throws -> Bool {
        guard let v = try boolIfPresent(key) else { throw missing(key, "a bool") }
        return v
    }

    /// An array of strings (a vocabulary, merges).
    public func stringArray(_ key: String) throws -> [String] {
        guard let v = try stringArrayIfPresent(key) else { throw missing(key, "an array of strings") }
        return v
    }

    /// An array of any integer type as Ints.
    public func intArray(_ key: String) throws -> [Int] {
        guard let v = try intArrayIfPresent(key) else { throw missing(key, "an array of integers") }
        return v
    }

    /// An array of float32 or float64 as Floats.
    public func floatArray(_ key: String) throws -> [Float] {
        guard let v = try floatArrayIfPresent(key) else { throw missing(key, "an array of floats") }
        return v
    }

    // Optional variants: nil when the key is absent, an error when it holds another type.

    public func stringIfPresent(_ key: String) throws -> String? {
        guard let v = values[key] else { return nil }
        guard case .string(let s) = v else { throw wrongType(key, v, "a string") }
        return s
    }

    public func intIfPresent(_ key: String) throws -> Int? {
        guard let v = values[key] else { return nil }
        guard let i = v.intValue else { throw wrongType(key, v, "an integer that fits in Int") }
        return i
    }

    public func floatIfPresent(_ key: String) throws -> Float? {
        guard let v = values[key] else { return nil }
        guard let f = v.floatValue else { throw wrongType(key, v, "a float32 or float64") }
        return f
    }

    public func boolIfPresent(_ key: String) throws -> Bool? {
        guard let v = values[key] else { return nil }
        guard case .bool(let b) = v else { throw wrongType(key, v, "a bool") }
        return b
    }

    public func stringArrayIfPresent(_ key: String) throws -> [String]? {
        guard let v = values[key] else { return nil }
        guard case .array(.string(let a)) = v else { throw wrongType(key, v, "an array of strings") }
        return a
    }

    public func intArrayIfPresent(_ key: String) throws -> [Int]? {
        guard let v = values[key] else { return nil }
        guard case .array(let a) = v, let ints = a.intValues else { throw wrongType(key, v, "an array of integers") }
        return ints
    }

    public func floatArrayIfPresent(_ key: String) throws -> [Float]? {
        guard let v = values[key] else { return nil }
        guard case .array(let a) = v, let floats = a.floatValues else { throw wrongType(key, v, "an array of float32 or float64") }
        return floats
    }
}
