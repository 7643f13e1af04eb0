import Foundation

/// Rotary position embeddings in the Hugging Face "rotate half" layout: element `i` of a head pairs with
/// element `i + hd/2`, rotated by `p · θ^(−2i/hd)` at position `p` (angles in Float32, as transformers does).
struct Rotary {
    let half: Int
    let cos: [Float]   // [P, hd/2]
    let sin: [Float]   // [P, hd/2]

    /// Tables for positions `0..<positions`.
    init(headDim: Int, theta: Float, positions: Int) {
        half = headDim / 2
        let inv = (0..<half).map { 1 / powf(theta, Float(2 * $0) / Float(headDim)) }
        var c = [Float](repeating: 0, count: positions * half), s = c
        for p in 0..<positions {
            for i in 0..<half {
                let a = Float(p) * inv[i]
                c[p * half + i] = cosf(a); s[p * half + i] = sinf(a)
            }
        }
        cos = c; sin = s
    }

    /// Rotates every head of `x [N, heads·hd]` in place, row `r` at `positions[r]`.
    func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, positions: [Int32]) {
        rotate(x, rows: rows, heads: heads, positions: positions, sign: 1)
    }

    /// Backward: the rotation is orthogonal, so the gradient rotates by the opposite angle (in place on dx).
    func backward(_ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int, positions: [Int32]) {
        rotate(dx, rows: rows, heads: heads, positions: positions, sign: -1)
    }

    private func rotate(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, positions: [Int32], sign: Float) {
        let h = half, width = heads * 2 * h
        cos.withUnsafeBufferPointer { cb in
            sin.withUnsafeBufferPointer { sb in
                for r in 0..<rows {
                    let p = Int(positions[r])
                    let c = cb.baseAddress! + p * h, s = sb.baseAddress! + p * h
                    for hh in 0..<heads {
                        let v = x + r * width + hh * 2 * h
                        for i in 0..<h {
                            let a = v[i], b = v[i + h], si = sign * s[i]
                            v[i] = a * c[i] - b * si
                            v[i + h] = b * c[i] + a * si
                        }
                    }
                }
            }
        }
    }
}
