import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes a `.safetensors` file tensor by tensor, never holding the whole file: the header is laid out up front from
/// the declared names, dtypes and shapes, then the data is appended in declaration order, in as many pieces as the
/// caller likes. The file is filled under a temporary name and appears (fsync, rename) only from `finish()`; a writer
/// dropped before that leaves nothing behind.
public final class SafeTensorsStreamWriter {
    /// One declared tensor.
    public struct Entry: Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public init(_ name: String, _ dtype: DType, _ shape: [Int]) { self.name = name; self.dtype = dtype; self.shape = shape }
        var bytes: Int { shape.reduce(1, *) * dtype.byteSize }
    }

    public let url: URL
    let entries: [Entry]
    let tmp: URL
    let fd: Int32
    let observe: ((UnsafeRawBufferPointer) -> Void)?
    /// The tensor being filled, and how many of its bytes are written.
    var current = 0
    var written = 0
    var finished = false

    /// Opens the temporary file and writes the header. `observe` sees every byte written (header included), in order:
    /// for a running hash.
    public init(url: URL, entries: [Entry], metadata: [String: String] = [:], observe: ((UnsafeRawBufferPointer) -> Void)? = nil) throws {
        guard Set(entries.map(\.name)).count == entries.count else { throw DNDError("\(url.path): a tensor name is declared twice") }
        for e in entries where e.dtype != .f32 && e.dtype != .i32 && e.dtype != .i64 {
            throw DNDError("\(url.path): tensor '\(e.name)': the stream writer writes F32, I32 and I64, not \(e.dtype.rawValue)")
        }
        self.url = url; self.entries = entries; self.observe = observe
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for e in entries {
            header[e.name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + e.bytes]] as [String: Any]
            offset += e.bytes
        }
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }  // 8-byte aligned data, as SafeTensorsWriter
        tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DNDError("\(tmp.path): cannot create (\(String(cString: strerror(errno)))); check that the folder exists and is writable")
        }
        var prefix = Data()
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { prefix.append(contentsOf: $0) }
        prefix.append(headerBytes)
        try prefix.withUnsafeBytes { try raw($0) }
        skipEmpty()
    }

    deinit {
        if !finished { close(fd); unlink(tmp.path) }
    }

    /// Appends Float32 values to the current F32 tensor (the rest of it, or a leading part).
    public func append(_ t: Tensor) throws {
        try t.withUnsafeBufferPointer { try append(UnsafeRawBufferPointer($0), dtype: .f32) }
    }

    /// Appends Int32 values to the current I32 tensor.
    public func append(int32 values: [Int32]) throws {
        try values.withUnsafeBytes { try append($0, dtype: .i32) }
    }

    /// Appends Int64 values to the current I64 tensor.
    public func append(int64 values: [Int64]) throws {
        try values.withUnsafeBytes { try append($0, dtype: .i64) }
    }

    func append(_ bytes: UnsafeRawBufferPointer, dtype: DType) throws {
        guard current < entries.count else { throw DNDError("\(url.path): more data than the declared tensors hold") }
        let e = entries[current]
        precondition(e.dtype == dtype, "\(url.path): appending \(dtype.rawValue) values to \(e.dtype.rawValue) tensor '\(e.name)'")
        guard written + bytes.count <= e.bytes else {
            throw DNDError("\(url.path): tensor '\(e.name)' \(e.shape) takes \(e.bytes) bytes; \(written + bytes.count) were appended")
        }
        try raw(bytes)
        written += bytes.count
        if written == e.bytes { current += 1; written = 0; skipEmpty() }
    }

    /// Moves past tensors with no elements.
    func skipEmpty() {
        while current < entries.count && entries[current].bytes == 0 { current += 1 }
    }

    func raw(_ buf: UnsafeRawBufferPointer) throws {
        observe?(buf)
        var off = 0
        while off < buf.count {
            let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw DNDError("\(url.path): write failed (\(String(cString: strerror(errno)))); is the disk full?")
            }
            off += n
        }
    }

    /// Checks every declared tensor is complete, syncs and renames the file into place.
    public func finish() throws {
        guard current == entries.count else {
            let e = entries[current]
            throw DNDError("\(url.path): tensor '\(e.name)' \(e.shape) is incomplete (\(written) of \(e.bytes) bytes); nothing was written")
        }
        guard fsync(fd) == 0 else { throw DNDError("\(url.path): fsync failed (\(String(cString: strerror(errno))))") }
        close(fd)
        finished = true
        guard rename(tmp.path, url.path) == 0 else {
            let e = String(cString: strerror(errno))
            unlink(tmp.path)
            throw DNDError("\(url.path): rename failed (\(e))")
        }
        AtomicFile.syncDirectory(url.deletingLastPathComponent())
    }
}
