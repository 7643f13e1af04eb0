import TensorCore

// Letters: G batch items, N the block's channel axis (prompts at the input), and the two trailing axes of
// a `[G, N, A, B]` activation; C input channels, O output channels, S the other spatial axis, k the kernel,
// p = k/2. A "slice" is one (g, n) pair: a [S, C] or [C, S] plane.

/// The hyper-convolutions of a block, run straight on `[G, N, ·, ·]` activations with no permute copies:
/// the channels are the last axis (`last*`, DESIGN's W convolutions) or the middle axis (`middle*`, the H
/// convolutions), the spatial axes are `(N, S)`; odd kernel `k`, stride 1, zero padding `k/2`, no bias.
///
/// im2col unfolds only the `k` taps along S (`cols` is k× the input, not k²×); the `k` taps along N are `k`
/// GEMMs on views of `cols` shifted by whole slices, accumulating into the output. Everything numeric is
/// `BLAS.gemm`; the hand loops only copy.
public enum AxisConv {
    /// Upper bound on one chunk's unfolded columns, in floats (16 MiB); a chunk is whole items, or part of
    /// one item (with its k/2-slice halo) when one item is larger.
    public static var maxColumnFloats = 4 << 20

    /// Items `g0..<g1`, output slices `nA..<nB` of each, unfolded slices `hA..<hB` (the output slices and
    /// their halo along N).
    struct Chunk {
        let g0, g1, nA, nB, hA, hB: Int
        var items: Int { g1 - g0 }
        var outSlices: Int { nB - nA }
        var inSlices: Int { hB - hA }
    }

    /// The chunks covering `g` items of `n` slices, `floatsPerSlice` unfolded floats each.
    static func plan(g: Int, n: Int, k: Int, floatsPerSlice: Int) -> [Chunk] {
        let budget = max(1, maxColumnFloats / max(1, floatsPerSlice))        // slices per chunk
        var out: [Chunk] = []
        if n <= budget {
            let per = max(1, budget / n)
            var g0 = 0
            while g0 < g { let g1 = min(g, g0 + per); out.append(Chunk(g0: g0, g1: g1, nA: 0, nB: n, hA: 0, hB: n)); g0 = g1 }
        } else {
            let p = k / 2, seg = max(1, budget - 2 * p)
            for item in 0..<g {
                var nA = 0
                while nA < n {
                    let nB = min(n, nA + seg)
                    out.append(Chunk(g0: item, g1: item + 1, nA: nA, nB: nB, hA: max(0, nA - p), hB: min(n, nB + p)))
                    nA = nB
                }
            }
        }
        return out
    }

    /// One GEMM of a chunk: tap `di` maps output slices `out..<out+count` (chunk-relative, items × outSlices)
    /// to unfolded slices `input..<input+count` (chunk-relative, items × inSlices).
    struct Tap { let di, out, input, count: Int }

    /// The taps of a chunk, centre tap first: it covers every output slice, so it may overwrite (β = 0).
    /// For whole items the centre tap is one GEMM over all items; the others stop at item edges (zero padding).
    static func taps(_ c: Chunk, n: Int, k: Int) -> [Tap] {
        let p = k / 2
        var out: [Tap] = []
        if c.nA == c.hA && c.nB == c.hB {
            out.append(Tap(di: p, out: 0, input: 0, count: c.items * c.outSlices))
        } else {
            out.append(Tap(di: p, out: 0, input: c.nA - c.hA, count: c.outSlices))
        }
        for di in 0..<k where di != p {
            let shift = di - p
            let n0 = max(c.nA, -shift), n1 = min(c.nB, n - shift)
            if n0 >= n1 { continue }
            for item in 0..<c.items {
                out.append(Tap(di: di, out: item * c.outSlices + n0 - c.nA, input: item * c.inSlices + n0 + shift - c.hA, count: n1 - n0))
            }
        }
        return out
    }

    // MARK: - channels on the last axis: x [G, N, S, C] → y [G, N, S, O]

