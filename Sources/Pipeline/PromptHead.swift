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
/// With `n` datasets, features `X` `[n, F]` (each dataset's feature, below, from its training prompts), `X̄` their mean, `Xc = X − X̄`,
/// `K = Xc·Xcᵀ` and `Yc` the datasets' mean residual adapters (centred: the zoo mean is the mean of the datasets'
/// means), the head stores `P = (K + λ·tr(K)/n·I)⁻¹·Xc` `[n, F]` and `Yc` per matrix `[n, rows, cols]`; for a
/// condition with feature `f` it adds `Σᵢ αᵢ·Ycᵢ`, `α = P·(f − X̄)`. For a zoo dataset's own feature and a small
/// λ that is its residual (exactly at λ → 0 when the features are linearly independent).
///
/// A condition's feature is `Feature.prompts` (the mean pooled embedding, `[H]`) or `Feature.sentences` (that, followed
/// by the mean over prompts of the mean pooled embedding of each prompt's sentences, `[2H]`): a prompt's question
/// sentence ("What is the capital of …?") and its format sentence ("Answer as JSON.") then count apart, so that a
/// long question does not drown the format's direction (measured on SmolLM2's suite, 3 seeds: 46.9% against 41.9%
/// held-out, better in 9 runs of 9; README "The generator on a real model").
public struct PromptHead: @unchecked Sendable, Equatable {
    /// What a condition's feature is made of (`dnd train` setting `head_feature`).
    public enum Feature: String, Codable, Sendable, CaseIterable {
        /// The mean of the prompts' pooled embeddings, `[H]`.
        case prompts
        /// The mean pooled embedding followed by the mean over prompts of each prompt's mean sentence embedding, `[2H]`.
        case sentences

        /// Values of the feature for an encoder of `hidden` units.
        public func width(hidden: Int) -> Int { self == .prompts ? hidden : 2 * hidden }
    }

    /// What the head's feature is made of.
    public var kind: Feature
    /// `X̄` `[F]`.
    public var featureMean: Tensor
    /// `P` `[n, F]`.
    public var projection: Tensor
    /// `Yc` per PEFT key of every predicted matrix: `[n, rows, cols]`.
    public var coefficients: [String: Tensor]

    /// Default relative ridge λ (measured: 1e-4 and 1e-2 gave the same held-out accuracy within noise; 1 shrinks too much).
    public static let defaultRidge: Float = 1e-3

    public init(kind: Feature = .prompts, featureMean: Tensor, projection: Tensor, coefficients: [String: Tensor]) {
        self.kind = kind; self.featureMean = featureMean; self.projection = projection; self.coefficients = coefficients
    }

    /// The number of zoo datasets the head interpolates between.
    public var datasets: Int { projection.shape[0] }

    /// The mean of the rows of `pooled` `[P, H]` (summed in Double): the `prompts` feature of a condition.
    public static func feature(_ pooled: Tensor) -> Tensor {
        precondition(pooled.rank == 2 && pooled.shape[0] >= 1, "pooled embeddings [P, H], got \(pooled.shape)")
        let (rows, h) = (pooled.shape[0], pooled.shape[1]), p = pooled.pointer
        var sum = [Double](repeating: 0, count: h)
        for r in 0..<rows { for j in 0..<h { sum[j] += Double(p[r * h + j]) } }
        return Tensor(shape: [h], data: sum.map { Float($0 / Double(rows)) })
    }

    /// The feature of a condition of `kind`: from its prompts' pooled embeddings `pooled` `[P, H]` and, for
    /// `sentences`, their mean sentence embeddings `sentences` `[P, H]` (`sentenceMeans`).
    public static func feature(_ kind: Feature, pooled: Tensor, sentences: Tensor?) -> Tensor {
        switch kind {
        case .prompts:
            return feature(pooled)
        case .sentences:
            guard let sentences else { preconditionFailure("a sentences feature needs the prompts' mean sentence embeddings") }
            precondition(sentences.shape == pooled.shape, "sentence embeddings \(sentences.shape) for pooled \(pooled.shape)")
            return Tensor.concatenate([feature(pooled), feature(sentences)])
        }
    }

