import Foundation
import LoRA
import SafeTensors
import TensorCore

/// What a generator predicts, and from what (`dnd train` settings `targets` and `condition`).
///
/// The paper's generator predicts every checkpoint's weights from the raw prompt states. Measured on SmolLM2 (README
/// "The generator on a real model"), that chain collapses to one adapter for every prompt: most of every target is
/// the same for all datasets (the shared LoRA initialisation of A, the common part of B), a pattern the decoder's
/// shared biases cannot hold per element, so it spends its capacity on the common part and averages the rest away.
/// `residual` targets are the checkpoint minus the zoo's element-wise mean adapter (the mean of the datasets' means),
/// tokenized as DESIGN says; the mean is stored with the generator and added back to every generated adapter.
/// A matrix that every checkpoint of the zoo holds bit for bit (lora_A under LoRA-FA, where A stays at the seed's
/// initialisation) is *shared*: its target is exactly zero, and a generated adapter gets the shared value itself,
/// whatever the generator emits for its tokens. (Computed as a float mean, it left residuals of rounding noise, ~1e-9,
/// that the per-chunk normalization blew up to unit variance: 60% of the target tokens' energy on SmolLM2's LoRA-FA
/// zoo, and, since their loss weight is 0, an untrained output that decoded to noise of std 0.05 in every A, whose
/// own std is 0.024.)
/// `standardized` conditions are the prompt states minus their mean over the training prompts, divided by their
/// standard deviation (per position and hidden unit, floored), so that what tells prompts apart is not small
/// against what all of them share.
public struct TargetNormalization: @unchecked Sendable {
    public enum Targets: String, Codable, Sendable, CaseIterable { case checkpoints, residual }
    public enum Condition: String, Codable, Sendable, CaseIterable { case raw, standardized }
    /// A linear part of the generator next to the decoder (see `PromptHead`); only with residual targets.
    public enum Head: String, Codable, Sendable, CaseIterable { case none, ridge }

    /// The zoo's mean adapter, subtracted from every target (nil: the checkpoints are the targets).
    public var meanAdapter: LoRAAdapter?
    /// The matrices every checkpoint shares exactly (their PEFT keys, `….lora_A.weight`); their value is the mean's.
    public var shared: Set<String> = []
    /// Per-element statistics of the training prompts' states `[L, H]` (nil: raw conditions).
    public var conditionMean: Tensor?
    public var conditionStd: Tensor?
    /// The linear map from a condition's mean prompt embedding to its deviation from the mean (nil: none).
    public var head: PromptHead?

    public static let file = "normalization.safetensors"
    /// A standard deviation below this fraction of the median one is floored (positions that are padding in most
    /// prompts would otherwise blow up).
    static let stdFloorFraction: Float = 0.1

    public init(meanAdapter: LoRAAdapter? = nil, conditionMean: Tensor? = nil, conditionStd: Tensor? = nil) {
        self.meanAdapter = meanAdapter; self.conditionMean = conditionMean; self.conditionStd = conditionStd
    }

    public var isIdentity: Bool { meanAdapter == nil && conditionMean == nil && head == nil }

