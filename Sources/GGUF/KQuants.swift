/// The 256-value K-quant super-blocks (ggml-common.h `block_q2_K` … `block_q6_K`), split into sub-blocks
/// of 16 or 32 values with their own scales. Output index `o` within a super-block is written as
/// `half·128 + s·32 + l` (two halves, four 32-value groups `s`, lane `l`), the order the bit planes use.
enum KQuants {
    static let qk = GGMLType.qkK

    /// 84 bytes: scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin.
    /// y = d·scale·q − dmin·min, one (scale, min) per 16 values.
    static func q2_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 84, o = dst + b &* qk
            let d = Half.load(p, 80), dmin = Half.load(p, 82)
            for half in 0..<2 {
                for s in 0..<4 {
                    let shift = UInt8(2 &* s)
                    for g in 0..<2 {
                        let sc = p.load(fromByteOffset: half &* 8 &+ s &* 2 &+ g, as: UInt8.self)
                        let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc &>> 4)
                        let q: Int = 16 &+ half &* 32 &+ g &* 16
                        let first: Int = half &* 128 &+ s &* 32 &+ g &* 16
                        let y = o + first
                        for l in 0..<16 {
                            y[l] = dl * Float((p.load(fromByteOffset: q &+ l, as: UInt8.self) &>> shift) & 3) - ml
                        }
                    }
                }
            }
        }
    }

    /// 110 bytes: hmask[32] (third bit, set means no −4), qs[64] (2 bits), scales[12] (16 × 6-bit, −32), d.
    /// y = d·(scale − 32)·(q − 4·(1 − h)).
    static func q3_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 110, o = dst + b &* qk
            let d = Half.load(p, 108)
            for half in 0..<2 {
                for s in 0..<4 {
                    let shift = UInt8(2 &* s), hbit = UInt8(half &* 4 &+ s)
                    for g in 0..<2 {
                        // Scale k: low 4 bits in byte k % 8 (nibble k / 8), high 2 bits in byte 8 + k % 4 (pair k / 4).
                        let k: Int = half &* 8 &+ s &* 2 &+ g
                        let low = (p.load(fromByteOffset: 96 &+ (k & 7), as: UInt8.self) &>> UInt8(4 &* (k &>> 3))) & 0x0F
                        let high = (p.load(fromByteOffset: 104 &+ (k & 3), as: UInt8.self) &>> UInt8(2 &* (k &>> 2))) & 3
                        let dl = d * Float(Int32(low | (high &<< 4)) &- 32)
                        let first: Int = half &* 128 &+ s &* 32 &+ g &* 16
                        let y = o + first
                        for l in 0..<16 {
                            let lane: Int = g &* 16 &+ l
                            let q = Int32((p.load(fromByteOffset: 32 &+ half &* 32 &+ lane, as: UInt8.self) &>> shift) & 3)
                            let h = Int32((p.load(fromByteOffset: lane, as: UInt8.self) &>> hbit) & 1)
                            y[l] = dl * Float(q &- ((1 &- h) &<< 2))
                        }
                    }
                }
            }
        }
    }

    /// The 8 six-bit (scale, min) pairs of Q4_K / Q5_K packed in 12 bytes at `p`.
    @inline(__always)
    static func scaleMin(_ p: UnsafeRawPointer, _ j: Int) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (p.load(fromByteOffset: j, as: UInt8.self) & 0x3F, p.load(fromByteOffset: j &+ 4, as: UInt8.self) & 0x3F)
        }
        let md = p.load(fromByteOffset: j &+ 4, as: UInt8.self)
        let dHigh = (p.load(fromByteOffset: j &- 4, as: UInt8.self) &>> 2) & 0x30
        let mHigh = (p.load(fromByteOffset: j, as: UInt8.self) &>> 2) & 0x30
        return ((md & 0x0F) | dHigh, (md &>> 4) | mHigh)
    }

    /// 144 bytes: d, dmin, scales[12], qs[128] (4 bits; 32-byte runs give low then high nibbles).
    /// y = d·scale·q − dmin·min, one pair per 32 values.
    static func q4_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 144, o = dst + b &* qk
            let d = Half.load(p, 0), dmin = Half.load(p, 2)
            for c in 0..<4 {
                for h in 0..<2 {
                    let (sc, mn) = scaleMin(p + 4, 2 &* c &+ h)
                    let dd = d * Float(sc), dm = dmin * Float(mn)
                    let shift = UInt8(4 &* h)
                    let first: Int = c &* 64 &+ h &* 32
                    let y = o + first
                    for l in 0..<32 {
                        y[l] = dd * Float((p.load(fromByteOffset: 16 &+ c &* 32 &+ l, as: UInt8.self) &>> shift) & 0x0F) - dm
                    }
                }
            }
        }
    }

    /// 176 bytes: d, dmin, scales[12], qh[32] (fifth bit of sub-block j in bit j), qs[128] as Q4_K.
    static func q5_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 176, o = dst + b &* qk
            let d = Half.load(p, 0), dmin = Half.load(p, 2)
            for c in 0..<4 {
                for h in 0..<2 {
                    let j = 2 &* c &+ h
                    let (sc, mn) = scaleMin(p + 4, j)
                    let dd = d * Float(sc), dm = dmin * Float(mn)
                    let shift = UInt8(4 &* h), hb = UInt8(j)
                    let first: Int = j &* 32
                    let y = o + first
                    for l in 0..<32 {
                        let lo = (p.load(fromByteOffset: 48 &+ c &* 32 &+ l, as: UInt8.self) &>> shift) & 0x0F
                        let hi = ((p.load(fromByteOffset: 16 &+ l, as: UInt8.self) &>> hb) & 1) &<< 4
                        y[l] = dd * Float(lo | hi) - dm
                    }
                }
            }
        }
    }

    /// 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d. y = d·scale·(q − 32).
    static func q6_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b &* 210, o = dst + b &* qk
            let d = Half.load(p, 208)
            for half in 0..<2 {
                for s in 0..<4 {
                    let qlBase = half &* 64 &+ (s & 1) &* 32, qlShift = UInt8(4 &* (s &>> 1))
                    let qhBase = 128 &+ half &* 32, qhShift = UInt8(2 &* s)
                    for g in 0..<2 {
                        let scale = p.load(fromByteOffset: 192 &+ half &* 8 &+ s &* 2 &+ g, as: Int8.self)
                        let dl = d * Float(scale)
                        let first: Int = half &* 128 &+ s &* 32 &+ g &* 16
                        let y = o + first
                        for l in 0..<16 {
                            let lane: Int = g &* 16 &+ l
                            let lo = (p.load(fromByteOffset: qlBase &+ lane, as: UInt8.self) &>> qlShift) & 0x0F
                            let hi = (p.load(fromByteOffset: qhBase &+ lane, as: UInt8.self) &>> qhShift) & 3
                            y[l] = dl * Float(Int32(lo | (hi &<< 4)) &- 32)
                        }
                    }
                }
            }
        }
    }
}
