import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

// A GGUF file (llama.cpp's model format, versions 2 and 3; all integers little-endian):
//
//   magic "GGUF" | version u32 | tensor_count u64 | metadata_kv_count u64
//   metadata_kv_count × { key: string | value_type u32 | value }
//       string = length u64, UTF-8 bytes (no terminator)
//       array  = element_type u32, count u64, count × element (arrays may hold arrays)
//   tensor_count × { name: string | n_dims u32 | dims: n_dims × u64, innermost first | ggml_type u32 | offset u64 }
//   padding to `general.alignment` (a uint32 key, default 32)
//   data section: each tensor at data start + offset (offsets aligned), `dims[0]` a whole number of blocks
//
// Validation runs in file order and finishes before any tensor is touched:
//   1. size, magic, version (1 and big-endian files refused by name);
//   2. both counts against what the remaining bytes could hold (a kv takes ≥ 13 bytes, a tensor info ≥ 32);
//   3. every key/value: key length, UTF-8, duplicates, value type, string and array lengths against the
//      remaining bytes (so no allocation exceeds about twice the file), array depth, bool bytes;
//      `general.alignment` a uint32 power of two;
//   4. every tensor info: name (UTF-8, unique), 1 ≤ n_dims ≤ 4, dims > 0 with an overflow-checked product,
//      a known ggml type, rows a whole number of blocks, offset aligned;
//   5. the aligned data start, each tensor's byte range inside the file, and no two ranges overlapping.
// Every failure is a DNDError naming the file, the field (key, tensor or byte offset) and what to do.

/// Keeps a read-only file mapping alive for tensors that borrow from it.
final class GGUFMapping: @unchecked Sendable {
    let base: UnsafeRawPointer
    let length: Int
    init(base: UnsafeRawPointer, length: Int) { self.base = base; self.length = length }
    deinit { munmap(UnsafeMutableRawPointer(mutating: base), length) }
}

/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// As stored: innermost first (a `[out, in]` weight has `dims = [in, out]`).
    public let dims: [Int]
    public let type: GGMLType
    /// Byte offset inside the data section.
    public let offset: Int
    public let elementCount: Int
    public let byteCount: Int

    /// Row-major shape, `dims` reversed: what `GGUFFile.tensor` returns.
    public var shape: [Int] { dims.reversed() }
}

/// A memory-mapped GGUF file, fully validated on open; tensors are dequantized to Float32 on request.
public final class GGUFFile: @unchecked Sendable {
    public let url: URL
    public let version: Int
    public let metadata: GGUFMetadata
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Byte offset of the data section in the file.
    public let dataOffset: Int
    let mapping: GGUFMapping
    let byName: [String: Int]

    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let defaultAlignment = 32
    public static let maxDims = 4

    public var names: [String] { tensors.map(\.name) }

    /// `general.architecture` ("llama", "qwen2"): the prefix of the model's own keys.
    public var architecture: String {
        get throws { try metadata.string("general.architecture") }
    }

    public convenience init(path: String) throws { try self.init(url: URL(fileURLWithPath: path)) }

