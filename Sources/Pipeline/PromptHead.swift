import Foundation
import LoRA
import TensorCore

/// The linear part of a generator (`dnd train` setting `head: ridge`): kernel ridge regression from a condition's mean
/// prompt embedding to the deviation of its dataset's adapter from the zoo's mean, fitted in closed form on the zoo.
///
/// Measured on SmolLM2 (README "The generator on a real model"): the hyper-convolutional decoder alone reaches about
/// half of each training dataset's residual (cosine 0.5–0.57) and generalizes to held-out datasets at 28% mean accuracy.
/// The suite's datasets are (task × answer format), and a mean Sentence-BERT embedding is close to additive in the
/// two, so a held-out combination whose task and format were each seen lies near the affine span of the zoo's
/// embeddings; a linear map from embeddings to adapters carries the composition over (45% on the same held-out
/// datasets, the oracle best zoo LoRA 49%). The decoder then learns what the head leaves (its targets are the
/// residual after the head), so with a vanishing ridge it adds little; both are kept so that a zoo whose structure
/// is not linear still has the decoder.
///
/// With `n` datasets, features `X` `[n, H]` (each dataset's mean pooled prompt embedding), `X̄` their mean, `Xc = X − X̄`,
/// `K = Xc·Xcᵀ` and `Yc` the datasets' mean residual adapters (centred: the zoo mean is the mean of the datasets'
/// means), the head stores `P = (K + λ·tr(K)/n·I)⁻¹·Xc` `[n, H]` and `Yc` per matrix `[n, rows, cols]`; for a
/// condition with mean embedding `f` it adds `Σᵢ αᵢ·Ycᵢ`, `α = P·(f − X̄)`. For a zoo dataset's own feature and a small
/// λ that is its residual (exactly at λ → 0 when the features are linearly independent).
public struct PromptHead: @unchecked Sendable, Equatable {
    /// `X̄` `[H]`.
    public var featureMean: Tensor
    /// `P` `[n, H]`.
    public var projection: Tensor
    /// `Yc` per PEFT key of every predicted matrix: `[n, rows, cols]`.
    public var coefficients: [String: Tensor]

    /// Default relative ridge λ (measured: 1e-4 and 1e-2 gave the same held-out accuracy within noise; 1 shrinks too much).
    public static let defaultRidge: Float = 1e-3

    public init(featureMean: Tensor, projection: Tensor, coefficients: [String: Tensor]) {
        self.featureMean = featureMean; self.projection = projection; self.coefficients = coefficients
    }

    /// The number of zoo datasets the head interpolates between.
    public var datasets: Int { projection.shape[0] }

    /// The feature of a condition: the mean of its prompts' pooled embeddings `[P, H]` (summed in Double).
    public static func feature(_ pooled: Tensor) -> Tensor {
        precondition(pooled.rank == 2 && pooled.shape[0] >= 1, "pooled embeddings [P, H], got \(pooled.shape)")
        let (rows, h) = (pooled.shape[0], pooled.shape[1]), p = pooled.pointer
        var sum = [Double](repeating: 0, count: h)
        for r in 0..<rows { for j in 0..<h { sum[j] += Double(p[r * h + j]) } }
        return Tensor(shape: [h], data: sum.map { Float($0 / Double(rows)) })
    }

