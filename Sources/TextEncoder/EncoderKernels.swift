import Foundation
import TensorCore

/// The encoder's hand loops (everything that is not a matrix product): row broadcasts, fused LayerNorm,
/// softmax and GELU. Written branch-free over unchecked pointers so that they vectorize; each has a plain
/// twin in TensorCore (`LayerNorm`, `Softmax`, `GELU`) that the tests compare against.
enum EncoderKernels {
    // MARK: exp and erf

    /// e^x to about 2 ulp for x in [-87, 88] (clamped outside): Cody–Waite reduction x = k·ln2 + r,
    /// |r| ≤ ln2/2, degree-7 Taylor polynomial for e^r, 2^k built in the exponent bits. No branches.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let xc = x < -87 ? -87 : (x > 88 ? 88 : x)
        // Adding and subtracting 1.5·2²³ rounds to the nearest integer in plain float arithmetic (a call to
        // rintf would stop the loop from vectorizing).
        let k = (xc * 1.44269504088896341 + 12582912) - 12582912
        let r = (xc - k * 0.693145751953125) - k * 1.428606765330187045e-06
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let scale = Float(bitPattern: UInt32(bitPattern: Int32(k) &+ 127) << 23)
        return p * scale
    }

    /// erf(x), absolute error below 6e-7 in float (Abramowitz & Stegun 7.1.26, 1.5e-7, with the exp above). No branches.
    @inline(__always)
    static func erf(_ x: Float) -> Float {
        let z = abs(x)
        let t = 1 / (1 + 0.3275911 * z)
        var p: Float = 1.061405429
        p = p * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        let e = 1 - p * t * exp(-z * z)
        return x < 0 ? -e : e
    }

    /// BERT's exact GELU `0.5·x·(1 + erf(x/√2))`, in place over `count` values.
    static func geluInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = p[i]
            p[i] = 0.5 * x * (1 + erf(x * 0.70710678118654752))
        }
    }

    // MARK: reductions
    // Four 4-wide accumulators (the build targets baseline x86-64, so SSE: SIMD4 maps onto one register;
    // wider SIMD types or their `.sum()`/`.max()` compile to spills and per-lane loops).

    @inline(__always)
    static func load4(_ p: UnsafePointer<Float>, _ j: Int) -> SIMD4<Float> {
        UnsafeRawPointer(p + j).loadUnaligned(as: SIMD4<Float>.self)
    }

    @inline(__always)
    static func lanes(_ v: SIMD4<Float>) -> Float { (v[0] + v[1]) + (v[2] + v[3]) }

    @inline(__always)
    static func larger(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> { a.replacing(with: b, where: b .> a) }

    /// Σ p[0..<n].
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = SIMD4<Float>(), a1 = SIMD4<Float>(), a2 = SIMD4<Float>(), a3 = SIMD4<Float>()
        var j = 0
        while j + 16 <= n {
            a0 += load4(p, j); a1 += load4(p, j + 4); a2 += load4(p, j + 8); a3 += load4(p, j + 12)
            j += 16
        }
        var s = lanes((a0 + a1) + (a2 + a3))
        while j < n { s += p[j]; j += 1 }
        return s
    }

    /// Σ (p[j] − m)² over n values.
    @inline(__always)
    static func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, mean m: Float) -> Float {
        var a0 = SIMD4<Float>(), a1 = SIMD4<Float>(), a2 = SIMD4<Float>(), a3 = SIMD4<Float>()
        let mv = SIMD4<Float>(repeating: m)
        var j = 0
        while j + 16 <= n {
            let d0 = load4(p, j) - mv, d1 = load4(p, j + 4) - mv, d2 = load4(p, j + 8) - mv, d3 = load4(p, j + 12) - mv
            a0 += d0 * d0; a1 += d1 * d1; a2 += d2 * d2; a3 += d3 * d3
            j += 16
        }
        var s = lanes((a0 + a1) + (a2 + a3))
        while j < n { let d = p[j] - m; s += d * d; j += 1 }
        return s
    }

    /// max p[0..<n] (n ≥ 1).
    @inline(__always)
    static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = p[0]
        var j = 0
        if n >= 16 {
            var a0 = load4(p, 0), a1 = load4(p, 4), a2 = load4(p, 8), a3 = load4(p, 12)
            j = 16
            while j + 16 <= n {
                a0 = larger(a0, load4(p, j)); a1 = larger(a1, load4(p, j + 4))
                a2 = larger(a2, load4(p, j + 8)); a3 = larger(a3, load4(p, j + 12))
                j += 16
            }
            let a = larger(larger(a0, a1), larger(a2, a3))
            m = Swift.max(Swift.max(a[0], a[1]), Swift.max(a[2], a[3]))
        }
        while j < n { m = p[j] > m ? p[j] : m; j += 1 }
        return m
    }

    // MARK: row operations

    /// `dst[r, :] = bias` for `rows` rows of `n` (dst `[rows, n]`).
    static func broadcastRows(_ dst: UnsafeMutablePointer<Float>, rows: Int, n: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows { (dst + r * n).update(from: bias, count: n) }
    }

    /// `dst[r, :] = src[r, :] + bias` (dst, src `[rows, n]`): the residual plus bias a projection adds to.
    static func addBiasRows(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, rows: Int, n: Int,
                            bias: UnsafePointer<Float>) {
        for r in 0..<rows {
            let d = dst + r * n, s = src + r * n
            for j in 0..<n { d[j] = s[j] + bias[j] }
        }
    }

    /// LayerNorm of each row of `n` in place (`p` `[rows, n]`), affine `weight`, `bias` `[n]`; two-pass
    /// mean and variance, as PyTorch computes them.
    static func layerNormInPlace(_ p: UnsafeMutablePointer<Float>, rows: Int, n: Int, weight: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>, eps: Float) {
        let inv = 1 / Float(n)
        for r in 0..<rows {
            let x = p + r * n
            let m = sum(x, n) * inv
            let rs = 1 / (sumOfSquaredDeviations(x, n, mean: m) * inv + eps).squareRoot()
            for j in 0..<n { x[j] = (x[j] - m) * rs * weight[j] + bias[j] }
        }
    }

    /// Softmax of each of `rows` rows of `n` values, the rows `ld` apart, in place.
    static func softmaxInPlace(_ p: UnsafeMutablePointer<Float>, rows: Int, n: Int, ld: Int) {
        for r in 0..<rows {
            let x = p + r * ld
            let m = max(x, n)
            for j in 0..<n { x[j] = exp(x[j] - m) }
            let inv = 1 / sum(x, n)
            for j in 0..<n { x[j] *= inv }
        }
    }
}