    public init(url: URL) throws {
        self.url = url
        let path = url.path
        func fail(_ what: String) -> DNDError { DNDError("\(path): \(what)") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail("cannot open (\(String(cString: strerror(errno)))); check the path") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fail("cannot stat (\(String(cString: strerror(errno))))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw fail("not a regular file; give the path of a .gguf file") }
        let size = Int(st.st_size)
        guard size > 0 else { throw fail("the file is empty (0 bytes), so it is truncated; re-download it") }
        guard let raw = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), raw != MAP_FAILED else {
            throw fail("mmap failed (\(String(cString: strerror(errno))))")
        }
        let mapping = GGUFMapping(base: UnsafeRawPointer(raw), length: size)
        self.mapping = mapping
        var c = GGUFCursor(base: mapping.base, size: size, path: path)

        // 1. Magic and version.
        guard size >= 4 else { throw c.truncated(4, "the magic", at: 0) }
        let magic = [UInt8](UnsafeRawBufferPointer(start: mapping.base, count: 4))
        guard magic == GGUFFile.magic else {
            let shown = magic.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
            throw fail("bad magic \"\(shown)\" (expected \"GGUF\"); this is not a GGUF file or it is corrupt, re-download it")
        }
        try c.skip(4, "the magic")
        let v = try c.read(UInt32.self, "the version")
        switch v {
        case 2, 3: break
        case 1: throw fail("GGUF version 1 (the 2023 draft format) is not supported; re-convert the model with a current llama.cpp convert_hf_to_gguf.py")
        case _ where v.byteSwapped == 2 || v.byteSwapped == 3:
            throw fail("a big-endian GGUF file (version \(v.byteSwapped)); this reader reads little-endian files, convert it with gguf-py's gguf_convert_endian.py")
        default: throw fail("GGUF version \(v) is not supported (this reader reads versions 2 and 3); the file is corrupt or newer than dnd")
        }
        version = Int(v)

        // 2. Counts, bounded by the bytes that could hold them.
        let tensorCount = try c.readCount("tensor_count")
        let kvCount = try c.readCount("metadata_kv_count")
        let minKV = 8 + 4 + 1, minTensor = 8 + 4 + 8 + 4 + 8
        guard kvCount <= c.remaining / minKV else {
            throw fail("metadata_kv_count \(kvCount) at byte 16 needs at least \(minKV) bytes per entry but only \(c.remaining) bytes remain; the file is truncated or corrupt, re-download it")
        }
        guard tensorCount <= c.remaining / minTensor else {
            throw fail("tensor_count \(tensorCount) at byte 8 needs at least \(minTensor) bytes per tensor but only \(c.remaining) bytes remain; the file is truncated or corrupt, re-download it")
        }

        // 3. Metadata.
        var meta = GGUFMetadata(source: path)
        for i in 0..<kvCount {
            let keyStart = c.offset
            let key = try c.readString("metadata key \(i)", strict: true, maxBytes: GGUFCursor.maxNameBytes)
            guard !key.isEmpty else { throw fail("metadata key \(i) at byte \(keyStart) is empty; the file is corrupt") }
            guard !meta.contains(key) else {
                throw fail("metadata key '\(key)' at byte \(keyStart) appears twice; the file is corrupt, re-convert or re-download it")
            }
            let type = try c.readValueType("metadata key '\(key)'")
            meta.append(key, try c.readValue(type, key: key))
        }
        var align = GGUFFile.defaultAlignment
        if let a = meta["general.alignment"] {
            guard case .uint32(let n) = a else {
                throw fail("metadata key 'general.alignment' is \(a.typeDescription), expected uint32; the file is corrupt")
            }
            guard n > 0, n & (n - 1) == 0 else {
                throw fail("metadata key 'general.alignment' is \(n), not a power of two; the file is corrupt")
            }
            align = Int(n)
        }
        alignment = align
        metadata = meta

        // 4. Tensor infos.
        guard tensorCount <= c.remaining / minTensor else {
            throw fail("tensor_count \(tensorCount) needs at least \(minTensor) bytes per tensor but only \(c.remaining) bytes remain after the metadata (byte \(c.offset)); the file is truncated or corrupt, re-download it")
        }
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensorCount)
        var index: [String: Int] = [:]
        for i in 0..<tensorCount {
            let start = c.offset
            let name = try c.readString("the name of tensor \(i)", strict: true, maxBytes: GGUFCursor.maxNameBytes)
            let t = "tensor '\(name)' (info at byte \(start))"
            guard index[name] == nil else { throw fail("\(t) appears twice; the file is corrupt, re-convert or re-download it") }
            let nDims = try c.read(UInt32.self, "n_dims of \(t)")
            guard (1...UInt32(GGUFFile.maxDims)).contains(nDims) else {
                throw fail("\(t) has n_dims \(nDims), expected 1 to \(GGUFFile.maxDims); the file is corrupt")
            }
            var dims: [Int] = []
            var elements = 1
            for d in 0..<Int(nDims) {
                let n = try c.readCount("dims[\(d)] of \(t)")
                guard n > 0 else { throw fail("\(t) has dims[\(d)] = 0; the file is corrupt") }
                let (p, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow else { throw fail("\(t) has dims \(dims + [n]) whose product overflows; the file is corrupt") }
                elements = p
                dims.append(n)
            }
            let typeStart = c.offset
            let code = try c.read(UInt32.self, "the ggml type of \(t)")
            guard let type = GGMLType(rawValue: code) else {
                throw fail("\(t) has unknown ggml type \(code) at byte \(typeStart); the file is corrupt or uses a type this reader does not know, re-quantize it with llama-quantize to Q8_0 or Q4_K_M")
            }
            guard dims[0] % type.blockSize == 0 else {
                throw fail("\(t) is \(type) with rows of \(dims[0]) values, not a whole number of \(type.blockSize)-value blocks; the file is corrupt")
            }
            guard let bytes = type.byteCount(elements: elements) else {
                throw fail("\(t): \(type) dims \(dims) overflow the byte size; the file is corrupt")
            }
            let offsetStart = c.offset
            let offset = try c.readCount("the offset of \(t)")
            guard offset % align == 0 else {
                throw fail("\(t) has data offset \(offset) (at byte \(offsetStart)), not a multiple of the alignment \(align); the file is corrupt")
            }
            index[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: offset, elementCount: elements, byteCount: bytes))
        }

        // 5. Data section: aligned start, every range inside the file, no overlaps.
        let headerEnd = c.offset
        let start = (headerEnd + align - 1) / align * align
        dataOffset = start
        if !infos.isEmpty {
            guard start <= size else {
                throw fail("the data section starts at byte \(start) but the file ends at byte \(size); the file is truncated, re-download it")
            }
            let dataSize = size - start
            for t in infos where t.offset > dataSize || t.byteCount > dataSize - t.offset {
                let place = t.offset > dataSize
                    ? "starts at data offset \(t.offset), past the end of the \(dataSize)-byte data section"
                    : "needs \(t.byteCount) bytes at data offset \(t.offset) but only \(dataSize - t.offset) remain"
                throw fail("tensor '\(t.name)' (\(t.type) \(t.dims)) \(place) (the data section starts at byte \(start), the file ends at byte \(size)); the file is truncated, re-download it")
            }
            let sorted = infos.sorted { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
            for (a, b) in zip(sorted, sorted.dropFirst()) where b.offset < a.offset + a.byteCount {
                throw fail("tensors '\(a.name)' and '\(b.name)' overlap (data bytes \(a.offset)..<\(a.offset + a.byteCount) and \(b.offset)..<\(b.offset + b.byteCount)); the file is corrupt, re-download it")
            }
        }
        tensors = infos
        byName = index
    }

    public func info(_ name: String) -> GGUFTensorInfo? { byName[name].map { tensors[$0] } }

    public func contains(_ name: String) -> Bool { byName[name] != nil }

    func require(_ name: String) throws -> GGUFTensorInfo {
        guard let i = info(name) else {
            throw DNDError("\(url.path): no tensor named '\(name)' (the file holds \(tensors.count) tensors); check the model's architecture")
        }
        return i
    }

    /// A tensor's bytes as stored (borrowed from the mapping; valid while `self` lives).
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let i = try require(name)
        return UnsafeRawBufferPointer(start: mapping.base + dataOffset + i.offset, count: i.byteCount)
    }

