import TensorCore

/// Dequantization of ggml blocks to Float32. A kernel turns `blocks` consecutive blocks at `src` into
/// `blocks × blockSize` floats at `dst`; `run` splits a tensor into chunks of whole blocks (rows are whole
/// blocks, so chunks of blocks are chunks of rows) and runs the chunks on all cores. The kernels follow
/// ggml-quants.c's `dequantize_row_*` and gguf-py's `quants.py` arithmetic order, so results are bit-exact.
enum Dequantize {
    typealias Kernel = (_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) -> Void

    /// About this many values per chunk: large enough to amortise dispatch, small enough to balance cores.
    static let chunkValues = 1 << 16

    static func kernel(_ type: GGMLType) -> Kernel? {
        switch type {
        case .f32: f32
        case .f16: f16
        case .bf16: bf16
        case .q8_0: LegacyQuants.q8_0
        case .q4_0: LegacyQuants.q4_0
        case .q4_1: LegacyQuants.q4_1
        case .q5_0: LegacyQuants.q5_0
        case .q5_1: LegacyQuants.q5_1
        case .q2_K: KQuants.q2_K
        case .q3_K: KQuants.q3_K
        case .q4_K: KQuants.q4_K
        case .q5_K: KQuants.q5_K
        case .q6_K: KQuants.q6_K
        default: nil
        }
    }

    /// Dequantizes `count` values (a whole number of blocks) of `type`; the caller checked the type is supported.
    static func run(_ type: GGMLType, from src: UnsafeRawPointer, to dst: UnsafeMutablePointer<Float>, count: Int) {
        guard let k = kernel(type) else { preconditionFailure("no kernel for \(type)") }
        let blocks = count / type.blockSize
        let chunkBlocks = max(1, chunkValues / type.blockSize)
        let chunks = (blocks + chunkBlocks - 1) / chunkBlocks
        let typeSize = type.typeSize, blockSize = type.blockSize
        Parallel.forEach(chunks) { c in
            let first = c &* chunkBlocks
            k(src + first &* typeSize, dst + first &* blockSize, min(chunkBlocks, blocks &- first))
        }
    }

    static func f32(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n &* 4)
    }

    static func f16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { dst[i] = Half.load(src, i &* 2) }
    }

    static func bf16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))) &<< 16) }
    }
}

/// IEEE half-precision to Float32 through a 65,536-entry table (exact for every bit pattern, NaNs included).
enum Half {
    nonisolated(unsafe) static let table: UnsafePointer<Float> = {
        let t = UnsafeMutablePointer<Float>.allocate(capacity: 1 << 16)
        for h in 0..<(1 << 16) { t[h] = Float(Float16(bitPattern: UInt16(h))) }
        return UnsafePointer(t)
    }()

    @inline(__always)
    static func load(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        table[Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))]
    }
}