    /// Fits the normalization the settings ask for: the mean of the datasets' mean adapters, the statistics of
    /// every training prompt's states (`hidden`, one `[P, L, H]` per dataset) and, for `head: .ridge` with residual
    /// targets, the prompt head on the datasets' features (`features`, one `PromptHead.feature` of kind `feature` per dataset).
    public static func fit(datasets: [[LoRAAdapter]], hidden: [Tensor], targets: Targets, condition: Condition,
                           head: Head = .none, features: [Tensor] = [], feature: PromptHead.Feature = .prompts,
                           ridge: Float = PromptHead.defaultRidge) throws -> TargetNormalization {
        var n = TargetNormalization()
        if targets == .residual, let ref = datasets.first?.first {
            var sum: [LoRASite: (a: Tensor, b: Tensor)] = [:]
            for site in ref.sites { sum[site] = (Tensor(zeros: ref.weights[site]!.a.shape), Tensor(zeros: ref.weights[site]!.b.shape)) }
            for d in datasets where !d.isEmpty {
                let w = 1 / Float(d.count * datasets.count)
                for adapter in d {
                    for site in ref.sites {
                        guard let (a, b) = adapter.weights[site] else { throw DNDError("\(adapter.origin): module \(site) is missing; the zoo's checkpoints differ in shape") }
                        sum[site]!.a.add(a, scaled: w); sum[site]!.b.add(b, scaled: w)
                    }
                }
            }
            // Matrices equal in every checkpoint: the mean is that value exactly, and they are not predicted.
            let all = datasets.flatMap { $0 }
            for site in ref.sites {
                let (a0, b0) = ref.weights[site]!
                if all.allSatisfy({ $0.weights[site]!.a == a0 }) { sum[site]!.a = a0; n.shared.insert(site.key("A")) }
                if all.allSatisfy({ $0.weights[site]!.b == b0 }) { sum[site]!.b = b0; n.shared.insert(site.key("B")) }
            }
            n.meanAdapter = LoRAAdapter(config: ref.config, weights: sum)
            if head == .ridge {
                guard features.count == datasets.count else {
                    throw DNDError("prompt head: \(features.count) dataset features for \(datasets.count) datasets")
                }
                // Each dataset's mean residual (centred over datasets, since the zoo mean is the mean of their means).
                let residuals = datasets.map { d -> LoRAAdapter in
                    let targets = d.map { n.target($0) }
                    var r = targets[0]
                    for site in ref.sites {
                        var (a, b) = r.weights[site]!
                        a.scale(by: 1 / Float(d.count)); b.scale(by: 1 / Float(d.count))
                        for other in targets.dropFirst() {
                            let t = other.weights[site]!
                            a.add(t.a, scaled: 1 / Float(d.count)); b.add(t.b, scaled: 1 / Float(d.count))
                        }
                        r.weights[site] = (a, b)
                    }
                    return r
                }
                let keys = ref.sites.flatMap { [$0.key("A"), $0.key("B")] }.filter { !n.shared.contains($0) }
                n.head = try PromptHead.fit(features: features, kind: feature, residuals: residuals, keys: keys, ridge: ridge)
            }
        }
        if condition == .standardized, let first = hidden.first {
            let l = first.shape[1], h = first.shape[2], lh = l * h
            var s1 = [Double](repeating: 0, count: lh), s2 = [Double](repeating: 0, count: lh)
            var count = 0
            for t in hidden {
                precondition(t.shape.count == 3 && t.shape[1] == l && t.shape[2] == h, "prompt states of one shape")
                let p = t.pointer
                for row in 0..<t.shape[0] {
                    let base = p + row * lh
                    for j in 0..<lh { let v = Double(base[j]); s1[j] += v; s2[j] += v * v }
                }
                count += t.shape[0]
            }
            guard count > 1 else { throw DNDError("standardized conditions need at least two training prompts") }
            let mean = s1.map { Float($0 / Double(count)) }
            var std = (0..<lh).map { j in Float(max(0, (s2[j] - s1[j] * s1[j] / Double(count)) / Double(count - 1)).squareRoot()) }
            let median = std.sorted()[lh / 2]
            let floor = max(1e-6, stdFloorFraction * median)
            std = std.map { max($0, floor) }
            n.conditionMean = Tensor(shape: [l, h], data: mean)
            n.conditionStd = Tensor(shape: [l, h], data: std)
        }
        return n
    }

    /// The target a checkpoint becomes: itself, or its deviation from the zoo's mean (exactly zero for a shared matrix,
    /// whose mean is its value: x − x is +0 in IEEE arithmetic), less the head's part for its dataset's `feature`
    /// (ignored without a head).
    public func target(_ adapter: LoRAAdapter, feature: Tensor? = nil) -> LoRAAdapter {
        guard let mean = meanAdapter else { return adapter }
        let delta = headDelta(feature)
        var out = adapter
        for (site, m) in mean.weights {
            guard var (a, b) = out.weights[site] else { continue }
            a.add(m.a, scaled: -1); b.add(m.b, scaled: -1)
            if let d = delta[site.key("A")] { a.add(d, scaled: -1) }
            if let d = delta[site.key("B")] { b.add(d, scaled: -1) }
            out.weights[site] = (a, b)
        }
        return out
    }

    /// A generated adapter from decoded tokens: the tokens' adapter plus the zoo's mean for residual targets and the
    /// head's part for the condition's `feature` (`PromptHead.feature` of its prompts, of the head's kind), and the
    /// shared value itself for a shared matrix.
    public func adapter(fromTarget decoded: LoRAAdapter, feature: Tensor? = nil) -> LoRAAdapter {
        guard let mean = meanAdapter else { return decoded }
        let delta = headDelta(feature)
        var out = decoded
        for (site, m) in mean.weights {
            guard var (a, b) = out.weights[site] else { continue }
            if shared.contains(site.key("A")) { a = m.a } else { a.add(m.a, scaled: 1); if let d = delta[site.key("A")] { a.add(d, scaled: 1) } }
            if shared.contains(site.key("B")) { b = m.b } else { b.add(m.b, scaled: 1); if let d = delta[site.key("B")] { b.add(d, scaled: 1) } }
            out.weights[site] = (a, b)
        }
        return out
    }

    /// The head's matrices for a feature; a head without a feature is a programming error (its output would be missing).
    func headDelta(_ feature: Tensor?) -> [String: Tensor] {
        guard let head else { return [:] }
        guard let feature else { preconditionFailure("a generator with a prompt head needs the condition's feature") }
        return head.delta(feature)
    }

    /// The condition the generator sees: prompt states `[…, L, H]` as they are, or standardized.
    public func condition(_ hidden: Tensor) -> Tensor {
        guard let mean = conditionMean, let std = conditionStd else { return hidden }
        var out = hidden
        let lh = mean.count
        precondition(hidden.count % lh == 0 && Array(hidden.shape.suffix(2)) == mean.shape, "prompt states \(hidden.shape) do not match \(mean.shape)")
        out.withUnsafeMutableBufferPointer { o in
            let m = mean.pointer, s = std.pointer
            for base in stride(from: 0, to: hidden.count, by: lh) {
                let p = o.baseAddress! + base
                for j in 0..<lh { p[j] = (p[j] - m[j]) / s[j] }
            }
        }
        return out
    }

