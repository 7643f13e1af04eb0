import Foundation

/// 2-D cross-correlation, stride 1, zero "same" padding `k/2`, odd square kernel, by im2col + GEMM.
///
/// Shapes: input `X [B, C, S1, S2]`, weight `K [O, C, k, k]`, bias `[O]`, output `[B, O, S1, S2]`.
/// A group of batch items is unfolded along S2 into `cols [C·k, G·S1·S2]`; each item's output is `k` GEMMs
/// (one per tap along S1) on row-shifted views of it.
public enum Conv2D {
    /// Upper bound on the unfolded buffer, in floats (64 MiB); larger batches are processed in groups.
    public static var maxColumnFloats = 4 << 20

    static func dims(_ input: Tensor, _ weight: Tensor) -> (b: Int, c: Int, s1: Int, s2: Int, o: Int, k: Int) {
        precondition(input.rank == 4, "conv2d input must be [B, C, S1, S2], got \(input.shape)")
        precondition(weight.rank == 4, "conv2d weight must be [O, C, k, k], got \(weight.shape)")
        let k = weight.shape[2]
        precondition(weight.shape[3] == k && k % 2 == 1, "conv2d kernel must be odd and square, got \(weight.shape)")
        precondition(weight.shape[1] == input.shape[1], "conv2d channels: input \(input.shape) vs weight \(weight.shape)")
        return (input.shape[0], input.shape[1], input.shape[2], input.shape[3], weight.shape[0], k)
    }

    static func groupSize(b: Int, rows: Int, plane: Int) -> Int {
        max(1, min(b, maxColumnFloats / max(1, rows * plane)))
    }

