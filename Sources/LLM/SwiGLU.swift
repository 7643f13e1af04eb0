import Foundation

/// The SiLU-gated MLP's elementwise core, `h = silu(g) ⊙ u`, between `gate_proj`/`up_proj` and `down_proj`.
/// Shapes: g, u, h `[N, I]`.
enum SwiGLU {
    static func forward(h: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, u: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { h[i] = silu(g[i]) * u[i] }
    }

    /// SiLU, `x · σ(x)`.
    @inline(__always) static func silu(_ v: Float) -> Float { v / (1 + expf(-v)) }

    /// dg = dh ⊙ u ⊙ silu′(g); du = dh ⊙ silu(g) (both overwritten).
    static func backward(dg: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, dh: UnsafePointer<Float>,
                         g: UnsafePointer<Float>, u: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let gi = g[i]
            let s = 1 / (1 + expf(-gi))
            du[i] = dh[i] * gi * s
            dg[i] = dh[i] * u[i] * s * (1 + gi * (1 - s))
        }
    }
}