    /// `x [G, N, S, C] * weight [O, C, k, k] → [G, N, S, O]`:
    /// `y[g, n, s, o] = Σ_{c,di,dj} weight[o, c, di, dj] · x[g, n+di−k/2, s+dj−k/2, c]`.
    public static func lastForward(_ x: Tensor, weight: Tensor) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4 && weight.shape[1] == x.shape[3], "lastForward: x \(x.shape), weight \(weight.shape)")
        let (g, n, s, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], kc = k * c
        let wl = lastTaps(weight)                                        // (k di, O, k dj, C)
        var y = Tensor(uninitialized: [g, n, s, o])                      // (G, N, S, O)
        let chunks = plan(g: g, n: n, k: k, floatsPerSlice: s * kc)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, chunks.map { $0.items * $0.inSlices }.max() ?? 1) * s * kc)
        defer { cols.deallocate() }                                      // (slices·S, k·C) rows (slice, s), columns (dj, c)
        y.withUnsafeMutableBufferPointer { yb in
            for ch in chunks {
                im2colLast(x.pointer, ch, n: n, s: s, c: c, k: k, cols: cols)
                let y0 = yb.baseAddress! + (ch.g0 * n + ch.nA) * s * o
                for (i, t) in taps(ch, n: n, k: k).enumerated() {
                    // y rows [count·S, O] (+)= cols rows [count·S, kc] · W_diᵀ [kc, O]
                    BLAS.gemm(transB: true, m: t.count * s, n: o, k: kc, a: cols + t.input * s * kc, lda: kc,
                              b: wl.pointer + t.di * o * kc, ldb: kc, beta: i == 0 ? 0 : 1, c: y0 + t.out * s * o, ldc: o)
                }
            }
        }
        return y
    }

    /// Backward of `lastForward`: accumulates `dL/dweight` into `dWeight` `[O, C, k, k]`, returns `dL/dx`.
    public static func lastBackward(dWeight: inout Tensor, dy: Tensor, x: Tensor, weight: Tensor) -> Tensor {
        let (g, n, s, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], kc = k * c
        precondition(dy.shape == [g, n, s, o] && dWeight.shape == weight.shape, "lastBackward: dy \(dy.shape), x \(x.shape), weight \(weight.shape)")
        let wl = lastTaps(weight)                                        // (k di, O, k dj, C)
        var dwl = Tensor(zeros: wl.shape)                                // (k di, O, k dj, C)
        var dx = Tensor(zeros: x.shape)                                  // (G, N, S, C)
        let chunks = plan(g: g, n: n, k: k, floatsPerSlice: s * kc)
        let capacity = max(1, chunks.map { $0.items * $0.inSlices }.max() ?? 1) * s * kc
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: capacity)     // (slices·S, kc)
        let dcols = UnsafeMutablePointer<Float>.allocate(capacity: capacity)    // (slices·S, kc)
        defer { cols.deallocate(); dcols.deallocate() }
        dwl.withUnsafeMutableBufferPointer { dwb in
            dx.withUnsafeMutableBufferPointer { dxb in
                for ch in chunks {
                    im2colLast(x.pointer, ch, n: n, s: s, c: c, k: k, cols: cols)
                    // Halo slices get contributions from the off-centre taps only: start them at zero.
                    if ch.hA < ch.nA { dcols.update(repeating: 0, count: (ch.nA - ch.hA) * s * kc) }
                    if ch.nB < ch.hB { (dcols + (ch.nB - ch.hA) * s * kc).update(repeating: 0, count: (ch.hB - ch.nB) * s * kc) }
                    let dy0 = dy.pointer + (ch.g0 * n + ch.nA) * s * o
                    for (i, t) in taps(ch, n: n, k: k).enumerated() {
                        let dyt = dy0 + t.out * s * o                    // (count·S, O)
                        // dW_di [O, kc] += dyᵀ [O, count·S] · cols [count·S, kc]
                        BLAS.gemm(transA: true, m: o, n: kc, k: t.count * s, a: dyt, lda: o, b: cols + t.input * s * kc, ldb: kc,
                                  beta: 1, c: dwb.baseAddress! + t.di * o * kc, ldc: kc)
                        // dcols [count·S, kc] (+)= dy [count·S, O] · W_di [O, kc]
                        BLAS.gemm(m: t.count * s, n: kc, k: o, a: dyt, lda: o, b: wl.pointer + t.di * o * kc, ldb: kc,
                                  beta: i == 0 ? 0 : 1, c: dcols + t.input * s * kc, ldc: kc)
                    }
                    col2imLast(dcols, ch, n: n, s: s, c: c, k: k, dx: dxb.baseAddress!)
                }
            }
        }
        addLastTaps(dwl, into: &dWeight)
        return dx
    }

    /// `[O, C, k, k] → [k (di), O, k (dj), C]`: tap row `di` is an `[O, (dj, c)]` matrix matching `im2colLast`.
    static func lastTaps(_ w: Tensor) -> Tensor {
        let (o, c, k) = (w.shape[0], w.shape[1], w.shape[2])
        var out = Tensor(uninitialized: [k, o, k, c])
        let src = w.pointer
        out.withUnsafeMutableBufferPointer { ob in
            let dst = ob.baseAddress!
            for oo in 0..<o { for ch in 0..<c { for di in 0..<k { for dj in 0..<k {
                dst[((di * o + oo) * k + dj) * c + ch] = src[((oo * c + ch) * k + di) * k + dj]
            } } } }
        }
        return out
    }

    /// `dW [O, C, k, k] += d [k, O, k, C]` (the adjoint of `lastTaps`).
    static func addLastTaps(_ d: Tensor, into dW: inout Tensor) {
        let (k, o, c) = (d.shape[0], d.shape[1], d.shape[3])
        let src = d.pointer
        dW.withUnsafeMutableBufferPointer { db in
            let dst = db.baseAddress!
            for oo in 0..<o { for ch in 0..<c { for di in 0..<k { for dj in 0..<k {
                dst[((oo * c + ch) * k + di) * k + dj] += src[((di * o + oo) * k + dj) * c + ch]
            } } } }
        }
    }

    /// Unfolds the chunk's slices of `x [G, N, S, C]` into `cols [slices·S, k·C]`, row `(slice, s)`, column
    /// `(dj, c)`: the `k` taps along S of one row are `k·C` contiguous floats of `x`.
    static func im2colLast(_ x: UnsafePointer<Float>, _ ch: Chunk, n: Int, s: Int, c: Int, k: Int, cols: UnsafeMutablePointer<Float>) {
        let p = k / 2, kc = k * c, plane = s * c
        for iu in 0..<(ch.items * ch.inSlices) {
            let src = x + ((ch.g0 + iu / ch.inSlices) * n + ch.hA + iu % ch.inSlices) * plane
            let base = cols + iu * s * kc
            for si in 0..<s {
                let dst = base + si * kc
                let j0 = max(0, p - si), j1 = min(k, s + p - si)       // taps dj that land inside S
                if j0 > 0 { dst.update(repeating: 0, count: j0 * c) }
                if j1 > j0 { (dst + j0 * c).update(from: src + (si + j0 - p) * c, count: (j1 - j0) * c) }
                if j1 < k { (dst + j1 * c).update(repeating: 0, count: (k - j1) * c) }
            }
        }
    }

    /// Folds `cols [slices·S, k·C]` back into `dx [G, N, S, C]`, accumulating (the adjoint of `im2colLast`).
    static func col2imLast(_ cols: UnsafePointer<Float>, _ ch: Chunk, n: Int, s: Int, c: Int, k: Int, dx: UnsafeMutablePointer<Float>) {
        let p = k / 2, kc = k * c, plane = s * c
        for iu in 0..<(ch.items * ch.inSlices) {
            let dst = dx + ((ch.g0 + iu / ch.inSlices) * n + ch.hA + iu % ch.inSlices) * plane
            let base = cols + iu * s * kc
            for si in 0..<s {
                let j0 = max(0, p - si), j1 = min(k, s + p - si)
                if j1 <= j0 { continue }
                let from = base + si * kc + j0 * c, to = dst + (si + j0 - p) * c
                for j in 0..<((j1 - j0) * c) { to[j] += from[j] }
            }
        }
    }

    // MARK: - channels on the middle axis: x [G, N, C, S] → y [G, N, O, S]

    /// `x [G, N, C, S] * weight [O, C, k, k] → [G, N, O, S]`:
    /// `y[g, n, o, s] = Σ_{c,di,dj} weight[o, c, di, dj] · x[g, n+di−k/2, c, s+dj−k/2]`.
    public static func middleForward(_ x: Tensor, weight: Tensor) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4 && weight.shape[1] == x.shape[2], "middleForward: x \(x.shape), weight \(weight.shape)")
        let (g, n, c, s) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], ck = c * k
        let wm = middleTaps(weight)                                      // (k di, O, C, k dj)
        var y = Tensor(uninitialized: [g, n, o, s])                      // (G, N, O, S)
        let chunks = plan(g: g, n: n, k: k, floatsPerSlice: s * ck)
        let maxIn = chunks.map { $0.items * $0.inSlices }.max() ?? 1, maxOut = chunks.map { $0.items * $0.outSlices }.max() ?? 1
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, ck * maxIn * s))    // (C·k, slices·S)
        let prod = UnsafeMutablePointer<Float>.allocate(capacity: max(1, o * maxOut * s))    // (O, slices·S)
        defer { cols.deallocate(); prod.deallocate() }
        y.withUnsafeMutableBufferPointer { yb in
            for ch in chunks {
                let ldIn = ch.items * ch.inSlices * s, ldOut = ch.items * ch.outSlices * s
                im2colMiddle(x.pointer, ch, n: n, c: c, s: s, k: k, cols: cols)
                for (i, t) in taps(ch, n: n, k: k).enumerated() {
                    // prod [O, count·S] (+)= W_di [O, C·k] · cols [C·k, count·S]
                    BLAS.gemm(m: o, n: t.count * s, k: ck, a: wm.pointer + t.di * o * ck, lda: ck, b: cols + t.input * s, ldb: ldIn,
                              beta: i == 0 ? 0 : 1, c: prod + t.out * s, ldc: ldOut)
                }
                // Each output slice's [O, S] block of prod moves into y.
                for ou in 0..<(ch.items * ch.outSlices) {
                    let dst = yb.baseAddress! + ((ch.g0 + ou / ch.outSlices) * n + ch.nA + ou % ch.outSlices) * o * s
                    for oo in 0..<o { (dst + oo * s).update(from: prod + oo * ldOut + ou * s, count: s) }
                }
            }
        }
        return y
    }

    /// Backward of `middleForward`: accumulates `dL/dweight` into `dWeight` `[O, C, k, k]`, returns `dL/dx`.
    public static func middleBackward(dWeight: inout Tensor, dy: Tensor, x: Tensor, weight: Tensor) -> Tensor {
        let (g, n, c, s) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = weight.shape[0], k = weight.shape[2], ck = c * k
        precondition(dy.shape == [g, n, o, s] && dWeight.shape == weight.shape, "middleBackward: dy \(dy.shape), x \(x.shape), weight \(weight.shape)")
        let wm = middleTaps(weight)                                      // (k di, O, C, k dj)
        var dwm = Tensor(zeros: wm.shape)                                // (k di, O, C, k dj)
        var dx = Tensor(zeros: x.shape)                                  // (G, N, C, S)
        let chunks = plan(g: g, n: n, k: k, floatsPerSlice: s * ck)
        let maxIn = chunks.map { $0.items * $0.inSlices }.max() ?? 1, maxOut = chunks.map { $0.items * $0.outSlices }.max() ?? 1
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, ck * maxIn * s))    // (C·k, slices·S)
        let dcols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, ck * maxIn * s))   // (C·k, slices·S)
        let dprod = UnsafeMutablePointer<Float>.allocate(capacity: max(1, o * maxOut * s))  // (O, slices·S)
        defer { cols.deallocate(); dcols.deallocate(); dprod.deallocate() }
        dwm.withUnsafeMutableBufferPointer { dwb in
            dx.withUnsafeMutableBufferPointer { dxb in
                for ch in chunks {
                    let ldIn = ch.items * ch.inSlices * s, ldOut = ch.items * ch.outSlices * s
                    // dprod [O, slices·S]: the output slices' [O, S] blocks of dy side by side
                    for ou in 0..<(ch.items * ch.outSlices) {
                        let src = dy.pointer + ((ch.g0 + ou / ch.outSlices) * n + ch.nA + ou % ch.outSlices) * o * s
                        for oo in 0..<o { (dprod + oo * ldOut + ou * s).update(from: src + oo * s, count: s) }
                    }
                    im2colMiddle(x.pointer, ch, n: n, c: c, s: s, k: k, cols: cols)
                    // Halo slices get contributions from the off-centre taps only: start them at zero.
                    if ch.hA < ch.nA || ch.nB < ch.hB {
                        for r in 0..<ck {
                            let row = dcols + r * ldIn
                            if ch.hA < ch.nA { row.update(repeating: 0, count: (ch.nA - ch.hA) * s) }
                            if ch.nB < ch.hB { (row + (ch.nB - ch.hA) * s).update(repeating: 0, count: (ch.hB - ch.nB) * s) }
                        }
                    }
                    for (i, t) in taps(ch, n: n, k: k).enumerated() {
                        let dpt = dprod + t.out * s                      // (O, count·S), ld ldOut
                        // dW_di [O, C·k] += dprod · colsᵀ
                        BLAS.gemm(transB: true, m: o, n: ck, k: t.count * s, a: dpt, lda: ldOut, b: cols + t.input * s, ldb: ldIn,
                                  beta: 1, c: dwb.baseAddress! + t.di * o * ck, ldc: ck)
                        // dcols [C·k, count·S] (+)= W_diᵀ [C·k, O] · dprod
                        BLAS.gemm(transA: true, m: ck, n: t.count * s, k: o, a: wm.pointer + t.di * o * ck, lda: ck, b: dpt, ldb: ldOut,
                                  beta: i == 0 ? 0 : 1, c: dcols + t.input * s, ldc: ldIn)
                    }
                    col2imMiddle(dcols, ch, n: n, c: c, s: s, k: k, dx: dxb.baseAddress!)
                }
            }
        }
        addMiddleTaps(dwm, into: &dWeight)
        return dx
    }

    /// `[O, C, k, k] → [k (di), O, C, k (dj)]`: tap row `di` is an `[O, (c, dj)]` matrix matching `im2colMiddle`.
    static func middleTaps(_ w: Tensor) -> Tensor {
        let (o, c, k) = (w.shape[0], w.shape[1], w.shape[2])
        var out = Tensor(uninitialized: [k, o, c, k])
        let src = w.pointer
        out.withUnsafeMutableBufferPointer { ob in
            let dst = ob.baseAddress!
            for oo in 0..<o { for ch in 0..<c { for di in 0..<k { for dj in 0..<k {
                dst[((di * o + oo) * c + ch) * k + dj] = src[((oo * c + ch) * k + di) * k + dj]
            } } } }
        }
        return out
    }

    /// `dW [O, C, k, k] += d [k, O, C, k]` (the adjoint of `middleTaps`).
    static func addMiddleTaps(_ d: Tensor, into dW: inout Tensor) {
        let (k, o, c) = (d.shape[0], d.shape[1], d.shape[2])
        let src = d.pointer
        dW.withUnsafeMutableBufferPointer { db in
            let dst = db.baseAddress!
            for oo in 0..<o { for ch in 0..<c { for di in 0..<k { for dj in 0..<k {
                dst[((oo * c + ch) * k + di) * k + dj] += src[((di * o + oo) * c + ch) * k + dj]
            } } } }
        }
    }

    /// Unfolds the chunk's slices of `x [G, N, C, S]` into `cols [C·k, slices·S]`, row `(c, dj)`, column
    /// `(slice, s)`: every run along S is a shifted contiguous copy.
    static func im2colMiddle(_ x: UnsafePointer<Float>, _ ch: Chunk, n: Int, c: Int, s: Int, k: Int, cols: UnsafeMutablePointer<Float>) {
        let p = k / 2, slices = ch.items * ch.inSlices, ld = slices * s
        for cc in 0..<c {
            for dj in 0..<k {
                let row = cols + (cc * k + dj) * ld
                let shift = dj - p, j0 = max(0, -shift), j1 = min(s, s - shift)
                for iu in 0..<slices {
                    let dst = row + iu * s
                    if j0 >= j1 { dst.update(repeating: 0, count: s); continue }
                    let src = x + (((ch.g0 + iu / ch.inSlices) * n + ch.hA + iu % ch.inSlices) * c + cc) * s
                    if j0 > 0 { dst.update(repeating: 0, count: j0) }
                    (dst + j0).update(from: src + j0 + shift, count: j1 - j0)
                    if j1 < s { (dst + j1).update(repeating: 0, count: s - j1) }
                }
            }
        }
    }

    /// Folds `cols [C·k, slices·S]` back into `dx [G, N, C, S]`, accumulating (the adjoint of `im2colMiddle`).
    static func col2imMiddle(_ cols: UnsafePointer<Float>, _ ch: Chunk, n: Int, c: Int, s: Int, k: Int, dx: UnsafeMutablePointer<Float>) {
        let p = k / 2, slices = ch.items * ch.inSlices, ld = slices * s
        for cc in 0..<c {
            for dj in 0..<k {
                let row = cols + (cc * k + dj) * ld
                let shift = dj - p, j0 = max(0, -shift), j1 = min(s, s - shift)
                if j0 >= j1 { continue }
                for iu in 0..<slices {
                    let to = dx + (((ch.g0 + iu / ch.inSlices) * n + ch.hA + iu % ch.inSlices) * c + cc) * s + shift
                    let from = row + iu * s
                    for j in j0..<j1 { to[j] += from[j] }
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