    /// `[B, C, S1, S2] * [O, C, k, k] (+ bias [O]) → [B, O, S1, S2]`.
    ///
    /// Only the `k` taps along S2 are unfolded (`cols [C·k, G·S1·S2]`, k× the input rather than k²×); the `k` taps
    /// along S1 are `k` GEMMs per item on views of `cols` shifted by whole rows, accumulating straight into the
    /// item's `[O, S1·S2]` output (no product buffer, no copy).
    public static func forward(input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let d = dims(input, weight)
        let plane = d.s1 * d.s2, ck = d.c * d.k
        if let bias { precondition(bias.shape == [d.o], "conv2d bias must be [\(d.o)], got \(bias.shape)") }
        let wt = taps(weight)                                            // (k di, O, C, k dj)
        var out = Tensor(uninitialized: [d.b, d.o, d.s1, d.s2])          // (B, O, S1, S2)
        let g = groupSize(b: d.b, rows: ck, plane: plane)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, ck * g * plane))   // (C·k, g·S1·S2)
        defer { cols.deallocate() }
        out.withUnsafeMutableBufferPointer { ob in
            let op = ob.baseAddress!
            var b0 = 0
            while b0 < d.b {
                let gg = min(g, d.b - b0), ld = gg * plane
                im2colRows(input.pointer, b0: b0, g: gg, c: d.c, s1: d.s1, s2: d.s2, k: d.k, cols: cols)
                for item in 0..<gg {
                    let dst = op + (b0 + item) * d.o * plane              // (O, S1·S2)
                    for (first, di, i0, i1) in rowTaps(k: d.k, s1: d.s1) {
                        let shift = di - d.k / 2
                        // out[b] [O, rows i0..<i1] (+)= W_di [O, C·k] · cols [C·k, rows i0+shift…]
                        BLAS.gemm(m: d.o, n: (i1 - i0) * d.s2, k: ck, a: wt.pointer + di * d.o * ck, lda: ck,
                                  b: cols + item * plane + (i0 + shift) * d.s2, ldb: ld, beta: first ? 0 : 1,
                                  c: dst + i0 * d.s2, ldc: plane)
                    }
                    if let bias {
                        for o in 0..<d.o { let bv = bias.pointer[o], r = dst + o * plane; for j in 0..<plane { r[j] += bv } }
                    }
                }
                b0 += gg
            }
        }
        return out
    }

    /// Backward of `forward`: accumulates `dL/dK` into `gradWeight` and `dL/dbias` into `gradBias` (when given),
    /// and returns `dL/dX` when `needInputGrad`.
    @discardableResult
    public static func backward(gradOutput: Tensor, input: Tensor, weight: Tensor,
                                gradWeight: inout Tensor, gradBias: UnsafeMutablePointer<Float>? = nil,
                                needInputGrad: Bool = true) -> Tensor? {
        let d = dims(input, weight)
        precondition(gradOutput.shape == [d.b, d.o, d.s1, d.s2], "conv2d grad shape \(gradOutput.shape)")
        precondition(gradWeight.shape == weight.shape, "conv2d weight grad shape \(gradWeight.shape)")
        let plane = d.s1 * d.s2, ck = d.c * d.k
        let wt = taps(weight)                                            // (k di, O, C, k dj)
        var dwt = Tensor(zeros: wt.shape)                                // (k di, O, C, k dj)
        let g = groupSize(b: d.b, rows: ck, plane: plane)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, ck * g * plane))   // (C·k, g·S1·S2)
        let dcols: UnsafeMutablePointer<Float>? = needInputGrad ? .allocate(capacity: max(1, ck * g * plane)) : nil
        defer { cols.deallocate(); dcols?.deallocate() }
        let dx: Tensor? = needInputGrad ? Tensor(zeros: input.shape) : nil
        let dxPointer = dx?.storage.pointer  // fresh, uniquely owned storage
        if let gradBias {
            for b in 0..<d.b {
                for o in 0..<d.o {
                    let row = gradOutput.pointer + (b * d.o + o) * plane
                    var s: Float = 0
                    for j in 0..<plane { s += row[j] }
                    gradBias[o] += s
                }
            }
        }
        dwt.withUnsafeMutableBufferPointer { dwb in
            var b0 = 0
            while b0 < d.b {
                let gg = min(g, d.b - b0), ld = gg * plane
                im2colRows(input.pointer, b0: b0, g: gg, c: d.c, s1: d.s1, s2: d.s2, k: d.k, cols: cols)
                for item in 0..<gg {
                    let dOut = gradOutput.pointer + (b0 + item) * d.o * plane  // (O, S1·S2)
                    for (first, di, i0, i1) in rowTaps(k: d.k, s1: d.s1) {
                        let shift = di - d.k / 2, n = (i1 - i0) * d.s2
                        let colsAt = item * plane + (i0 + shift) * d.s2
                        // dW_di [O, C·k] += dOut [O, rows] · colsᵀ
                        BLAS.gemm(transB: true, m: d.o, n: ck, k: n, a: dOut + i0 * d.s2, lda: plane, b: cols + colsAt, ldb: ld,
                                  beta: 1, c: dwb.baseAddress! + di * d.o * ck, ldc: ck)
                        if let dcols {
                            // dcols [C·k, rows] (+)= W_diᵀ · dOut
                            BLAS.gemm(transA: true, m: ck, n: n, k: d.o, a: wt.pointer + di * d.o * ck, lda: ck, b: dOut + i0 * d.s2,
                                      ldb: plane, beta: first ? 0 : 1, c: dcols + colsAt, ldc: ld)
                        }
                    }
                }
                if let dcols, let dxPointer {
                    col2imRows(dcols, b0: b0, g: gg, c: d.c, s1: d.s1, s2: d.s2, k: d.k, dx: dxPointer)
                }
                b0 += gg
            }
        }
        // gradWeight [O, C, k, k] += dwt [k, O, C, k]
        let src = dwt.pointer, k = d.k
        gradWeight.withUnsafeMutableBufferPointer { gb in
            let dst = gb.baseAddress!
            for o in 0..<d.o { for c in 0..<d.c { for di in 0..<k { for dj in 0..<k {
                dst[((o * d.c + c) * k + di) * k + dj] += src[((di * d.o + o) * d.c + c) * k + dj]
            } } } }
        }
        return dx
    }

    /// `[O, C, k, k] → [k (di), O, C, k (dj)]`: tap row `di` is an `[O, (c, dj)]` matrix matching `im2colRows`.
    static func taps(_ w: Tensor) -> Tensor {
        let (o, c, k) = (w.shape[0], w.shape[1], w.shape[2])
        var out = Tensor(uninitialized: [k, o, c, k])
        let src = w.pointer, dst = out.storage.pointer
        for oo in 0..<o { for ch in 0..<c { for di in 0..<k { for dj in 0..<k {
            dst[((di * o + oo) * c + ch) * k + dj] = src[((oo * c + ch) * k + di) * k + dj]
        } } } }
        return out
    }

    /// The taps along S1 with the output rows `i0..<i1` each reaches inside the image; the centre tap first,
    /// which covers every row and so may overwrite.
    static func rowTaps(k: Int, s1: Int) -> [(first: Bool, di: Int, i0: Int, i1: Int)] {
        let p = k / 2
        var out: [(Bool, Int, Int, Int)] = [(true, p, 0, s1)]
        for di in 0..<k where di != p {
            let shift = di - p, i0 = max(0, -shift), i1 = min(s1, s1 - shift)
            if i0 < i1 { out.append((false, di, i0, i1)) }
        }
        return out
    }

    /// Unfolds items `b0..<b0+g` of `x` along S2 only: `cols [C·k, g·S1·S2]`, row `(c, dj)`, column `(item, i, j)`
    /// holding `x[item, c, i, j + dj − k/2]` (0 outside).
    public static func im2colRows(_ x: UnsafePointer<Float>, b0: Int, g: Int, c: Int, s1: Int, s2: Int, k: Int,
                                  cols: UnsafeMutablePointer<Float>) {
        let plane = s1 * s2, pad = k / 2, ld = g * plane
        for ch in 0..<c {
            for dj in 0..<k {
                let row = cols + (ch * k + dj) * ld
                let dx = dj - pad, j0 = max(0, -dx), j1 = min(s2, s2 - dx)
                for item in 0..<g {
                    let src = x + ((b0 + item) * c + ch) * plane, dst = row + item * plane
                    if j0 >= j1 { dst.update(repeating: 0, count: plane); continue }
                    for i in 0..<s1 {
                        let o = dst + i * s2
                        if j0 > 0 { o.update(repeating: 0, count: j0) }
                        (o + j0).update(from: src + i * s2 + j0 + dx, count: j1 - j0)
                        if j1 < s2 { (o + j1).update(repeating: 0, count: s2 - j1) }
                    }
                }
            }
        }
    }

    /// Folds `cols [C·k, g·S1·S2]` back, accumulating into `dx` (the adjoint of `im2colRows`).
    public static func col2imRows(_ cols: UnsafePointer<Float>, b0: Int, g: Int, c: Int, s1: Int, s2: Int, k: Int,
                                  dx: UnsafeMutablePointer<Float>) {
        let plane = s1 * s2, pad = k / 2, ld = g * plane
        for ch in 0..<c {
            for dj in 0..<k {
                let row = cols + (ch * k + dj) * ld
                let dxo = dj - pad, j0 = max(0, -dxo), j1 = min(s2, s2 - dxo)
                if j0 >= j1 { continue }
                for item in 0..<g {
                    let dst = dx + ((b0 + item) * c + ch) * plane + dxo, src = row + item * plane
                    for i in 0..<s1 {
                        let d = dst + i * s2, s = src + i * s2
                        for j in j0..<j1 { d[j] += s[j] }
                    }
                }
            }
        }
    }

    /// Direct-loop twin of `forward`, for tests.
    public static func referenceForward(input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let d = dims(input, weight)
        let pad = d.k / 2
        var out = Tensor(zeros: [d.b, d.o, d.s1, d.s2])
        for b in 0..<d.b { for o in 0..<d.o { for i in 0..<d.s1 { for j in 0..<d.s2 {
            var s: Double = bias.map { Double($0[flat: o]) } ?? 0
            for c in 0..<d.c { for di in 0..<d.k { for dj in 0..<d.k {
                let y = i + di - pad, x = j + dj - pad
                if y < 0 || y >= d.s1 || x < 0 || x >= d.s2 { continue }
                s += Double(weight[o, c, di, dj]) * Double(input[b, c, y, x])
            } } }
            out[b, o, i, j] = Float(s)
        } } } }
        return out
    }
}
