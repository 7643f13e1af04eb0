import TensorCore

/// Bounds-checked little-endian reads over a mapped GGUF header. Every length is compared with the bytes
/// that remain before anything is read or allocated, so a hostile count can only produce an error; every
/// error names the file, the field and the byte offset.
struct GGUFCursor {
    let base: UnsafeRawPointer
    let size: Int
    let path: String
    private(set) var offset: Int = 0

    /// Arrays of arrays nest at most this deep (llama.cpp itself reads no nested arrays at all).
    static let maxArrayDepth = 4
    /// The GGUF spec's limit on key length; tensor names are held to it too.
    static let maxNameBytes = 65_535

    init(base: UnsafeRawPointer, size: Int, path: String) {
        self.base = base
        self.size = size
        self.path = path
    }

    var remaining: Int { size - offset }

    func fail(_ what: String) -> DNDError { DNDError("\(path): \(what)") }

    func truncated(_ need: Int, _ what: String, at start: Int) -> DNDError {
        fail("\(what) at byte \(start) needs \(need) bytes but the file ends at byte \(size); the file is truncated or corrupt, re-download it")
    }

    /// Moves past `count` bytes (a padding run), or throws when they are not there.
    mutating func skip(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count <= remaining else { throw truncated(count, what(), at: offset) }
        offset += count
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let n = MemoryLayout<T>.size
        guard n <= remaining else { throw truncated(n, what(), at: offset) }
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += n
        return v
    }

    /// A uint64 count or size that must fit in Int.
    mutating func readCount(_ what: @autoclosure () -> String) throws -> Int {
        let start = offset
        let raw = try read(UInt64.self, what())
        guard let n = Int(exactly: raw) else {
            throw fail("\(what()) at byte \(start) is \(raw), larger than any file; the file is corrupt, re-download it")
        }
        return n
    }

    /// A length-prefixed string. `strict` refuses invalid UTF-8 (keys, tensor names); otherwise invalid bytes
    /// become U+FFFD, as some converted vocabularies hold raw bytes.
    mutating func readString(_ what: @autoclosure () -> String, strict: Bool = false, maxBytes: Int = Int.max) throws -> String {
        let start = offset
        let n = try readCount("the length of \(what())")
        guard n <= remaining else {
            throw fail("\(what()) at byte \(start) has length \(n) but only \(remaining) bytes remain; the file is truncated or corrupt, re-download it")
        }
        guard n <= maxBytes else {
            throw fail("\(what()) at byte \(start) has length \(n), over the \(maxBytes)-byte limit; the file is corrupt")
        }
        let bytes = UnsafeBufferPointer(start: (base + offset).assumingMemoryBound(to: UInt8.self), count: n)
        offset += n
        if strict {
            guard let s = String(validating: bytes, as: UTF8.self) else {
                throw fail("\(what()) at byte \(start) is not valid UTF-8; the file is corrupt, re-download it")
            }
            return s
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func readValueType(_ what: @autoclosure () -> String) throws -> GGUFValueType {
        let start = offset
        let code = try read(UInt32.self, "the value type of \(what())")
        guard let t = GGUFValueType(rawValue: code) else {
            throw fail("\(what()) at byte \(start) has unknown value type \(code) (GGUF defines 0 to 12); the file is corrupt or newer than this reader")
        }
        return t
    }

    /// One value of type `type`; `key` names it in errors. `depth` counts the arrays around it.
    mutating func readValue(_ type: GGUFValueType, key: String, depth: Int = 0) throws -> GGUFValue {
        let what = "the value of metadata key '\(key)'"
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, what))
        case .int8: return .int8(try read(Int8.self, what))
        case .uint16: return .uint16(try read(UInt16.self, what))
        case .int16: return .int16(try read(Int16.self, what))
        case .uint32: return .uint32(try read(UInt32.self, what))
        case .int32: return .int32(try read(Int32.self, what))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, what)))
        case .uint64: return .uint64(try read(UInt64.self, what))
        case .int64: return .int64(try read(Int64.self, what))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, what)))
        case .bool:
            let start = offset
            let b = try read(UInt8.self, what)
            guard b <= 1 else { throw fail("\(what) at byte \(start) is a bool holding \(b), not 0 or 1; the file is corrupt") }
            return .bool(b == 1)
        case .string: return .string(try readString(what))
        case .array: return .array(try readArray(key: key, depth: depth + 1))
        }
    }

    /// An array: element type, count, elements. Fixed-size elements are copied in one go.
    mutating func readArray(key: String, depth: Int) throws -> GGUFArray {
        let start = offset
        let what = "the array of metadata key '\(key)'"
        guard depth <= GGUFCursor.maxArrayDepth else {
            throw fail("\(what) at byte \(start) nests arrays \(depth) deep, over the limit of \(GGUFCursor.maxArrayDepth); the file is corrupt")
        }
        let type = try readValueType(what)
        let count = try readCount("the length of \(what)")
        // Each element takes at least `minimumSize` bytes, so this bounds every allocation below by the file.
        guard count <= remaining / type.minimumSize else {
            throw fail("\(what) at byte \(start) has length \(count) of \(type) (at least \(type.minimumSize) bytes each) but only \(remaining) bytes remain; the file is truncated or corrupt, re-download it")
        }
        switch type {
        case .uint8: return .uint8(copyArray(UInt8.self, count))
        case .int8: return .int8(copyArray(Int8.self, count))
        case .uint16: return .uint16(copyArray(UInt16.self, count))
        case .int16: return .int16(copyArray(Int16.self, count))
        case .uint32: return .uint32(copyArray(UInt32.self, count))
        case .int32: return .int32(copyArray(Int32.self, count))
        case .uint64: return .uint64(copyArray(UInt64.self, count))
        case .int64: return .int64(copyArray(Int64.self, count))
        case .float32: return .float32(copyArray(UInt32.self, count).map { Float(bitPattern: $0) })
        case .float64: return .float64(copyArray(UInt64.self, count).map { Double(bitPattern: $0) })
        case .bool:
            let raw = copyArray(UInt8.self, count)
            if let bad = raw.firstIndex(where: { $0 > 1 }) {
                throw fail("\(what) element \(bad) at byte \(offset - count + bad) is a bool holding \(raw[bad]), not 0 or 1; the file is corrupt")
            }
            return .bool(raw.map { $0 == 1 })
        case .string:
            var strings: [String] = []
            strings.reserveCapacity(count)
            for i in 0..<count { strings.append(try readString("element \(i) of \(what)")) }
            return .string(strings)
        case .array:
            var arrays: [GGUFArray] = []
            arrays.reserveCapacity(count)
            for _ in 0..<count { arrays.append(try readArray(key: key, depth: depth + 1)) }
            return .array(arrays)
        }
    }

    /// `count` little-endian values; the caller has checked they are there.
    private mutating func copyArray<T: FixedWidthInteger>(_: T.Type, _ count: Int) -> [T] {
        let bytes = count * MemoryLayout<T>.size
        let src = base + offset
        offset += bytes
        let out = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: src, byteCount: bytes) }
            initialized = count
        }
        #if _endian(big)
        return out.map { T(littleEndian: $0) }
        #else
        return out
        #endif
    }
}
