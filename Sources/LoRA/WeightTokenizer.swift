import Foundation
import TensorCore

/// DnD weight tokenization (DESIGN.md, "Weight tokenization (exact)") and its exact inverse.
///
/// A chunk `c` `[r, w]` of `lora_A` `[r, in]` or of `lora_B`ᵀ `[r, out]` becomes a token `[r+2, cw+2]`:
/// `[0:r, 0:w] = (c − m)/s` (0 where s = 0), `[0:r, w:cw] = 0`, rows r and r+1 hold `M, S, M, S, …` by column
/// parity, column cw of rows 0..<r holds `M` and column cw+1 holds `S`, with `M = 8m`,
/// `S = ln(0.9s + 0.1) + 1.6`, `m` the mean and `s` the n−1 standard deviation of `c` (0 when n = 1).
/// Statistics and the inverse are computed in Double so that a round trip is exact to Float rounding.
public enum WeightTokenizer {
    /// Tokens `[T, r+2, cw+2]` of `adapter` and the layout they follow.
    public static func tokenize(_ adapter: LoRAAdapter, chunkWidth: Int) throws -> (tokens: Tensor, layout: TokenLayout) {
        let layout = try TokenLayout(adapter: adapter, chunkWidth: chunkWidth)
        return (try tokenize(adapter, layout: layout), layout)
    }

    /// Tokens `[T, r+2, cw+2]` of `adapter` in a given layout (the adapter's sites and shapes must match it).
    public static func tokenize(_ adapter: LoRAAdapter, layout: TokenLayout) throws -> Tensor {
        try layout.check(adapter)
        var out = Tensor(zeros: layout.shape) // [T, r+2, cw+2]
        out.withUnsafeMutableBufferPointer { encode(adapter, layout: layout, into: $0.baseAddress!) }
        return out
    }

