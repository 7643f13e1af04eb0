/// The 32-value block formats (ggml-common.h `block_q8_0`, `block_q4_0`, …). In each, value `j < 16` comes
/// from the low nibble of byte `j` and value `j + 16` from its high nibble; Q5 adds bit `j` of `qh` as a
/// fifth bit. `d` (and `m`) are f16. Formulas, per value q: Q8_0 d·q; Q4_0 d·(q − 8); Q4_1 d·q + m;
/// Q5_0 d·(q − 16); Q5_1 d·q + m.
enum LegacyQuants {
    static let qk = 32

    /// 34 bytes: d, qs[32] (int8).
    static func q8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 34, o = dst + b &* qk
            let d = Half.load(p, 0)
            for j in 0..<32 { o[j] = Float(p.load(fromByteOffset: 2 &+ j, as: Int8.self)) * d }
        }
    }

    /// 18 bytes: d, qs[16].
    static func q4_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 18, o = dst + b &* qk
            let d = Half.load(p, 0)
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 2 &+ j, as: UInt8.self)
                o[j] = d * Float(Int32(q & 0x0F) &- 8)
                o[j &+ 16] = d * Float(Int32(q &>> 4) &- 8)
            }
        }
    }

    /// 20 bytes: d, m, qs[16].
    static func q4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 20, o = dst + b &* qk
            let d = Half.load(p, 0), m = Half.load(p, 2)
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 4 &+ j, as: UInt8.self)
                o[j] = d * Float(q & 0x0F) + m
                o[j &+ 16] = d * Float(q &>> 4) + m
            }
        }
    }

    /// 22 bytes: d, qh (u32), qs[16].
    static func q5_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 22, o = dst + b &* qk
            let d = Half.load(p, 0)
            let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(p.load(fromByteOffset: 6 &+ j, as: UInt8.self))
                let lo = (q & 0x0F) | (((qh &>> UInt32(j)) & 1) &<< 4)
                let hi = (q &>> 4) | (((qh &>> UInt32(j &+ 16)) & 1) &<< 4)
                o[j] = d * Float(Int32(bitPattern: lo) &- 16)
                o[j &+ 16] = d * Float(Int32(bitPattern: hi) &- 16)
            }
        }
    }

    /// 24 bytes: d, m, qh (u32), qs[16].
    static func q5_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 24, o = dst + b &* qk
            let d = Half.load(p, 0), m = Half.load(p, 2)
            let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(p.load(fromByteOffset: 8 &+ j, as: UInt8.self))
                let lo = (q & 0x0F) | (((qh &>> UInt32(j)) & 1) &<< 4)
                let hi = (q &>> 4) | (((qh &>> UInt32(j &+ 16)) & 1) &<< 4)
                o[j] = d * Float(lo) + m
                o[j &+ 16] = d * Float(hi) + m
            }
        }
    }
}
