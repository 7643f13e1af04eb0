import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// A fast, non-cryptographic 64-bit hash of file contents, for cache keys: four independent
/// multiply–rotate lanes over 8-byte words (tens of GB/s), folded with the length and a final avalanche.
/// Stable across runs and machines (little-endian words, fixed constants).
public enum ContentHash {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    @inline(__always) static func lane(_ s: UInt64, _ w: UInt64) -> UInt64 { rotl(s ^ (w &* p2), 31) &* p1 }

    /// The SplitMix64 finaliser: every input bit affects every output bit.
    @inline(__always) static func avalanche(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Hash of `count` bytes at `p`.
    public static func hash(_ p: UnsafeRawPointer, count: Int) -> UInt64 {
        var s0: UInt64 = p1, s1: UInt64 = p2, s2: UInt64 = p3, s3: UInt64 = p1 ^ p2
        var i = 0
        while i + 32 <= count {
            s0 = lane(s0, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            s1 = lane(s1, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)))
            s2 = lane(s2, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)))
            s3 = lane(s3, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)))
            i += 32
        }
        var h = UInt64(count) &* p3
        for s in [s0, s1, s2, s3] { h = (h ^ avalanche(s)) &* p1 }
        // The tail (< 32 bytes), zero-padded into words.
        while i < count {
            var w: UInt64 = 0
            let n = Swift.min(8, count - i)
            for b in 0..<n { w |= UInt64(p.load(fromByteOffset: i + b, as: UInt8.self)) << (8 * UInt64(b)) }
            h = lane(h, w)
            i += 8
        }
        return avalanche(h)
    }

    public static func hash(_ data: Data) -> UInt64 {
        data.withUnsafeBytes { hash($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: $0.count) }
    }

    /// Hash of a file's contents (memory-mapped, so hashing a large model costs no copy).
    public static func hash(file url: URL) throws -> UInt64 {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DNDError("\(url.path): cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DNDError("\(url.path): cannot stat") }
        let size = Int(st.st_size)
        if size == 0 { return hash(Data()) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw DNDError("\(url.path): cannot map the file to hash it")
        }
        defer { munmap(base, size) }
        return hash(UnsafeRawPointer(base), count: size)
    }
}
