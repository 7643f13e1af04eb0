import Foundation

// Differentiable building blocks, each a forward/backward pair side by side (llm.c style).
// Backward arguments: gradients to write, upstream gradient, saved inputs, dims.
// Row-wise ops work on `rows` rows of `n` contiguous values.

/// LayerNorm over the trailing `n` values of each row, with affine `weight`, `bias` `[n]`.
public enum LayerNorm {
    /// Saved for backward: per-row mean and 1/std, each `[rows]`.
    public struct Cache { public var mean: [Float]; public var rstd: [Float] }

    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor, n: Int, eps: Float) -> (Tensor, Cache) {
        precondition(weight.count == n && bias.count == n && x.count % n == 0, "LayerNorm: x \(x.shape), n \(n), weight \(weight.shape)")
        let rows = x.count / n
        var y = Tensor(zeros: x.shape)
        var cache = Cache(mean: [Float](repeating: 0, count: rows), rstd: [Float](repeating: 0, count: rows))
        let xp = x.pointer, w = weight.pointer, b = bias.pointer
        y.withUnsafeMutableBufferPointer { yb in
            let yp = yb.baseAddress!
            for r in 0..<rows {
                let xr = xp + r * n, yr = yp + r * n
                var s: Float = 0
                for j in 0..<n { s += xr[j] }
                let m = s / Float(n)
                var v: Float = 0
                for j in 0..<n { let d = xr[j] - m; v += d * d }
                let rs = 1 / (v / Float(n) + eps).squareRoot()
                for j in 0..<n { yr[j] = (xr[j] - m) * rs * w[j] + b[j] }
                cache.mean[r] = m; cache.rstd[r] = rs
            }
        }
        return (y, cache)
    }

    /// Returns dx; accumulates into `dWeight`, `dBias` `[n]`.
    public static func backward(dWeight: inout Tensor, dBias: inout Tensor, dy: Tensor, x: Tensor, weight: Tensor,
                                cache: Cache, n: Int) -> Tensor {
        let rows = x.count / n
        var dx = Tensor(zeros: x.shape)
        let xp = x.pointer, dyp = dy.pointer, w = weight.pointer
        let dxp = dx.storage.pointer
        dWeight.withUnsafeMutableBufferPointer { dwb in
            dBias.withUnsafeMutableBufferPointer { dbb in
                let dw = dwb.baseAddress!, db = dbb.baseAddress!
                for r in 0..<rows {
                    let xr = xp + r * n, gr = dyp + r * n, dr = dxp + r * n
                    let m = cache.mean[r], rs = cache.rstd[r]
                    var meanG: Float = 0, meanGX: Float = 0
                    for j in 0..<n {
                        let xh = (xr[j] - m) * rs
                        let g = gr[j] * w[j]
                        meanG += g; meanGX += g * xh
                        dw[j] += gr[j] * xh
                        db[j] += gr[j]
                    }
                    meanG /= Float(n); meanGX /= Float(n)
                    for j in 0..<n {
                        let xh = (xr[j] - m) * rs
                        dr[j] = (gr[j] * w[j] - meanG - xh * meanGX) * rs
                    }
                }
            }
        }
        return dx
    }
}

/// RMSNorm over rows of `n`: `y = w · x / sqrt(mean(x²) + eps)`.
public enum RMSNorm {
    public static func forward(_ x: Tensor, weight: Tensor, n: Int, eps: Float) -> (Tensor, [Float]) {
        precondition(weight.count == n && x.count % n == 0, "RMSNorm: x \(x.shape), n \(n), weight \(weight.shape)")
        let rows = x.count / n
        var y = Tensor(zeros: x.shape)
        var rstd = [Float](repeating: 0, count: rows)
        let xp = x.pointer, w = weight.pointer, yp = y.storage.pointer
        for r in 0..<rows {
            let xr = xp + r * n, yr = yp + r * n
            var s: Float = 0
            for j in 0..<n { s += xr[j] * xr[j] }
            let rs = 1 / (s / Float(n) + eps).squareRoot()
            for j in 0..<n { yr[j] = xr[j] * rs * w[j] }
            rstd[r] = rs
        }
        return (y, rstd)
    }

    /// Returns dx; accumulates into `dWeight` `[n]` when given.
    public static func backward(dWeight: UnsafeMutablePointer<Float>?, dy: Tensor, x: Tensor, weight: Tensor,
                                rstd: [Float], n: Int) -> Tensor {
        let rows = x.count / n
        var dx = Tensor(zeros: x.shape)
        let xp = x.pointer, gp = dy.pointer, w = weight.pointer, dxp = dx.storage.pointer
        for r in 0..<rows {
            let xr = xp + r * n, gr = gp + r * n, dr = dxp + r * n
            let rs = rstd[r]
            var dot: Float = 0
            for j in 0..<n { dot += gr[j] * w[j] * xr[j] }
            let c = dot * rs * rs / Float(n)
            for j in 0..<n { dr[j] = rs * (gr[j] * w[j] - xr[j] * c) }
            if let dWeight { for j in 0..<n { dWeight[j] += gr[j] * xr[j] * rs } }
        }
        return dx
    }
}

/// Softmax over rows of `n`.
public enum Softmax {
    public static func forward(_ x: Tensor, n: Int) -> Tensor {
        var y = x
        y.withUnsafeMutableBufferPointer { forwardInPlace($0.baseAddress!, rows: x.count / n, n: n) }
        return y
    }

    /// In place on `rows × n` values (numerically stable: the row max is subtracted first).
    public static func forwardInPlace(_ p: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            let row = p + r * n
            var m = -Float.infinity
            for j in 0..<n { m = Swift.max(m, row[j]) }
            if m == -.infinity { row.update(repeating: 0, count: n); continue }
            var s: Float = 0
            for j in 0..<n { let e = expf(row[j] - m); row[j] = e; s += e }
            let inv = 1 / s
            for j in 0..<n { row[j] *= inv }
        }
    }

    /// dx = y ⊙ (dy − Σ dy⊙y).
    public static func backward(dy: Tensor, y: Tensor, n: Int) -> Tensor {
        var dx = Tensor(zeros: y.shape)
        backwardInPlace(dx: dx.storage.pointer, dy: dy.pointer, y: y.pointer, rows: y.count / n, n: n)
        return dx
    }

    public static func backwardInPlace(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>,
                                       rows: Int, n: Int) {
        for r in 0..<rows {
            let o = r * n
            var s: Float = 0
            for j in 0..<n { s += dy[o + j] * y[o + j] }
            for j in 0..<n { dx[o + j] = y[o + j] * (dy[o + j] - s) }
        }
    }
}

/// GELU, erf form (as BERT uses): `0.5 x (1 + erf(x/√2))`.
public enum GELU {
    public static func forward(_ x: Tensor) -> Tensor { x.map { 0.5 * $0 * (1 + erff($0 * 0.70710678118654752)) } }
    public static func backward(dy: Tensor, x: Tensor) -> Tensor {
        dy.zipMap(x) { g, v in
            let cdf = 0.5 * (1 + erff(v * 0.70710678118654752))
            let pdf = expf(-0.5 * v * v) * 0.3989422804014327
            return g * (cdf + v * pdf)
        }
    }
}
