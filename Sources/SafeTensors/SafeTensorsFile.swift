import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Byte range inside the data section (after the header).
    public var begin: Int
    public var end: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// Keeps a read-only file mapping alive for tensors that borrow from it.
final class Mapping: @unchecked Sendable {
    let base: UnsafeRawPointer
    let length: Int
    init(base: UnsafeRawPointer, length: Int) { self.base = base; self.length = length }
    deinit { if length > 0 { munmap(UnsafeMutableRawPointer(mutating: base), length) } }
}

/// A memory-mapped `.safetensors` file, fully validated on open (before any tensor is materialised).
public final class SafeTensorsFile: @unchecked Sendable {
    public let url: URL
    public let tensors: [TensorInfo]
    public let metadata: [String: String]
    let mapping: Mapping
    let dataStart: Int
    let byName: [String: Int]

    /// Largest accepted header (the reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000

    public var names: [String] { tensors.map(\.name) }

    public init(url: URL) throws {
        self.url = url
        let path = url.path
        func fail(_ what: String) -> DNDError { DNDError("\(path): \(what)") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail("cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail("cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw fail("not a regular file") }
        let size = Int(st.st_size)
        guard size >= 8 else { throw fail("truncated: \(size) bytes, a safetensors file starts with an 8-byte header length; re-download or re-export the file") }
        guard let raw = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), raw != MAP_FAILED else { throw fail("mmap failed") }
        let mapping = Mapping(base: UnsafeRawPointer(raw), length: size)
        self.mapping = mapping
        let headerLen = Int(clamping: mapping.base.loadUnaligned(as: UInt64.self).littleEndian)
        guard headerLen <= SafeTensorsFile.maxHeaderBytes else {
            throw fail("header length \(headerLen) exceeds the \(SafeTensorsFile.maxHeaderBytes)-byte limit; the file is corrupt or not safetensors")
        }
        guard headerLen <= size - 8 else {
            throw fail("header length \(headerLen) is larger than the file (\(size) bytes); the file is truncated or not safetensors")
        }
        dataStart = 8 + headerLen
        let dataSize = size - dataStart
        let headerData = Data(bytes: mapping.base + 8, count: headerLen)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw fail("header is not valid JSON (\(headerLen) bytes); the file is corrupt or not safetensors")
        }
        guard let dict = json as? [String: Any] else { throw fail("header is not a JSON object") }
        var infos: [TensorInfo] = []
        var meta: [String: String] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw fail("__metadata__ is not an object of strings") }
                for (k, v) in m {
                    guard let s = v as? String else { throw fail("__metadata__[\(k)] is not a string") }
                    meta[k] = s
                }
                continue
            }
            guard let e = value as? [String: Any] else { throw fail("tensor '\(name)': entry is not an object") }
            guard let ds = e["dtype"] as? String else { throw fail("tensor '\(name)': missing dtype") }
            guard let dtype = DType(rawValue: ds) else { throw fail("tensor '\(name)': unsupported dtype \(ds)") }
            guard let shapeAny = e["shape"] as? [Any] else { throw fail("tensor '\(name)': missing shape") }
            var shape: [Int] = []
            for d in shapeAny {
                guard let n = (d as? NSNumber)?.intValue, n >= 0, (d as? NSNumber)?.doubleValue == Double(n) else {
                    throw fail("tensor '\(name)': shape \(shapeAny) has a non-integer or negative dimension")
                }
                shape.append(n)
            }
            guard let offs = e["data_offsets"] as? [Any], offs.count == 2,
                  let b = (offs[0] as? NSNumber)?.intValue, let en = (offs[1] as? NSNumber)?.intValue else {
                throw fail("tensor '\(name)': data_offsets must be [begin, end]")
            }
            guard b >= 0, en >= b, en <= dataSize else {
                throw fail("tensor '\(name)': data_offsets [\(b), \(en)] outside the \(dataSize)-byte data section; the file is truncated")
            }
            var elements = 1
            for d in shape {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("tensor '\(name)': shape \(shape) overflows") }
                elements = p
            }
            let (bytes, o) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !o, bytes == en - b else {
                throw fail("tensor '\(name)': \(dtype.rawValue) \(shape) needs \(elements * dtype.byteSize) bytes but data_offsets give \(en - b)")
            }
            infos.append(TensorInfo(name: name, dtype: dtype, shape: shape, begin: b, end: en))
        }
        let sorted = infos.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap (bytes \(a.begin)..<\(a.end) and \(b.begin)..<\(b.end)); the file is corrupt")
        }
        tensors = infos.sorted { $0.name.localizedStandardCompare($1.name) == .orderedAscending }
        metadata = meta
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        byName = index
    }

    public convenience init(path: String) throws { try self.init(url: URL(fileURLWithPath: path)) }

    public func info(_ name: String) -> TensorInfo? { byName[name].map { tensors[$0] } }

    public func contains(_ name: String) -> Bool { byName[name] != nil }

    func require(_ name: String) throws -> TensorInfo {
        guard let i = info(name) else { throw DNDError("\(url.path): no tensor named '\(name)'") }
        return i
    }

    /// The raw bytes of a tensor (borrowed from the mapping; valid while `self` lives).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let i = try require(name)
        return UnsafeRawBufferPointer(start: mapping.base + dataStart + i.begin, count: i.end - i.begin)
    }

    /// The tensor as Float32. Aligned F32 data is borrowed from the mapping without a copy; other float and
    /// integer types are converted.
    public func tensor(_ name: String) throws -> Tensor {
        let i = try require(name)
        let start = mapping.base + dataStart + i.begin
        let n = i.elementCount
        if i.dtype == .f32, Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0, n > 0 {
            let storage = TensorStorage(borrowing: start.assumingMemoryBound(to: Float.self), count: n, owner: mapping)
            return Tensor(shape: i.shape, storage: storage)
        }
        return Tensor(shape: i.shape) { out in
            let o = out.baseAddress!
            switch i.dtype {
            case .f32: for k in 0..<n { o[k] = start.loadUnaligned(fromByteOffset: 4 * k, as: Float.self) }
            case .f64: for k in 0..<n { o[k] = Float(start.loadUnaligned(fromByteOffset: 8 * k, as: Double.self)) }
            case .f16: for k in 0..<n { o[k] = HalfFloat.f16ToFloat(start.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)) }
            case .bf16: for k in 0..<n { o[k] = HalfFloat.bf16ToFloat(start.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)) }
            case .i64: for k in 0..<n { o[k] = Float(start.loadUnaligned(fromByteOffset: 8 * k, as: Int64.self)) }
            case .i32: for k in 0..<n { o[k] = Float(start.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self)) }
            case .i16: for k in 0..<n { o[k] = Float(start.loadUnaligned(fromByteOffset: 2 * k, as: Int16.self)) }
            case .i8: for k in 0..<n { o[k] = Float(start.loadUnaligned(fromByteOffset: k, as: Int8.self)) }
            case .u8, .bool: for k in 0..<n { o[k] = Float(start.load(fromByteOffset: k, as: UInt8.self)) }
            }
        }
    }

    /// An integer tensor's values (I64, I32, I16, I8, U8).
    public func integers(_ name: String) throws -> [Int] {
        let i = try require(name)
        let start = mapping.base + dataStart + i.begin
        let n = i.elementCount
        switch i.dtype {
        case .i64: return (0..<n).map { Int(start.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        case .i32: return (0..<n).map { Int(start.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        case .i16: return (0..<n).map { Int(start.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self)) }
        case .i8: return (0..<n).map { Int(start.loadUnaligned(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: return (0..<n).map { Int(start.load(fromByteOffset: $0, as: UInt8.self)) }
        default: throw DNDError("\(url.path): tensor '\(name)' is \(i.dtype.rawValue), not an integer type")
        }
    }

    /// Every tensor as Float32, by name.
    public func allTensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for t in tensors { out[t.name] = try tensor(t.name) }
        return out
    }
}
