import Foundation
import TensorCore

/// Adapters compared as the weight changes they make: ΔW = s·B·A of every module, flattened and concatenated.
/// Inner products go through r×r Gram matrices on sgemm, never through the `[out, in]` products:
/// ⟨s₁B₁A₁, s₂B₂A₂⟩ = s₁s₂·tr((B₁ᵀB₂)(A₂A₁ᵀ)).
public enum DeltaGeometry {
    /// ⟨ΔW_x, ΔW_y⟩ over the sites both adapters have (a site only one has contributes nothing).
    public static func inner(_ x: LoRAAdapter, _ y: LoRAAdapter) -> Double {
        var total = 0.0
        let sx = x.scaling, sy = y.scaling
        for (site, wx) in x.weights {
            guard let wy = y.weights[site] else { continue }
            let rx = wx.a.shape[0], ry = wy.a.shape[0], inF = wx.a.shape[1], outF = wx.b.shape[0]
            // G = B_xᵀ B_y [rx, ry]; H = A_y A_xᵀ [ry, rx]; tr(G·H)
            var g = Tensor(zeros: [rx, ry]), h = Tensor(zeros: [ry, rx])
            g.withUnsafeMutableBufferPointer { gp in
                BLAS.gemm(transA: true, m: rx, n: ry, k: outF, a: wx.b.pointer, lda: rx, b: wy.b.pointer, ldb: ry, c: gp.baseAddress!, ldc: ry)
            }
            h.withUnsafeMutableBufferPointer { hp in
                BLAS.gemm(transB: true, m: ry, n: rx, k: inF, a: wy.a.pointer, lda: inF, b: wx.a.pointer, ldb: inF, c: hp.baseAddress!, ldc: rx)
            }
            var tr = 0.0
            for i in 0..<rx { for j in 0..<ry { tr += Double(g.pointer[i * ry + j]) * Double(h.pointer[j * rx + i]) } }
            total += Double(sx) * Double(sy) * tr
        }
        return total
    }

    /// ‖ΔW‖ (Frobenius, over every module).
    public static func norm(_ x: LoRAAdapter) -> Double { inner(x, x).squareRoot() }

    /// cos(ΔW_x, ΔW_y); 0 when either is zero.
    public static func cosine(_ x: LoRAAdapter, _ y: LoRAAdapter) -> Double {
        let d = norm(x) * norm(y)
        return d > 0 ? inner(x, y) / d : 0
    }

    /// The element-wise mean of adapters of one shape (the "mean LoRA" baseline: the average of A and of B).
    public static func elementwiseMean(_ adapters: [LoRAAdapter]) throws -> LoRAAdapter {
        guard let first = adapters.first else { throw DNDError("the mean of no adapters") }
        var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for site in first.sites { w[site] = (Tensor(zeros: first.weights[site]!.a.shape), Tensor(zeros: first.weights[site]!.b.shape)) }
        let k = 1 / Float(adapters.count)
        for a in adapters {
            for site in first.sites {
                guard let (x, y) = a.weights[site], x.shape == w[site]!.a.shape, y.shape == w[site]!.b.shape else {
                    throw DNDError("\(a.origin): module \(site) is missing or has another shape; adapters of one zoo share their shapes")
                }
                w[site]!.a.add(x, scaled: k); w[site]!.b.add(y, scaled: k)
            }
        }
        return LoRAAdapter(config: first.config, weights: w)
    }
}
