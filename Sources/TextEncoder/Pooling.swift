import Foundation
import TensorCore

/// How token hidden states become one sentence vector (sentence-transformers' `Pooling` module).
public enum PoolingMode: String, Sendable, CaseIterable {
    case mean = "pooling_mode_mean_tokens"
    case cls = "pooling_mode_cls_token"
    case max = "pooling_mode_max_tokens"
    case meanSqrtLength = "pooling_mode_mean_sqrt_len_tokens"
    case weightedMean = "pooling_mode_weightedmean_tokens"
    case lastToken = "pooling_mode_lasttoken"

    /// A short name for reports and cache keys.
    public var name: String {
        switch self {
        case .mean: return "mean"
        case .cls: return "cls"
        case .max: return "max"
        case .meanSqrtLength: return "mean_sqrt_len"
        case .weightedMean: return "weightedmean"
        case .lastToken: return "lasttoken"
        }
    }
}

/// `1_Pooling/config.json`: exactly one `pooling_mode_*` flag set, plus the embedding width it expects.
public struct PoolingConfig: Decodable, Sendable, Equatable {
    public var mode: PoolingMode = .mean
    /// `word_embedding_dimension`; must equal the encoder's hidden size when present.
    public var wordEmbeddingDimension: Int?

    public init(mode: PoolingMode = .mean, wordEmbeddingDimension: Int? = nil) {
        self.mode = mode; self.wordEmbeddingDimension = wordEmbeddingDimension
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Reads every key so that an unknown `pooling_mode_*` flag is an error rather than silently ignored.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        var on: [String] = []
        for key in c.allKeys where key.stringValue.hasPrefix("pooling_mode_") {
            if (try? c.decode(Bool.self, forKey: key)) == true { on.append(key.stringValue) }
        }
        if let legacy = try? c.decodeIfPresent(String.self, forKey: Key(stringValue: "pooling_mode")) {
            on.append("pooling_mode_" + legacy)
        }
        let known = Set(PoolingMode.allCases.map(\.rawValue))
        if let unknown = on.first(where: { !known.contains($0) }) {
            throw DNDError("unknown pooling mode '\(unknown)'; supported: \(PoolingMode.allCases.map(\.rawValue).joined(separator: ", ")) (exactly one set to true)")
        }
        guard on.count <= 1 else {
            throw DNDError("pooling modes \(on.sorted().joined(separator: " + ")) are combined (concatenated); this encoder supports exactly one pooling mode set to true")
        }
        guard let first = on.first, let m = PoolingMode(rawValue: first) else {
            throw DNDError("no pooling mode is set to true; set exactly one of \(PoolingMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        mode = m
        wordEmbeddingDimension = try c.decodeIfPresent(Int.self, forKey: Key(stringValue: "word_embedding_dimension"))
    }
}

/// Pools the rows of one sequence's hidden states and optionally L2-normalises the result.
public enum Pooling {
    /// `out` `[H]` = the pooled rows of `hidden` `[T, H]` (T ≥ 1; every row is a real token).
    public static func pool(_ hidden: UnsafePointer<Float>, tokens t: Int, hiddenSize h: Int, mode: PoolingMode,
                            normalize: Bool, into out: UnsafeMutablePointer<Float>) {
        precondition(t >= 1, "pooling needs at least one token")
        switch mode {
        case .cls:
            out.update(from: hidden, count: h)
        case .lastToken:
            out.update(from: hidden + (t - 1) * h, count: h)
        case .max:
            out.update(from: hidden, count: h)
            for r in 1..<max(t, 1) {
                let row = hidden + r * h
                for j in 0..<h { out[j] = row[j] > out[j] ? row[j] : out[j] }
            }
        case .mean, .meanSqrtLength, .weightedMean:
            out.update(repeating: 0, count: h)
            var total: Float = 0
            for r in 0..<t {
                // sentence-transformers weights token r by r + 1 in weighted-mean pooling.
                let w: Float = mode == .weightedMean ? Float(r + 1) : 1
                total += w
                let row = hidden + r * h
                for j in 0..<h { out[j] += w * row[j] }
            }
            let scale = mode == .meanSqrtLength ? 1 / Float(t).squareRoot() : 1 / total
            for j in 0..<h { out[j] *= scale }
        }
        if normalize { l2Normalize(out, count: h) }
    }

    /// `v / max(‖v‖, 1e-12)`, as `torch.nn.functional.normalize`.
    public static func l2Normalize(_ v: UnsafeMutablePointer<Float>, count n: Int) {
        var s: Double = 0
        for j in 0..<n { s += Double(v[j]) * Double(v[j]) }
        let inv = Float(1 / Swift.max(s.squareRoot(), 1e-12))
        for j in 0..<n { v[j] *= inv }
    }
}