    /// Training targets: the tokens of every checkpoint, `[K, T, r+2, cw+2]`, in one layout.
    public static func tokenize(_ checkpoints: [LoRAAdapter], layout: TokenLayout) throws -> Tensor {
        guard !checkpoints.isEmpty else { throw DNDError("tokenize: no checkpoints given; a dataset needs at least one LoRA checkpoint") }
        for c in checkpoints { try layout.check(c) }
        var out = Tensor(zeros: [checkpoints.count] + layout.shape) // [K, T, r+2, cw+2]
        let step = layout.shape.reduce(1, *)
        out.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            Parallel.forEach(checkpoints.count) { k in encode(checkpoints[k], layout: layout, into: base + k * step) }
        }
        return out
    }

    /// Rebuilds the adapter from tokens `[T, r+2, cw+2]` and their layout alone. `config` supplies alpha, rsLoRA
    /// and the base model; its rank must be the layout's, its `target_modules` are set to the layout's modules.
    /// Tokens need not be well-formed (generator output): the row/column copies of M and S are averaged and a
    /// negative s is clamped to 0. Non-finite tokens, or tokens that decode beyond Float range, are an error.
    public static func detokenize(_ tokens: Tensor, layout: TokenLayout, config: LoRAConfig) throws -> LoRAAdapter {
        guard tokens.shape == layout.shape else {
            throw DNDError("tokens have shape \(tokens.shape) but the token layout (rank \(layout.rank), chunk width \(layout.chunkWidth), \(layout.count) tokens) expects \(layout.shape); the tokens and the layout come from different configurations")
        }
        guard config.r == layout.rank else {
            throw DNDError("adapter config has r = \(config.r) but the token layout's rank is \(layout.rank); use the config the generator was trained with")
        }
        var cfg = config
        cfg.targetModules = layout.modules.map(\.rawValue)
        let r = layout.rank, cw = layout.chunkWidth
        let tokenSize = (r + 2) * (cw + 2)
        var weights: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        try tokens.withUnsafeBufferPointer { tb in
            let tp = tb.baseAddress! // [T, r+2, cw+2]
            // The chunks of one matrix, `[r, ld]`, back from their tokens.
            func decode(_ matrix: LoRAMatrix, of s: TokenLayout.SiteShape, ld: Int) throws -> Tensor {
                var out = Tensor(zeros: [r, ld]) // [r, in] for A, [r, out] for Bᵀ
                try out.withUnsafeMutableBufferPointer { db in
                    for t in s.tokens(matrix) {
                        let tok = layout.tokens[t]
                        switch decodeChunk(tp + t * tokenSize, r: r, w: tok.width, cw: cw, into: db.baseAddress! + tok.start, ld: ld) {
                        case .ok: break
                        case .nonFinite:
                            throw DNDError("tokens: token \(t) (\(tok.key), chunk \(tok.chunk)) holds NaN or infinite values; the generator output is unusable (retrain the generator or check its input)")
                        case let .outOfRange(m, sd):
                            throw DNDError("tokens: token \(t) (\(tok.key), chunk \(tok.chunk)) decodes to mean \(m), spread \(sd), beyond Float32 range; the generator output is unusable (retrain the generator or check its input)")
                        }
                    }
                }
                return out
            }
            for s in layout.sites {
                let a = try decode(.A, of: s, ld: s.inFeatures)   // [r, in]
                let bt = try decode(.B, of: s, ld: s.outFeatures) // [r, out]
                weights[s.site] = (a, bt.transposed)              // B [out, r]
            }
        }
        let adapter = LoRAAdapter(config: cfg, weights: weights)
        try adapter.validate(origin: "detokenized adapter")
        return adapter
    }

    // MARK: kernels

    /// Writes every token of `adapter` into `out` `[T, r+2, cw+2]` (zeroed). The adapter matches `layout`.
    static func encode(_ adapter: LoRAAdapter, layout: TokenLayout, into out: UnsafeMutablePointer<Float>) {
        let r = layout.rank, cw = layout.chunkWidth
        let tokenSize = (r + 2) * (cw + 2)
        for s in layout.sites {
            let w = adapter.weights[s.site]!
            let bt = w.b.transposed // [r, out]
            for (matrix, src, ld) in [(LoRAMatrix.A, w.a, s.inFeatures), (LoRAMatrix.B, bt, s.outFeatures)] {
                src.withUnsafeBufferPointer { sb in
                    for t in s.tokens(matrix) {
                        let tok = layout.tokens[t]
                        encodeChunk(sb.baseAddress! + tok.start, ld: ld, r: r, w: tok.width, cw: cw, into: out + t * tokenSize)
                    }
                }
            }
        }
    }

    /// One chunk `src[i·ld + j]`, i < r, j < w, into a zeroed token `tok` `[r+2, cw+2]`.
    @inline(__always)
    static func encodeChunk(_ src: UnsafePointer<Float>, ld: Int, r: Int, w: Int, cw: Int, into tok: UnsafeMutablePointer<Float>) {
        let n = r * w
        let first = src[0]
        var sum = 0.0
        var constant = true
        for i in 0..<r {
            let row = src + i * ld
            for j in 0..<w {
                sum += Double(row[j])
                constant = constant && row[j] == first
            }
        }
        // A constant chunk has s = 0 exactly; its mean is its value (a Double sum could be off by an ulp).
        let m = constant ? Double(first) : sum / Double(n)
        var s = 0.0
        if !constant && n > 1 {
            var ss = 0.0
            for i in 0..<r {
                let row = src + i * ld
                for j in 0..<w { let d = Double(row[j]) - m; ss += d * d }
            }
            s = (ss / Double(n - 1)).squareRoot()
        }
        let ld2 = cw + 2
        if s > 0 {
            for i in 0..<r {
                let row = src + i * ld, dst = tok + i * ld2
                for j in 0..<w { dst[j] = Float((Double(row[j]) - m) / s) }
            }
        }
        let bigM = Float(8 * m)
        let bigS = Float(log(0.9 * s + 0.1) + 1.6)
        for i in 0..<r { tok[i * ld2 + cw] = bigM; tok[i * ld2 + cw + 1] = bigS }
        for i in r..<(r + 2) {
            let dst = tok + i * ld2
            for j in 0..<ld2 { dst[j] = j % 2 == 0 ? bigM : bigS }
        }
    }

    enum ChunkResult { case ok, nonFinite, outOfRange(Double, Double) }

    /// The inverse of `encodeChunk`: token `tok` `[r+2, cw+2]` into `dst[i·ld + j]`, i < r, j < w.
    @inline(__always)
    static func decodeChunk(_ tok: UnsafePointer<Float>, r: Int, w: Int, cw: Int, into dst: UnsafeMutablePointer<Float>, ld: Int) -> ChunkResult {
        let ld2 = cw + 2
        var sumM = 0.0, sumS = 0.0, nM = 0, nS = 0
        for i in r..<(r + 2) {
            let row = tok + i * ld2
            for j in 0..<ld2 {
                if j % 2 == 0 { sumM += Double(row[j]); nM += 1 } else { sumS += Double(row[j]); nS += 1 }
            }
        }
        for i in 0..<r { sumM += Double(tok[i * ld2 + cw]); sumS += Double(tok[i * ld2 + cw + 1]) }
        nM += r; nS += r
        let m = sumM / Double(nM) / 8
        let s = max(0, (exp(sumS / Double(nS) - 1.6) - 0.1) / 0.9)
        guard m.isFinite, sumS.isFinite else { return .nonFinite }
        guard s.isFinite else { return .outOfRange(m, s) }
        var finite = true, inRange = true
        let limit = Double(Float.greatestFiniteMagnitude)
        for i in 0..<r {
            let src = tok + i * ld2, row = dst + i * ld
            for j in 0..<w {
                let z = Double(src[j])
                let v = z * s + m
                finite = finite && z.isFinite
                inRange = inRange && abs(v) <= limit
                row[j] = Float(v)
            }
        }
        if !finite { return .nonFinite }
        if !inRange { return .outOfRange(m, s) }
        return .ok
    }
}