    /// Fits the head on datasets' features (`[H]` each) and their centred mean residuals (one adapter per dataset,
    /// `keys` the PEFT keys predicted); nil when fewer than two datasets or their features do not vary.
    public static func fit(features: [Tensor], residuals: [LoRAAdapter], keys: [String], ridge: Float) throws -> PromptHead? {
        precondition(features.count == residuals.count, "one feature per dataset")
        let n = features.count
        guard n >= 2, let h = features.first?.count else { return nil }
        precondition(ridge > 0 && ridge.isFinite, "head ridge \(ridge): TrainSettings.validate refuses it")
        for (i, f) in features.enumerated() where f.count != h || f.hasNonFinite {
            throw DNDError("prompt head: the feature of dataset \(i + 1) has \(f.count) values (expected \(h)) or is not finite; re-encode its prompts")
        }
        // Centred features (Double for the n × n solve; n is the number of datasets, off the hot path).
        var mean = [Double](repeating: 0, count: h)
        for f in features { let p = f.pointer; for j in 0..<h { mean[j] += Double(p[j]) / Double(n) } }
        let xc: [[Double]] = features.map { f in let p = f.pointer; return (0..<h).map { Double(p[$0]) - mean[$0] } }
        var k = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n { for j in 0...i { var s = 0.0; for t in 0..<h { s += xc[i][t] * xc[j][t] }; k[i][j] = s; k[j][i] = s } }
        let trace = (0..<n).reduce(0.0) { $0 + k[$1][$1] }
        guard trace > 0 else { return nil }   // every dataset has the same feature: nothing to regress on
        for i in 0..<n { k[i][i] += Double(ridge) * trace / Double(n) }
        let p = try solve(k, xc)   // [n][h]
        var coefficients: [String: Tensor] = [:]
        for key in keys {
            let mats = try residuals.enumerated().map { (i, r) -> Tensor in
                guard let m = r.matrix(key: key) else { throw DNDError("prompt head: dataset \(i + 1)'s adapter has no \(key)") }
                return m
            }
            let shape = mats[0].shape
            coefficients[key] = Tensor.concatenate(mats.map { $0.reshaped([1] + shape) })
        }
        return PromptHead(featureMean: Tensor(shape: [h], data: mean.map(Float.init)),
                          projection: Tensor(shape: [n, h], data: p.flatMap { $0.map(Float.init) }), coefficients: coefficients)
    }

    /// `α = P·(f − X̄)` `[n]`, in Double: `P` of a small ridge has large entries that cancel, and a float dot product
    /// would leave rounding of 1e-5 relative in the adapter (n·H multiply-adds: off the hot path).
    public func weights(_ feature: Tensor) -> Tensor {
        let h = featureMean.count
        precondition(feature.count == h, "feature of \(feature.count) values for a head of \(h)")
        let f = feature.pointer, m = featureMean.pointer, p = projection.pointer
        return Tensor(shape: [datasets], data: (0..<datasets).map { i in
            var s = 0.0
            for j in 0..<h { s += Double(p[i * h + j]) * (Double(f[j]) - Double(m[j])) }
            return Float(s)
        })
    }

    /// The head's part of the adapter for a condition with mean embedding `feature`: PEFT key → matrix.
    public func delta(_ feature: Tensor) -> [String: Tensor] {
        let a = weights(feature).reshaped([1, datasets])
        return coefficients.mapValues { c in
            let shape = Array(c.shape.dropFirst())
            return a.matmul(c.reshaped([datasets, c.count / datasets])).reshaped(shape)   // [1, n]·[n, rows·cols]
        }
    }

    /// Solves `A·X = B` for symmetric positive definite `A` `[n][n]` (Cholesky), `B` `[n][m]`.
    static func solve(_ a: [[Double]], _ b: [[Double]]) throws -> [[Double]] {
        let n = a.count
        var l = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i][j]
                for t in 0..<j { s -= l[i][t] * l[j][t] }
                if i == j {
                    guard s > 0 else { throw DNDError("prompt head: the datasets' feature kernel is not positive definite; raise head_ridge") }
                    l[i][i] = s.squareRoot()
                } else {
                    l[i][j] = s / l[j][j]
                }
            }
        }
        let m = b.first?.count ?? 0
        var x = b
        for c in 0..<m {
            for i in 0..<n { var s = x[i][c]; for t in 0..<i { s -= l[i][t] * x[t][c] }; x[i][c] = s / l[i][i] }
            for i in stride(from: n - 1, through: 0, by: -1) { var s = x[i][c]; for t in (i + 1)..<n { s -= l[t][i] * x[t][c] }; x[i][c] = s / l[i][i] }
        }
        return x
    }
}

extension LoRAAdapter {
    /// The matrix of a PEFT key (`….lora_A.weight` or `….lora_B.weight`), nil when the adapter has no such site.
    func matrix(key: String) -> Tensor? {
        guard let (site, matrix) = LoRASite.parse(key: key), let w = weights[site] else { return nil }
        return matrix == "A" ? w.a : w.b
    }
}
