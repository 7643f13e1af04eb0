import TensorCore

/// The training objective of DESIGN.md: `mean(w_t · (ŷ − y)²)` over every element of `[B, T, …]`, with one
/// weight `w_t` per weight token (axis 1).
public enum WeightedMSE {
    /// Loss of prediction `yHat` against `target` (both `[B, T, …]`) with `weights [T]`, accumulated in Double.
    public static func forward(_ yHat: Tensor, target: Tensor, weights: Tensor) -> Float {
        let (b, t, inner) = dims(yHat, target, weights)
        let yp = yHat.pointer, tp = target.pointer, wp = weights.pointer
        var total = 0.0
        for bi in 0..<b {
            for ti in 0..<t {
                let o = (bi * t + ti) * inner
                var s: Float = 0
                for j in 0..<inner { let d = yp[o + j] - tp[o + j]; s += d * d }
                total += Double(wp[ti]) * Double(s)
            }
        }
        return Float(total / Double(yHat.count))
    }

    /// `dL/dŷ = 2 w_t (ŷ − y) / count`, shaped like `yHat`.
    public static func backward(_ yHat: Tensor, target: Tensor, weights: Tensor) -> Tensor {
        let (b, t, inner) = dims(yHat, target, weights)
        var d = Tensor(uninitialized: yHat.shape)                       // (B, T, …)
        let yp = yHat.pointer, tp = target.pointer, wp = weights.pointer
        let scale = 2 / Float(yHat.count)
        d.withUnsafeMutableBufferPointer { db in
            let dp = db.baseAddress!
            for bi in 0..<b {
                for ti in 0..<t {
                    let o = (bi * t + ti) * inner, f = scale * wp[ti]
                    for j in 0..<inner { dp[o + j] = f * (yp[o + j] - tp[o + j]) }
                }
            }
        }
        return d
    }

    /// The loss split into its two parts for weight tokens `[B, T, r+2, cw+2]`: the normalized chunk values
    /// (`[0:r, 0:cw]`) and the border that holds each chunk's mean and std (the last two rows and columns), each the
    /// weighted mean over its own elements (so the total is their element-count-weighted average).
    public static func split(_ yHat: Tensor, target: Tensor, weights: Tensor) -> (values: Float, scale: Float) {
        let (b, t, inner) = dims(yHat, target, weights)
        precondition(yHat.rank == 4 && yHat.shape[2] >= 3 && yHat.shape[3] >= 3, "weighted MSE split: tokens [B, T, r+2, cw+2], not \(yHat.shape)")
        let rows = yHat.shape[2], cols = yHat.shape[3], r = rows - 2, cw = cols - 2
        let yp = yHat.pointer, tp = target.pointer, wp = weights.pointer
        var values = 0.0, border = 0.0
        for bi in 0..<b {
            for ti in 0..<t {
                let o = (bi * t + ti) * inner
                var sv: Float = 0, sb: Float = 0
                for i in 0..<rows {
                    for j in 0..<cols {
                        let d = yp[o + i * cols + j] - tp[o + i * cols + j]
                        if i < r && j < cw { sv += d * d } else { sb += d * d }
                    }
                }
                values += Double(wp[ti]) * Double(sv); border += Double(wp[ti]) * Double(sb)
            }
        }
        let n = Double(b * t)
        return (Float(values / (n * Double(r * cw))), Float(border / (n * Double(rows * cols - r * cw))))
    }

    static func dims(_ yHat: Tensor, _ target: Tensor, _ weights: Tensor) -> (Int, Int, Int) {
        precondition(yHat.shape == target.shape && yHat.rank >= 2, "weighted MSE: prediction \(yHat.shape) vs target \(target.shape)")
        precondition(weights.count == yHat.shape[1], "weighted MSE: \(weights.count) weights for \(yHat.shape[1]) tokens")
        let b = yHat.shape[0], t = yHat.shape[1]
        return (b, t, yHat.count / max(1, b * t))
    }
}
