import Foundation

/// 2-D cross-correlation, stride 1, zero "same" padding `k/2`, odd square kernel, by im2col + GEMM.
///
/// Shapes: input `X [B, C, S1, S2]`, weight `K [O, C, k, k]`, bias `[O]`, output `[B, O, S1, S2]`.
/// A group of batch items is unfolded into `cols [C·k·k, G·S1·S2]` and multiplied once by `K [O, C·k·k]`.
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

    /// Unfolds items `b0..<b0+g` of `x` into `cols [C·k·k, g·S1·S2]` (row = (c, di, dj), column = (item, i, j)).
    public static func im2col(_ x: UnsafePointer<Float>, b0: Int, g: Int, c: Int, s1: Int, s2: Int, k: Int,
                       cols: UnsafeMutablePointer<Float>) {
        let plane = s1 * s2, pad = k / 2, ld = g * plane
        for ch in 0..<c {
            for di in 0..<k {
                for dj in 0..<k {
                    let row = cols + ((ch * k + di) * k + dj) * ld
                    let dy = di - pad, dx = dj - pad
                    let j0 = max(0, -dx), j1 = min(s2, s2 - dx)
                    for item in 0..<g {
                        let src = x + ((b0 + item) * c + ch) * plane
                        let dst = row + item * plane
                        for i in 0..<s1 {
                            let si = i + dy
                            let out = dst + i * s2
                            if si < 0 || si >= s1 || j0 >= j1 {
                                out.update(repeating: 0, count: s2)
                                continue
                            }
                            if j0 > 0 { out.update(repeating: 0, count: j0) }
                            (out + j0).update(from: src + si * s2 + j0 + dx, count: j1 - j0)
                            if j1 < s2 { (out + j1).update(repeating: 0, count: s2 - j1) }
                        }
                    }
                }
            }
        }
    }

    /// Folds `cols` back, accumulating into `dx` (the adjoint of `im2col`).
    public static func col2im(_ cols: UnsafePointer<Float>, b0: Int, g: Int, c: Int, s1: Int, s2: Int, k: Int,
                       dx: UnsafeMutablePointer<Float>) {
        let plane = s1 * s2, pad = k / 2, ld = g * plane
        // Channels write disjoint planes of dx, so they can run in parallel.
        for ch in 0..<c {
            for di in 0..<k {
                for dj in 0..<k {
                    let row = cols + ((ch * k + di) * k + dj) * ld
                    let dy = di - pad, dxo = dj - pad
                    let j0 = max(0, -dxo), j1 = min(s2, s2 - dxo)
                    if j0 >= j1 { continue }
                    for item in 0..<g {
                        let dst = dx + ((b0 + item) * c + ch) * plane
                        let src = row + item * plane
                        for i in 0..<s1 {
                            let si = i + dy
                            if si < 0 || si >= s1 { continue }
                            let d = dst + si * s2 + dxo, s = src + i * s2
                            for j in j0..<j1 { d[j] += s[j] }
                        }
                    }
                }
            }
        }
    }

    /// `[B, C, S1, S2] * [O, C, k, k] (+ bias [O]) → [B, O, S1, S2]`.
    public static func forward(input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let d = dims(input, weight)
        let plane = d.s1 * d.s2, rows = d.c * d.k * d.k
        var out = Tensor(uninitialized: [d.b, d.o, d.s1, d.s2])
        if let bias { precondition(bias.shape == [d.o], "conv2d bias must be [\(d.o)], got \(bias.shape)") }
        let g = groupSize(b: d.b, rows: rows, plane: plane)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, rows * g * plane))
        let prod = UnsafeMutablePointer<Float>.allocate(capacity: max(1, d.o * g * plane))
        defer { cols.deallocate(); prod.deallocate() }
        out.withUnsafeMutableBufferPointer { ob in
            let op = ob.baseAddress!
            var b0 = 0
            while b0 < d.b {
                let gg = min(g, d.b - b0)
                im2col(input.pointer, b0: b0, g: gg, c: d.c, s1: d.s1, s2: d.s2, k: d.k, cols: cols)
                if gg == 1 {
                    // out[b0] [O, plane] = K [O, rows] · cols [rows, plane], written in place
                    let dst = op + b0 * d.o * plane
                    BLAS.gemm(m: d.o, n: plane, k: rows, a: weight.pointer, lda: rows, b: cols, ldb: plane, c: dst, ldc: plane)
                    if let bias { for o in 0..<d.o { let bv = bias.pointer[o], r = dst + o * plane; for j in 0..<plane { r[j] += bv } } }
                    b0 += 1
                    continue
                }
                // prod [O, gg·plane] = K [O, rows] · cols [rows, gg·plane]
                BLAS.gemm(m: d.o, n: gg * plane, k: rows, a: weight.pointer, lda: rows, b: cols, ldb: gg * plane,
                          c: prod, ldc: gg * plane)
                for item in 0..<gg {
                    for o in 0..<d.o {
                        let dst = op + ((b0 + item) * d.o + o) * plane
                        let src = prod + o * gg * plane + item * plane
                        if let bias {
                            let bv = bias.pointer[o]
                            for j in 0..<plane { dst[j] = src[j] + bv }
                        } else {
                            dst.update(from: src, count: plane)
                        }
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
        let plane = d.s1 * d.s2, rows = d.c * d.k * d.k
        let g = groupSize(b: d.b, rows: rows, plane: plane)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: max(1, rows * g * plane))
        let dOut = UnsafeMutablePointer<Float>.allocate(capacity: max(1, d.o * g * plane))
        defer { cols.deallocate(); dOut.deallocate() }
        let dx: Tensor? = needInputGrad ? Tensor(zeros: input.shape) : nil
        let dxPointer = dx?.storage.pointer  // fresh, uniquely owned storage
        gradWeight.withUnsafeMutableBufferPointer { gw in
            var b0 = 0
            while b0 < d.b {
                let gg = min(g, d.b - b0)
                // dOut [O, gg·plane] gathered from gradOutput [gg, O, plane]
                for item in 0..<gg {
                    for o in 0..<d.o {
                        (dOut + o * gg * plane + item * plane)
                            .update(from: gradOutput.pointer + ((b0 + item) * d.o + o) * plane, count: plane)
                    }
                }
                if let gradBias {
                    for o in 0..<d.o {
                        var s: Float = 0
                        let row = dOut + o * gg * plane
                        for j in 0..<(gg * plane) { s += row[j] }
                        gradBias[o] += s
                    }
                }
                im2col(input.pointer, b0: b0, g: gg, c: d.c, s1: d.s1, s2: d.s2, k: d.k, cols: cols)
                // dK [O, rows] += dOut [O, gg·plane] · colsᵀ
                BLAS.gemm(transB: true, m: d.o, n: rows, k: gg * plane, a: dOut, lda: gg * plane, b: cols,
                          ldb: gg * plane, beta: 1, c: gw.baseAddress!, ldc: rows)
                if let dxPointer {
                    // dCols [rows, gg·plane] = Kᵀ · dOut, reusing `cols`
                    BLAS.gemm(transA: true, m: rows, n: gg * plane, k: d.o, a: weight.pointer, lda: rows, b: dOut,
                              ldb: gg * plane, c: cols, ldc: gg * plane)
                    col2im(cols, b0: b0, g: gg, c: d.c, s1: d.s1, s2: d.s2, k: d.k, dx: dxPointer)
                }
                b0 += gg
            }
        }
        return dx
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