    /// The feature of a condition of `kind` whose prompts are `prompts` (`pooled` their pooled embeddings); `embed`
    /// gives the pooled embeddings `[n, H]` of texts, and is called once, for the sentences, when the kind needs them.
    public static func feature(_ kind: Feature, prompts: [String], pooled: Tensor, embed: ([String]) throws -> Tensor) throws -> Tensor {
        feature(kind, pooled: pooled, sentences: kind == .sentences ? try sentenceMeans(prompts, pooled: pooled, embed: embed) : nil)
    }

    /// The sentences of a prompt: the text trimmed of white space, split after `.`, `?` or `!` followed by white
    /// space (the separating white space dropped); the whole trimmed text when it has no such break. White space is
    /// Unicode's White_Space property (dnd_torch's `sentences` uses the same set).
    public static func sentences(_ prompt: String) -> [String] {
        let scalars = Array(prompt.unicodeScalars)
        func space(_ i: Int) -> Bool { scalars[i].properties.isWhitespace }
        var lo = 0, hi = scalars.count
        while lo < hi && space(lo) { lo += 1 }
        while hi > lo && space(hi - 1) { hi -= 1 }
        var out: [String] = [], start = lo, i = lo
        func text(_ a: Int, _ b: Int) -> String { var v = String.UnicodeScalarView(); v.append(contentsOf: scalars[a..<b]); return String(v) }
        while i < hi {
            if i > lo, "?!.".unicodeScalars.contains(scalars[i - 1]), space(i) {
                var j = i
                while j < hi && space(j) { j += 1 }
                out.append(text(start, i))
                start = j; i = j
            } else {
                i += 1
            }
        }
        if start < hi { out.append(text(start, hi)) }
        return out.isEmpty ? [text(lo, hi)] : out
    }

    /// Each prompt's mean sentence embedding `[P, H]` (summed in Double): `embed` gives the pooled embeddings `[n, H]`
    /// of the sentences, encoded in one call; a prompt that is one sentence as it stands keeps its `pooled` row.
    public static func sentenceMeans(_ prompts: [String], pooled: Tensor, embed: ([String]) throws -> Tensor) throws -> Tensor {
        precondition(pooled.rank == 2 && pooled.shape[0] == prompts.count, "pooled embeddings [\(prompts.count), H], got \(pooled.shape)")
        let h = pooled.shape[1]
        let split = prompts.map { p -> [String]? in let s = sentences(p); return s == [p] ? nil : s }
        let texts = split.compactMap { $0 }.flatMap { $0 }
        let encoded = texts.isEmpty ? nil : try embed(texts)
        if let e = encoded {
            guard e.rank == 2, e.shape == [texts.count, h] else {
                throw DNDError("sentence embeddings \(e.shape) for \(texts.count) sentences of \(h) features")
            }
        }
        var next = 0
        return Tensor.stack(split.enumerated().map { r, parts in
            guard let parts else { return pooled.row(r) }
            defer { next += parts.count }
            return feature(encoded!.slice(next..<(next + parts.count)))   // the mean of the prompt's sentences
        })
    }

    /// Fits the head on datasets' features (`[F]` each, of `kind`) and their centred mean residuals (one adapter per
    /// dataset, `keys` the PEFT keys predicted); nil when fewer than two datasets or their features do not vary.
    public static func fit(features: [Tensor], kind: Feature = .prompts, residuals: [LoRAAdapter], keys: [String], ridge: Float) throws -> PromptHead? {
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
        return PromptHead(kind: kind, featureMean: Tensor(shape: [h], data: mean.map(Float.init)),
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

    /// The head's part of the adapter for a condition with feature `feature`: PEFT key → matrix.
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
