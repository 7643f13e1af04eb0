import TensorCore

// Letters: G batch items, N the block's channel axis (prompts at the input), and the two trailing axes of
// a `[G, N, A, B]` activation; `C` input channels, `O` output channels, `S` the other spatial axis.

/// The hyper-convolutions of a block, run straight on `[G, N, ·, ·]` activations with no permute copies:
/// the channels are the last axis (`last*`, DESIGN's W convolutions) or the middle axis (`middle*`, the H
/// convolutions), the spatial axes are `(N, S)`; odd kernel `k`, stride 1, zero padding `k/2`, no bias.
/// Every product is im2col + `BLAS.gemm`, a chunk of `(g, n)` slices at a time.
public enum AxisConv {
    /// Upper bound on one chunk's unfolded columns, in floats (16 MiB).
    public static var maxColumnFloats = 4 << 20

    /// `(g, n)` slices per chunk: as many as fit in `maxColumnFloats`, at least one.
    static func unitsPerChunk(total: Int, floatsPerUnit: Int) -> Int {
        max(1, min(total, maxColumnFloats / max(1, floatsPerUnit)))
    }

    // MARK: - channels on the last axis: x [G, N, S, C] → y [G, N, S, O]

    /// `x [G, N, S, C] * weight [O, C, k, k] → [G, N, S, O]`:
    /// `y[g, n, s, o] = Σ_{c,di,dj} weight[o, c, di, dj] · x[g, n+di−k/2, s+dj−k/2, c]`.
    public static func lastForward(_ x: Tensor, weight: Tensor) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4 && weight.shape[1] == x.shape[3], "lastForward: x \(x.shape), weight \(weight.shape)")
        let (g, n, s, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], kc = k * k * c
        let wr = tapMajor(weight)                                   // (O, k, k, C)
        var y = Tensor(uninitialized: [g, n, s, o])                 // (G, N, S, O)
        let units = g * n, chunk = unitsPerChunk(total: units, floatsPerUnit: s * kc)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, chunk * s * kc))   // (chunk·S, k·k·C)
        defer { cols.deallocate() }
        y.withUnsafeMutableBufferPointer { yb in
            var u0 = 0
            while u0 < units {
                let uu = min(chunk, units - u0)
                im2colLast(x.pointer, u0: u0, units: uu, n: n, s: s, c: c, k: k, cols: cols)
                // y rows [uu·S, O] = cols [uu·S, kc] · wrᵀ [kc, O]
                BLAS.gemm(transB: true, m: uu * s, n: o, k: kc, a: cols, lda: kc, b: wr.pointer, ldb: kc,
                          c: yb.baseAddress! + u0 * s * o, ldc: o)
                u0 += uu
            }
        }
        return y
    }

    /// Backward of `lastForward`: accumulates `dL/dweight` into `dWeight` `[O, C, k, k]`, returns `dL/dx`.
    public static func lastBackward(dWeight: inout Tensor, dy: Tensor, x: Tensor, weight: Tensor) -> Tensor {
        let (g, n, s, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], kc = k * k * c
        precondition(dy.shape == [g, n, s, o] && dWeight.shape == weight.shape, "lastBackward: dy \(dy.shape), x \(x.shape), weight \(weight.shape)")
        let wr = tapMajor(weight)                                   // (O, k, k, C)
        var dwr = Tensor(zeros: [o, k, k, c])                       // (O, k, k, C)
        var dx = Tensor(zeros: x.shape)                             // (G, N, S, C)
        let units = g * n, chunk = unitsPerChunk(total: units, floatsPerUnit: s * kc)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, chunk * s * kc))   // (chunk·S, kc)
        defer { cols.deallocate() }
        dwr.withUnsafeMutableBufferPointer { dwb in
            dx.withUnsafeMutableBufferPointer { dxb in
                var u0 = 0
                while u0 < units {
                    let uu = min(chunk, units - u0)
                    let dyc = dy.pointer + u0 * s * o                // (uu·S, O)
                    im2colLast(x.pointer, u0: u0, units: uu, n: n, s: s, c: c, k: k, cols: cols)
                    // dwr [O, kc] += dyᵀ [O, uu·S] · cols [uu·S, kc]
                    BLAS.gemm(transA: true, m: o, n: kc, k: uu * s, a: dyc, lda: o, b: cols, ldb: kc,
                              beta: 1, c: dwb.baseAddress!, ldc: kc)
                    // dcols [uu·S, kc] = dy [uu·S, O] · wr [O, kc], reusing cols
                    BLAS.gemm(m: uu * s, n: kc, k: o, a: dyc, lda: o, b: wr.pointer, ldb: kc, c: cols, ldc: kc)
                    col2imLast(cols, u0: u0, units: uu, n: n, s: s, c: c, k: k, dx: dxb.baseAddress!)
                    u0 += uu
                }
            }
        }
        addChannelMajor(dwr, into: &dWeight)
        return dx
    }

    /// `[O, C, k, k] → [O, k, k, C]`, so that one im2col row `(di, dj, c)` meets the weight in order.
    static func tapMajor(_ w: Tensor) -> Tensor {
        let (o, c, k) = (w.shape[0], w.shape[1], w.shape[2])
        var out = Tensor(uninitialized: [o, k, k, c])
        let src = w.pointer
        out.withUnsafeMutableBufferPointer { ob in
            let dst = ob.baseAddress!
            for oo in 0..<o { for ch in 0..<c { for t in 0..<(k * k) {
                dst[(oo * k * k + t) * c + ch] = src[(oo * c + ch) * k * k + t]
            } } }
        }
        return out
    }

    /// `dW [O, C, k, k] += dwr [O, k, k, C]` (the adjoint of `tapMajor`).
    static func addChannelMajor(_ dwr: Tensor, into dW: inout Tensor) {
        let (o, k, c) = (dwr.shape[0], dwr.shape[1], dwr.shape[3])
        let src = dwr.pointer
        dW.withUnsafeMutableBufferPointer { db in
            let dst = db.baseAddress!
            for oo in 0..<o { for ch in 0..<c { for t in 0..<(k * k) {
                dst[(oo * c + ch) * k * k + t] += src[(oo * k * k + t) * c + ch]
            } } }
        }
    }

    /// Unfolds slices `u0..<u0+units` (u = g·N + n) of `x [G, N, S, C]` into `cols [units·S, k·k·C]`,
    /// row `(u, s)`, column `(di, dj, c)`. For a fixed `di`, the `k` taps along S are `k·C` contiguous floats.
    static func im2colLast(_ x: UnsafePointer<Float>, u0: Int, units: Int, n: Int, s: Int, c: Int, k: Int,
                           cols: UnsafeMutablePointer<Float>) {
        let p = k / 2, kc = k * k * c, run = k * c, plane = s * c
        for uu in 0..<units {
            let u = u0 + uu, item = u / n, nn = u % n
            for di in 0..<k {
                let sn = nn + di - p
                let base = cols + uu * s * kc + di * run
                if sn < 0 || sn >= n {
                    for si in 0..<s { (base + si * kc).update(repeating: 0, count: run) }
                    continue
                }
                let src = x + (item * n + sn) * plane
                for si in 0..<s {
                    let dst = base + si * kc
                    let j0 = max(0, p - si), j1 = min(k, s + p - si)      // taps dj that land inside S
                    if j0 > 0 { dst.update(repeating: 0, count: j0 * c) }
                    if j1 > j0 { (dst + j0 * c).update(from: src + (si + j0 - p) * c, count: (j1 - j0) * c) }
                    if j1 < k { (dst + j1 * c).update(repeating: 0, count: (k - j1) * c) }
                }
            }
        }
    }

    /// Folds `cols [units·S, k·k·C]` back into `dx [G, N, S, C]`, accumulating (the adjoint of `im2colLast`).
    static func col2imLast(_ cols: UnsafePointer<Float>, u0: Int, units: Int, n: Int, s: Int, c: Int, k: Int,
                           dx: UnsafeMutablePointer<Float>) {
        let p = k / 2, kc = k * k * c, run = k * c, plane = s * c
        for uu in 0..<units {
            let u = u0 + uu, item = u / n, nn = u % n
            for di in 0..<k {
                let sn = nn + di - p
                if sn < 0 || sn >= n { continue }
                let base = cols + uu * s * kc + di * run
                let dst = dx + (item * n + sn) * plane
                for si in 0..<s {
                    let j0 = max(0, p - si), j1 = min(k, s + p - si)
                    if j1 <= j0 { continue }
                    let from = base + si * kc + j0 * c, to = dst + (si + j0 - p) * c
                    for j in 0..<((j1 - j0) * c) { to[j] += from[j] }
                }
            }
        }
    }

    // MARK: - channels on the middle axis: x [G, N, C, S] → y [G, N, O, S]

    /// `x [G, N, C, S] * weight [O, C, k, k] → [G, N, O, S]`:
    /// `y[g, n, o, s] = Σ_{c,di,dj} weight[o, c, di, dj] · x[g, n+di−k/2, c, s+dj−k/2]`.
    public static func middleForward(_ x: Tensor, weight: Tensor) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4 && weight.shape[1] == x.shape[2], "middleForward: x \(x.shape), weight \(weight.shape)")
        let (g, n, c, s) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], kc = c * k * k
        var y = Tensor(uninitialized: [g, n, o, s])                 // (G, N, O, S)
        let units = g * n, chunk = unitsPerChunk(total: units, floatsPerUnit: s * kc)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, kc * chunk * s))    // (kc, chunk·S)
        let prod = UnsafeMutablePointer<Float>.allocate(capacity: max(1, o * chunk * s))     // (O, chunk·S)
        defer { cols.deallocate(); prod.deallocate() }
        y.withUnsafeMutableBufferPointer { yb in
            let yp = yb.baseAddress!
            var u0 = 0
            while u0 < units {
                let uu = min(chunk, units - u0), ld = uu * s
                im2colMiddle(x.pointer, u0: u0, units: uu, n: n, c: c, s: s, k: k, cols: cols)
                if uu == 1 {
                    // y[u] [O, S] = W [O, kc] · cols [kc, S], in place
                    BLAS.gemm(m: o, n: s, k: kc, a: weight.pointer, lda: kc, b: cols, ldb: s, c: yp + u0 * o * s, ldc: s)
                } else {
                    // prod [O, uu·S] = W [O, kc] · cols [kc, uu·S]; then each slice's [O, S] block moves into y
                    BLAS.gemm(m: o, n: ld, k: kc, a: weight.pointer, lda: kc, b: cols, ldb: ld, c: prod, ldc: ld)
                    for v in 0..<uu {
                        let dst = yp + (u0 + v) * o * s
                        for oo in 0..<o { (dst + oo * s).update(from: prod + oo * ld + v * s, count: s) }
                    }
                }
                u0 += uu
            }
        }
        return y
    }

    /// Backward of `middleForward`: accumulates `dL/dweight` into `dWeight` `[O, C, k, k]`, returns `dL/dx`.
    public static func middleBackward(dWeight: inout Tensor, dy: Tensor, x: Tensor, weight: Tensor) -> Tensor {
        let (g, n, c, s) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], kc = c * k * k
        precondition(dy.shape == [g, n, o, s] && dWeight.shape == weight.shape, "middleBackward: dy \(dy.shape), x \(x.shape), weight \(weight.shape)")
        var dx = Tensor(zeros: x.shape)                             // (G, N, C, S)
        let units = g * n, chunk = unitsPerChunk(total: units, floatsPerUnit: s * kc)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, kc * chunk * s))    // (kc, chunk·S)
        let dprod = UnsafeMutablePointer<Float>.allocate(capacity: max(1, o * chunk * s))    // (O, chunk·S)
        defer { cols.deallocate(); dprod.deallocate() }
        dWeight.withUnsafeMutableBufferPointer { dwb in
            dx.withUnsafeMutableBufferPointer { dxb in
                var u0 = 0
                while u0 < units {
                    let uu = min(chunk, units - u0), ld = uu * s
                    // dprod [O, uu·S]: the slices' [O, S] blocks of dy side by side (dy itself when one slice)
                    let dp: UnsafePointer<Float>
                    if uu == 1 {
                        dp = dy.pointer + u0 * o * s
                    } else {
                        for v in 0..<uu {
                            let src = dy.pointer + (u0 + v) * o * s
                            for oo in 0..<o { (dprod + oo * ld + v * s).update(from: src + oo * s, count: s) }
                        }
                        dp = UnsafePointer(dprod)
                    }
                    im2colMiddle(x.pointer, u0: u0, units: uu, n: n, c: c, s: s, k: k, cols: cols)
                    // dW [O, kc] += dprod [O, uu·S] · colsᵀ
                    BLAS.gemm(transB: true, m: o, n: kc, k: ld, a: dp, lda: ld, b: cols, ldb: ld, beta: 1,
                              c: dwb.baseAddress!, ldc: kc)
                    // dcols [kc, uu·S] = Wᵀ [kc, O] · dprod, reusing cols
                    BLAS.gemm(transA: true, m: kc, n: ld, k: o, a: weight.pointer, lda: kc, b: dp, ldb: ld, c: cols, ldc: ld)
                    col2imMiddle(cols, u0: u0, units: uu, n: n, c: c, s: s, k: k, dx: dxb.baseAddress!)
                    u0 += uu
                }
            }
        }
        return dx
    }

    /// Unfolds slices `u0..<u0+units` of `x [G, N, C, S]` into `cols [C·k·k, units·S]`, row `(c, di, dj)`,
    /// column `(u, s)`: every run along S is a shifted contiguous copy.
    static func im2colMiddle(_ x: UnsafePointer<Float>, u0: Int, units: Int, n: Int, c: Int, s: Int, k: Int,
                             cols: UnsafeMutablePointer<Float>) {
        let p = k / 2, ld = units * s
        for ch in 0..<c {
            for di in 0..<k {
                for dj in 0..<k {
                    let row = cols + ((ch * k + di) * k + dj) * ld
                    let shift = dj - p
                    let j0 = max(0, -shift), j1 = min(s, s - shift)
                    for uu in 0..<units {
                        let u = u0 + uu, item = u / n, sn = u % n + di - p
                        let dst = row + uu * s
                        if sn < 0 || sn >= n || j0 >= j1 { dst.update(repeating: 0, count: s); continue }
                        let src = x + ((item * n + sn) * c + ch) * s
                        if j0 > 0 { dst.update(repeating: 0, count: j0) }
                        (dst + j0).update(from: src + j0 + shift, count: j1 - j0)
                        if j1 < s { (dst + j1).update(repeating: 0, count: s - j1) }
                    }
                }
            }
        }
    }

    /// Folds `cols [C·k·k, units·S]` back into `dx [G, N, C, S]`, accumulating (the adjoint of `im2colMiddle`).
    static func col2imMiddle(_ cols: UnsafePointer<Float>, u0: Int, units: Int, n: Int, c: Int, s: Int, k: Int,
                             dx: UnsafeMutablePointer<Float>) {
        let p = k / 2, ld = units * s
        for ch in 0..<c {
            for di in 0..<k {
                for dj in 0..<k {
                    let row = cols + ((ch * k + di) * k + dj) * ld
                    let shift = dj - p
                    let j0 = max(0, -shift), j1 = min(s, s - shift)
                    if j0 >= j1 { continue }
                    for uu in 0..<units {
                        let u = u0 + uu, item = u / n, sn = u % n + di - p
                        if sn < 0 || sn >= n { continue }
                        let to = dx + ((item * n + sn) * c + ch) * s + shift, from = row + uu * s
                        for j in j0..<j1 { to[j] += from[j] }
                    }
                }
            }
        }
    }

    // MARK: - plain-loop twins, for tests

    /// Direct-loop twin of `lastForward` (Double accumulation).
    public static func referenceLast(_ x: Tensor, weight: Tensor) -> Tensor {
        let (g, n, s, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], p = k / 2
        var y = Tensor(zeros: [g, n, s, o])
        for b in 0..<g { for i in 0..<n { for j in 0..<s { for oo in 0..<o {
            var acc = 0.0
            for ch in 0..<c { for di in 0..<k { for dj in 0..<k {
                let a = i + di - p, bb = j + dj - p
                if a < 0 || a >= n || bb < 0 || bb >= s { continue }
                acc += Double(weight[oo, ch, di, dj]) * Double(x[b, a, bb, ch])
            } } }
            y[b, i, j, oo] = Float(acc)
        } } } }
        return y
    }

    /// Direct-loop twin of `middleForward` (Double accumulation).
    public static func referenceMiddle(_ x: Tensor, weight: Tensor) -> Tensor {
        let (g, n, c, s) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], p = k / 2
        var y = Tensor(zeros: [g, n, o, s])
        for b in 0..<g { for i in 0..<n { for oo in 0..<o { for j in 0..<s {
            var acc = 0.0
            for ch in 0..<c { for di in 0..<k { for dj in 0..<k {
                let a = i + di - p, bb = j + dj - p
                if a < 0 || a >= n || bb < 0 || bb >= s { continue }
                acc += Double(weight[oo, ch, di, dj]) * Double(x[b, a, ch, bb])
            } } }
            y[b, i, oo, j] = Float(acc)
        } } } }
        return y
    }
}
