import Foundation
import TensorCore

/// Writes `.safetensors` files atomically (temp name, fsync, rename).
public enum SafeTensorsWriter {
    /// A tensor to write: Float32 values stored as `dtype` (F32, F16 or BF16), or raw integers.
    public enum Payload {
        case float(Tensor, DType)
        case int64([Int64], shape: [Int])
        case int32([Int32], shape: [Int])
        case uint8([UInt8], shape: [Int])
    }

    /// Serialises tensors (sorted by name) with optional `__metadata__`.
    public static func serialize(_ items: [String: Payload], metadata: [String: String] = [:]) throws -> Data {
        let names = items.keys.sorted()
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var chunks: [(Int, Payload)] = []
        for name in names {
            let p = items[name]!
            let (dtype, shape, bytes): (DType, [Int], Int)
            switch p {
            case let .float(t, d):
                guard d == .f32 || d == .f16 || d == .bf16 else { throw DNDError("tensor '\(name)': cannot write dtype \(d.rawValue)") }
                (dtype, shape, bytes) = (d, t.shape, t.count * d.byteSize)
            case let .int64(v, s): (dtype, shape, bytes) = (.i64, s, v.count * 8); precondition(s.reduce(1, *) == v.count)
            case let .int32(v, s): (dtype, shape, bytes) = (.i32, s, v.count * 4); precondition(s.reduce(1, *) == v.count)
            case let .uint8(v, s): (dtype, shape, bytes) = (.u8, s, v.count); precondition(s.reduce(1, *) == v.count)
            }
            header[name] = ["dtype": dtype.rawValue, "shape": shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            chunks.append((bytes, p))
            offset += bytes
        }
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data section starts 8-byte aligned (keeps F32 tensors mappable in place).
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }
        var out = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(headerBytes)
        for (_, p) in chunks {
            switch p {
            case let .float(t, d):
                t.withUnsafeBufferPointer { b in
                    switch d {
                    case .f32: out.append(UnsafeBufferPointer(start: b.baseAddress, count: b.count))
                    case .bf16: out.append(contentsOf: b.map { HalfFloat.floatToBF16($0) }.withUnsafeBytes { Data($0) })
                    default: out.append(contentsOf: b.map { HalfFloat.floatToF16($0) }.withUnsafeBytes { Data($0) })
                    }
                }
            case let .int64(v, _): v.withUnsafeBytes { out.append(contentsOf: $0) }
            case let .int32(v, _): v.withUnsafeBytes { out.append(contentsOf: $0) }
            case let .uint8(v, _): out.append(contentsOf: v)
            }
        }
        return out
    }

    /// Writes Float32 tensors (stored as `dtype`) to `url` atomically.
    public static func write(_ tensors: [String: Tensor], to url: URL, dtype: DType = .f32, metadata: [String: String] = [:]) throws {
        try write(payloads: tensors.mapValues { .float($0, dtype) }, to: url, metadata: metadata)
    }

    public static func write(payloads: [String: Payload], to url: URL, metadata: [String: String] = [:]) throws {
        try AtomicFile.write(serialize(payloads, metadata: metadata), to: url)
    }
}