    /// The tensor as Float32 with row-major `shape` (`dims` reversed). Aligned F32 data is borrowed from the
    /// mapping without a copy; every other supported type is dequantized into owned memory, in parallel.
    public func tensor(_ name: String) throws -> Tensor {
        let i = try require(name)
        guard i.type.isDequantizable else {
            let readable = GGMLType.allCases.filter(\.isDequantizable).map(\.description).joined(separator: ", ")
            throw DNDError("\(url.path): tensor '\(name)' is \(i.type), which this reader does not dequantize (it reads \(readable)); re-quantize the model with llama-quantize to Q8_0 or Q4_K_M, or convert it to F16")
        }
        let src = mapping.base + dataOffset + i.offset
        if i.type == .f32, Int(bitPattern: src) % MemoryLayout<Float>.alignment == 0 {
            let storage = TensorStorage(borrowing: src.assumingMemoryBound(to: Float.self), count: i.elementCount, owner: mapping)
            return Tensor(shape: i.shape, storage: storage)
        }
        let storage = TensorStorage(count: i.elementCount, zeroed: false)
        Dequantize.run(i.type, from: src, to: storage.pointer, count: i.elementCount)
        return Tensor(shape: i.shape, storage: storage)
    }

    /// Every tensor as Float32, by name.
    public func allTensors() throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        out.reserveCapacity(tensors.count)
        for t in tensors { out[t.name] = try tensor(t.name) }
        return out
    }
}
