import Foundation
import TensorCore

/// Seeded standard-normal samples by the ziggurat method (Marsaglia and Tsang, 2000), fast enough to add noise
/// to every element of a training batch (millions per step): a table look-up and a compare for ~99% of draws,
/// where Box–Muller needs a logarithm and a sine.
///
/// The density `f(x) = exp(−x²/2)` is covered by 128 layers of equal area `v`: layer `i ≥ 1` is the rectangle
/// `[0, x_i] × [f(x_i), f(x_{i+1})]` with `x_1 = r`, `x_{i+1} = √(−2 ln(f(x_i) + v/x_i))`, `x_128 = 0`; layer 0
/// is `[0, r] × [0, f(r)]` plus the tail beyond `r`, drawn as a rectangle of width `x_0 = v / f(r)`.
public enum GaussianNoise {
    static let layers = 128
    /// Right edge of the base rectangle for 128 layers, and the common area (Marsaglia and Tsang).
    static let r = 3.442619855899
    static let v = 9.91256303526217e-3

    /// Per layer: `[0, 128)` the width `x_i`, `[128, 256)` the inner fraction `x_{i+1} / x_i` (the part of the
    /// layer wholly under the curve), `[256, 385)` the height `f(x_i)`. Built once, never freed.
    static let table: UnsafePointer<Double> = {
        func f(_ x: Double) -> Double { exp(-0.5 * x * x) }
        var x = [Double](repeating: 0, count: layers + 1)
        x[0] = v / f(r)
        x[1] = r
        for i in 1..<(layers - 1) { x[i + 1] = (-2 * log(f(x[i]) + v / x[i])).squareRoot() }
        x[layers] = 0
        let t = UnsafeMutablePointer<Double>.allocate(capacity: 3 * layers + 1)
        for i in 0..<layers { t[i] = x[i]; t[layers + i] = x[i + 1] / x[i] }
        for i in 0...layers { t[2 * layers + i] = f(x[i]) }
        return UnsafePointer(t)
    }()

    /// One standard-normal draw.
    @inline(__always)
    public static func sample(_ rng: inout SeededRNG) -> Float {
        let width = table, inner = table + layers, height = table + 2 * layers
        while true {
            let bits = rng.next()
            let i = Int(bits & 127)
            let negative = bits & 128 != 0
            let u = Double(bits >> 11) * 0x1p-53                   // uniform in [0, 1)
            let x = u * width[i]
            if u < inner[i] { return Float(negative ? -x : x) }
            if i == 0 {
                // The tail beyond r, by exponential proposals.
                while true {
                    let a = -log(1 - Double(rng.next() >> 11) * 0x1p-53) / r
                    let b = -log(1 - Double(rng.next() >> 11) * 0x1p-53)
                    if 2 * b > a * a { return Float(negative ? -(r + a) : r + a) }
                }
            }
            // The wedge between the inner rectangle and the curve.
            let y = height[i] + Double(rng.next() >> 11) * 0x1p-53 * (height[i + 1] - height[i])
            if y < exp(-0.5 * x * x) { return Float(negative ? -x : x) }
        }
    }

    /// `x += std · N(0, 1)` element-wise.
    public static func add(to x: inout Tensor, std: Float, rng: inout SeededRNG) {
        if std == 0 { return }
        x.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] += std * sample(&rng) } }
    }
}
