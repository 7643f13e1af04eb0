import Foundation
import TensorCore

/// Per-token weights `w_t` of the generator's loss `mean(w_t · (ŷ − y)²)` (DESIGN.md, training objective).
///
/// For one dataset: the element-wise standard deviation (n−1 denominator) of the LoRA weights across that
/// dataset's checkpoints, averaged over each token's data elements (its r·w chunk values; padding and the
/// M/S border do not count), then normalised to mean 1 over the tokens. Tokens whose elements never vary
/// get weight 0 as long as some other token varies.
/// Degenerate cases, defined so training still has a usable objective: with a single checkpoint the spread
/// is undefined, and when every checkpoint is identical it is zero everywhere; both give weight 1 for every
/// token (plain MSE).
public enum LossWeights {
    /// One weight per token of `layout`, mean 1, from the checkpoints of one dataset.
    public static func perToken(checkpoints: [LoRAAdapter], layout: TokenLayout) throws -> [Float] {
        try ZooConsistency.check(checkpoints)
        for c in checkpoints { try layout.check(c) }
        let k = checkpoints.count
        guard k >= 2 else { return [Float](repeating: 1, count: layout.count) }
        let r = layout.rank
        var raw = [Double](repeating: 0, count: layout.count) // [T]
        for s in layout.sites {
            // A: chunk columns start..<start+w of [r, in]. B: columns of Bᵀ are rows of B [out, r], so a chunk
            // is the contiguous rows start..<start+w of B.
            let stdA = elementStd(checkpoints.map { $0.weights[s.site]!.a }) // [r, in]
            let stdB = elementStd(checkpoints.map { $0.weights[s.site]!.b }) // [out, r]
            stdA.withUnsafeBufferPointer { sa in
                for t in s.tokens(.A) {
                    let tok = layout.tokens[t]
                    var sum = 0.0
                    for i in 0..<r {
                        let row = sa.baseAddress! + i * s.inFeatures + tok.start
                        for j in 0..<tok.width { sum += row[j] }
                    }
                    raw[t] = sum / Double(r * tok.width)
                }
            }
            stdB.withUnsafeBufferPointer { sb in
                for t in s.tokens(.B) {
                    let tok = layout.tokens[t]
                    let p = sb.baseAddress! + tok.start * r
                    var sum = 0.0
                    for e in 0..<(tok.width * r) { sum += p[e] }
                    raw[t] = sum / Double(r * tok.width)
                }
            }
        }
        let mean = raw.reduce(0, +) / Double(raw.count)
        guard mean > 0 else { return [Float](repeating: 1, count: layout.count) }
        return raw.map { Float($0 / mean) }
    }

    /// The weights used for training over several datasets: the element-wise mean of their per-token weights
    /// (each of mean 1, so the result has mean 1 too).
    public static func average(_ perDataset: [[Float]]) throws -> [Float] {
        guard let first = perDataset.first else { throw DNDError("loss weights: no datasets given; the zoo needs at least one dataset with checkpoints") }
        var sum = [Double](repeating: 0, count: first.count)
        for (d, w) in perDataset.enumerated() {
            guard w.count == first.count else {
                throw DNDError("loss weights: dataset \(d) has \(w.count) token weights but dataset 0 has \(first.count); all datasets must use one token layout")
            }
            for t in 0..<w.count { sum[t] += Double(w[t]) }
        }
        return sum.map { Float($0 / Double(perDataset.count)) }
    }

    /// Element-wise standard deviation (n−1) across equally shaped tensors, in Double: `[count]` of the shape.
    static func elementStd(_ xs: [Tensor]) -> [Double] {
        let n = xs[0].count, k = Double(xs.count)
        var mean = [Double](repeating: 0, count: n), ss = [Double](repeating: 0, count: n)
        mean.withUnsafeMutableBufferPointer { mb in
            let m = mb.baseAddress!
            for x in xs { x.withUnsafeBufferPointer { xb in let p = xb.baseAddress!; for e in 0..<n { m[e] += Double(p[e]) } } }
            for e in 0..<n { m[e] /= k }
            ss.withUnsafeMutableBufferPointer { sb in
                let s = sb.baseAddress!
                for x in xs {
                    x.withUnsafeBufferPointer { xb in
                        let p = xb.baseAddress!
                        for e in 0..<n { let d = Double(p[e]) - m[e]; s[e] += d * d }
                    }
                }
                for e in 0..<n { s[e] = (s[e] / (k - 1)).squareRoot() }
            }
        }
        return ss
    }
}
