import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// Builds a GGUF v3 file: metadata of any value type in insertion order, and F32 or F16 tensors given as
/// row-major Tensors (stored innermost-first, each at an aligned offset). The alignment is
/// `general.alignment` when the metadata sets it (a uint32 power of two), else 32.
public struct GGUFWriter {
    public var metadata = GGUFMetadata(source: "GGUF writer")
    public private(set) var tensors: [(name: String, tensor: Tensor, type: GGMLType)] = []

    public init() {}

    /// Sets a metadata value (a key set twice keeps its first position and takes the new value).
    public mutating func set(_ key: String, _ value: GGUFValue) { metadata.set(key, value) }

    /// Adds a tensor to be stored as `type` (.f32 or .f16). Throws for a duplicate name, rank 0 or over 4,
    /// or an empty dimension (no reader accepts those).
    public mutating func addTensor(_ name: String, _ tensor: Tensor, as type: GGMLType = .f32) throws {
        guard type == .f32 || type == .f16 else {
            throw DNDError("GGUF writer: tensor '\(name)': cannot write \(type), only F32 and F16")
        }
        guard !name.isEmpty, name.utf8.count <= GGUFCursor.maxNameBytes else {
            throw DNDError("GGUF writer: tensor name '\(name.prefix(80))' must be 1 to \(GGUFCursor.maxNameBytes) bytes")
        }
        guard !tensors.contains(where: { $0.name == name }) else {
            throw DNDError("GGUF writer: tensor '\(name)' added twice")
        }
        guard (1...GGUFFile.maxDims).contains(tensor.rank), tensor.shape.allSatisfy({ $0 > 0 }) else {
            throw DNDError("GGUF writer: tensor '\(name)' has shape \(tensor.shape); GGUF needs 1 to \(GGUFFile.maxDims) dimensions, none empty")
        }
        tensors.append((name, tensor, type))
    }

    /// The alignment the file will use, or an error when `general.alignment` is not a uint32 power of two.
    func alignment() throws -> Int {
        guard let v = metadata["general.alignment"] else { return GGUFFile.defaultAlignment }
        guard case .uint32(let n) = v, n > 0, n & (n - 1) == 0 else {
            throw DNDError("GGUF writer: general.alignment is \(v.typeDescription) \(v); it must be a uint32 power of two")
        }
        return Int(n)
    }

    /// The whole file in memory.
    public func data() throws -> Data {
        var out = Data()
        try serialize { out.append(contentsOf: $0) }
        return out
    }

    /// Writes the file atomically: a temporary name in the same folder, fsync, rename.
    public func write(to url: URL) throws {
        try AtomicFile.write(data(), to: url)
    }

    /// Streams the file to an open descriptor (for callers that already write inside a temporary folder);
    /// `path` names it in errors. Does not fsync or close.
    public func write(toDescriptor fd: Int32, path: String) throws {
        try serialize { chunk in
            var off = 0
            while off < chunk.count {
                let n = Glibc.write(fd, chunk.baseAddress! + off, chunk.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw DNDError("\(path): write failed (\(String(cString: strerror(errno)))); is the disk full?")
                }
                off += n
            }
        }
    }

    /// Emits the file in pieces: header, metadata, tensor infos, padding, then each tensor's data padded.
    func serialize(_ emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let align = try alignment()
        func padding(_ n: Int) -> Int { (align - n % align) % align }
        var header = ByteBuffer()
        header.bytes(GGUFFile.magic)
        header.u32(3)
        header.u64(UInt64(tensors.count))
        header.u64(UInt64(metadata.count))
        for (key, value) in metadata.entries {
            guard !key.isEmpty, key.utf8.count <= GGUFCursor.maxNameBytes else {
                throw DNDError("GGUF writer: metadata key '\(key.prefix(80))' must be 1 to \(GGUFCursor.maxNameBytes) bytes")
            }
            header.string(key)
            header.u32(value.type.rawValue)
            try header.value(value, key: key, depth: 0)
        }
        var offset = 0
        var sizes: [Int] = []
        for t in tensors {
            header.string(t.name)
            header.u32(UInt32(t.tensor.rank))
            for d in t.tensor.shape.reversed() { header.u64(UInt64(d)) }
            header.u32(t.type.rawValue)
            header.u64(UInt64(offset))
            let size = t.tensor.count * (t.type == .f32 ? 4 : 2)
            sizes.append(size)
            offset += size + padding(size)
        }
        header.zeros(padding(header.data.count))
        try header.data.withUnsafeBytes { try emit($0) }
        let zeros = [UInt8](repeating: 0, count: align)
        for (t, size) in zip(tensors, sizes) {
            switch t.type {
            case .f32:
                #if _endian(big)
                let le = t.tensor.array.map { $0.bitPattern.littleEndian }
                try le.withUnsafeBytes { try emit($0) }
                #else
                try t.tensor.withUnsafeBufferPointer { try emit(UnsafeRawBufferPointer($0)) }
                #endif
            default:
                let halves = t.tensor.withUnsafeBufferPointer { $0.map { Float16($0).bitPattern.littleEndian } }
                try halves.withUnsafeBytes { try emit($0) }
            }
            try zeros.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0.prefix(padding(size)))) }
        }
    }
}

/// Little-endian serialisation of GGUF header fields.
struct ByteBuffer {
    var data: [UInt8] = []

    mutating func bytes<S: Sequence>(_ s: S) where S.Element == UInt8 { data.append(contentsOf: s) }
    mutating func zeros(_ n: Int) { data.append(contentsOf: repeatElement(0, count: n)) }
    mutating func int<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { int(v) }
    mutating func u64(_ v: UInt64) { int(v) }

    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        data.append(contentsOf: s.utf8)
    }

    mutating func value(_ v: GGUFValue, key: String, depth: Int) throws {
        switch v {
        case .uint8(let x): int(x)
        case .int8(let x): int(x)
        case .uint16(let x): int(x)
        case .int16(let x): int(x)
        case .uint32(let x): int(x)
        case .int32(let x): int(x)
        case .float32(let x): int(x.bitPattern)
        case .bool(let x): int(UInt8(x ? 1 : 0))
        case .string(let s): string(s)
        case .uint64(let x): int(x)
        case .int64(let x): int(x)
        case .float64(let x): int(x.bitPattern)
        case .array(let a): try array(a, key: key, depth: depth + 1)
        }
    }

    mutating func array(_ a: GGUFArray, key: String, depth: Int) throws {
        guard depth <= GGUFCursor.maxArrayDepth else {
            throw DNDError("GGUF writer: metadata key '\(key)' nests arrays \(depth) deep; readers accept at most \(GGUFCursor.maxArrayDepth)")
        }
        u32(a.elementType.rawValue)
        u64(UInt64(a.count))
        switch a {
        case .uint8(let xs): data.append(contentsOf: xs)
        case .int8(let xs): for x in xs { int(x) }
        case .uint16(let xs): for x in xs { int(x) }
        case .int16(let xs): for x in xs { int(x) }
        case .uint32(let xs): for x in xs { int(x) }
        case .int32(let xs): for x in xs { int(x) }
        case .float32(let xs): for x in xs { int(x.bitPattern) }
        case .bool(let xs): for x in xs { int(UInt8(x ? 1 : 0)) }
        case .string(let xs): for x in xs { string(x) }
        case .uint64(let xs): for x in xs { int(x) }
        case .int64(let xs): for x in xs { int(x) }
        case .float64(let xs): for x in xs { int(x.bitPattern) }
        case .array(let xs): for x in xs { try array(x, key: key, depth: depth + 1) }
        }
    }
}