    // MARK: - On disk

    /// Writes `normalization.safetensors` into `folder` (nothing when the normalization is the identity).
    public func write(to folder: URL) throws {
        guard !isIdentity else { return }
        try SafeTensorsWriter.write(tensors, to: folder.appendingPathComponent(Self.file), metadata: metadata)
    }

    /// The file's `__metadata__`: with a prompt head, `head_feature` (its `PromptHead.Feature`; a file without it is
    /// from before the key existed, whose heads read `prompts`).
    public var metadata: [String: String] { head.map { [Self.headFeatureKey: $0.kind.rawValue] } ?? [:] }
    static let headFeatureKey = "head_feature"

    /// The file's tensors: `mean.<PEFT key>` for the mean adapter (`shared.<PEFT key>` for a shared matrix),
    /// `condition.mean` and `condition.std` `[L, H]`; with a prompt head `head.feature_mean` `[F]`, `head.projection`
    /// `[n, F]` (F = H or 2H: the `head_feature` of `metadata`) and `head.<PEFT key>` `[n, rows, cols]` for every matrix that is not shared.
    public var tensors: [String: Tensor] {
        var t: [String: Tensor] = [:]
        if let m = meanAdapter {
            for (site, w) in m.weights {
                for (key, value) in [(site.key("A"), w.a), (site.key("B"), w.b)] { t[(shared.contains(key) ? "shared." : "mean.") + key] = value }
            }
        }
        if let m = conditionMean, let s = conditionStd { t["condition.mean"] = m; t["condition.std"] = s }
        if let head {
            t["head.feature_mean"] = head.featureMean; t["head.projection"] = head.projection
            for (key, c) in head.coefficients { t["head." + key] = c }
        }
        return t
    }

    /// Reads `normalization.safetensors` from a generator folder (the identity when the file is absent); the mean
    /// adapter takes the shape of `config`'s sites.
    public static func read(folder: URL, config: LoRAConfig, sites: [LoRASite]) throws -> TargetNormalization {
        let url = folder.appendingPathComponent(file)
        guard FileManager.default.fileExists(atPath: url.path) else { return TargetNormalization() }
        let f = try SafeTensorsFile(url: url)
        var n = TargetNormalization()
        if f.contains("condition.mean") {
            n.conditionMean = try f.tensor("condition.mean")
            n.conditionStd = try f.tensor("condition.std")
            guard n.conditionMean!.shape == n.conditionStd!.shape else { throw DNDError("\(url.path): condition.mean and condition.std differ in shape") }
        }
        let meanKeys = f.names.filter { $0.hasPrefix("mean.") || $0.hasPrefix("shared.") }
        if !meanKeys.isEmpty {
            var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
            func matrix(_ key: String) throws -> Tensor {
                if f.contains("shared." + key) { n.shared.insert(key); return try f.tensor("shared." + key) }
                guard f.contains("mean." + key) else { throw DNDError("\(url.path): no mean adapter for \(key); the generator folder is incomplete (retrain with `dnd train`)") }
                return try f.tensor("mean." + key)
            }
            for site in sites { w[site] = (try matrix(site.key("A")), try matrix(site.key("B"))) }
            n.meanAdapter = LoRAAdapter(config: config, weights: w)
            if f.contains("head.projection") {
                let mean = try f.tensor("head.feature_mean"), projection = try f.tensor("head.projection")
                guard projection.rank == 2, mean.shape == [projection.shape[1]], projection.shape[0] >= 2 else {
                    throw DNDError("\(url.path): head.projection \(projection.shape) and head.feature_mean \(mean.shape) do not fit ([n ≥ 2, H] and [H]); retrain with `dnd train`")
                }
                var coefficients: [String: Tensor] = [:]
                for site in sites {
                    for (key, m) in [(site.key("A"), w[site]!.a), (site.key("B"), w[site]!.b)] where !n.shared.contains(key) {
                        guard f.contains("head." + key) else { throw DNDError("\(url.path): no head.\(key); the generator folder is incomplete (retrain with `dnd train`)") }
                        let c = try f.tensor("head." + key)
                        guard c.shape == [projection.shape[0]] + m.shape else {
                            throw DNDError("\(url.path): head.\(key) has shape \(c.shape) but the head needs \([projection.shape[0]] + m.shape); retrain with `dnd train`")
                        }
                        coefficients[key] = c
                    }
                }
                let kindName = f.metadata[headFeatureKey] ?? PromptHead.Feature.prompts.rawValue
                guard let kind = PromptHead.Feature(rawValue: kindName) else {
                    throw DNDError("\(url.path): the prompt head's feature '\(kindName)' is not one of \(PromptHead.Feature.allCases.map(\.rawValue).joined(separator: ", ")); this dnd is older than the generator, or retrain with `dnd train`")
                }
                n.head = PromptHead(kind: kind, featureMean: mean, projection: projection, coefficients: coefficients)
            }
        }
        return n
    }
}
