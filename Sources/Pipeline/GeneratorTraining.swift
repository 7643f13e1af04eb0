import Foundation
import Generator
import LoRA
import TensorCore
import TextEncoder

/// Settings of `dnd train`; snake_case keys, every key optional.
/// Their defaults are the product's (`dnd train`, the daemon's retraining, `dnd export-training`); `TrainingPlan` maps
/// them onto the trainer's `HyperConvTrainerOptions`.
public struct TrainSettings: Codable, Sendable, Equatable {
    /// Prompts per condition (N).
    public var prompts: Int = 8
    /// Tokens per prompt in the condition (L).
    public var length: Int = 32
    /// Weight-token chunk width (cw); nil: the smallest input width of the targeted modules, at most 128.
    public var chunkWidth: Int? = nil
    /// Parameter budget of the CPU chain; nil: the builder's automatic choice.
    public var budgetParameters: Int? = nil
    public var kernel: Int = 3
    public var blocks: Int = 4
    public var steps: Int = 400
    public var batchSize: Int = 8
    public var learningRate: Float = 2e-3
    public var seed: UInt64 = 0
    /// At most this many prompts of each dataset are encoded for training (a seeded sample beyond it).
    public var maxPromptsPerDataset: Int = 512
    public var checkpointEvery: Int = 100
    /// Std of the Gaussian noise on conditions and on targets; nil: `HyperConvTrainerOptions`' defaults (DESIGN's 1e-4, 1e-5).
    public var conditionNoise: Float? = nil
    public var targetNoise: Float? = nil
    /// What the generator predicts: the checkpoints (the paper) or their deviation from the zoo's mean adapter
    /// (see `TargetNormalization`).
    public var targets: TargetNormalization.Targets = .residual
    /// What it is conditioned on: the prompts' raw states (the paper) or states standardized over the training prompts.
    public var condition: TargetNormalization.Condition = .standardized
    /// A linear prompt head next to the decoder (`PromptHead`, residual targets only): none (the paper) or ridge.
    public var head: TargetNormalization.Head = .ridge
    /// The head's ridge, relative to the mean of its feature kernel's diagonal.
    public var headRidge: Float = PromptHead.defaultRidge
    /// What the head reads of a condition's prompts: their mean pooled embedding, or that and their sentences' too.
    public var headFeature: PromptHead.Feature = .sentences

    public init() {}

    enum CodingKeys: String, CodingKey {
        case prompts, length, chunkWidth = "chunk_width", budgetParameters = "budget_parameters", kernel, blocks, steps
        case batchSize = "batch_size", learningRate = "learning_rate", seed
        case maxPromptsPerDataset = "max_prompts_per_dataset", checkpointEvery = "checkpoint_every"
        case conditionNoise = "condition_noise", targetNoise = "target_noise", targets, condition
        case head, headRidge = "head_ridge", headFeature = "head_feature"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainSettings()
        prompts = try c.decodeIfPresent(Int.self, forKey: .prompts) ?? d.prompts
        length = try c.decodeIfPresent(Int.self, forKey: .length) ?? d.length
        chunkWidth = try c.decodeIfPresent(Int.self, forKey: .chunkWidth)
        budgetParameters = try c.decodeIfPresent(Int.self, forKey: .budgetParameters)
        kernel = try c.decodeIfPresent(Int.self, forKey: .kernel) ?? d.kernel
        blocks = try c.decodeIfPresent(Int.self, forKey: .blocks) ?? d.blocks
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? d.learningRate
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        maxPromptsPerDataset = try c.decodeIfPresent(Int.self, forKey: .maxPromptsPerDataset) ?? d.maxPromptsPerDataset
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? d.checkpointEvery
        conditionNoise = try c.decodeIfPresent(Float.self, forKey: .conditionNoise)
        targetNoise = try c.decodeIfPresent(Float.self, forKey: .targetNoise)
        targets = try c.decodeIfPresent(TargetNormalization.Targets.self, forKey: .targets) ?? d.targets
        condition = try c.decodeIfPresent(TargetNormalization.Condition.self, forKey: .condition) ?? d.condition
        head = try c.decodeIfPresent(TargetNormalization.Head.self, forKey: .head) ?? d.head
        headRidge = try c.decodeIfPresent(Float.self, forKey: .headRidge) ?? d.headRidge
        headFeature = try c.decodeIfPresent(PromptHead.Feature.self, forKey: .headFeature) ?? d.headFeature
        try validate()
    }

    /// Every key is written, unset optionals as null, so that a settings object merged onto another keeps them unset.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(prompts, forKey: .prompts); try c.encode(length, forKey: .length)
        try c.encode(chunkWidth, forKey: .chunkWidth); try c.encode(budgetParameters, forKey: .budgetParameters)
        try c.encode(kernel, forKey: .kernel); try c.encode(blocks, forKey: .blocks); try c.encode(steps, forKey: .steps)
        try c.encode(batchSize, forKey: .batchSize); try c.encode(learningRate, forKey: .learningRate); try c.encode(seed, forKey: .seed)
        try c.encode(maxPromptsPerDataset, forKey: .maxPromptsPerDataset); try c.encode(checkpointEvery, forKey: .checkpointEvery)
        // The noise keys only when set: settings (and the run keys hashed from them) stay what they were before the keys existed.
        try c.encodeIfPresent(conditionNoise, forKey: .conditionNoise); try c.encodeIfPresent(targetNoise, forKey: .targetNoise)
        try c.encode(targets, forKey: .targets); try c.encode(condition, forKey: .condition)
        try c.encode(head, forKey: .head); try c.encode(headRidge, forKey: .headRidge); try c.encode(headFeature, forKey: .headFeature)
    }

    /// The head the settings fit: ridge needs residual targets (the paper's checkpoint targets keep no mean to add it to).
    public var effectiveHead: TargetNormalization.Head { targets == .residual ? head : .none }

    public func validate() throws {
        func bad(_ s: String) -> DNDError { DNDError("train settings: \(s)") }
        guard prompts >= 1 else { throw bad("prompts \(prompts) must be at least 1") }
        guard length >= 1 && length <= 512 else { throw bad("length \(length) must be in 1…512") }
        if let cw = chunkWidth { guard cw >= 1 else { throw bad("chunk_width \(cw) must be at least 1") } }
        guard kernel >= 1 && kernel % 2 == 1 else { throw bad("kernel \(kernel) must be odd") }
        guard maxPromptsPerDataset >= 1 else { throw bad("max_prompts_per_dataset must be at least 1") }
        guard headRidge > 0 && headRidge.isFinite else { throw bad("head_ridge \(headRidge) must be positive") }
        for (key, v) in [("condition_noise", conditionNoise), ("target_noise", targetNoise)] {
            if let v { guard v >= 0 && v.isFinite else { throw bad("\(key) \(v) must be 0 or more") } }
        }
    }
}

/// Trains a generator on a checkpoint zoo and writes a complete `GeneratorBundle`.
public enum GeneratorTraining {
    /// What one training run did.
    public struct Outcome {
        public var bundle: GeneratorBundle
        public var summary: TrainingSummary
        public var stages: [GenerationReport.Stage]
    }

    /// The default chunk width for an adapter: its narrowest input width, at most 128.
    public static func defaultChunkWidth(_ adapter: LoRAAdapter) -> Int {
        min(128, adapter.weights.values.map { $0.a.shape[1] }.min() ?? 128)
    }

    /// Encodes prompts, tokenizes checkpoints, builds and trains the generator; writes the bundle to `output`
    /// (absent or an empty folder) in one rename at the end. `workDirectory` keeps resumable checkpoints and the loss log;
    /// when `shouldStop` turns true, training checkpoints there and this throws `CancellationError`.
    public static func run(zoo: Zoo, encoder: SentenceEncoder, cache: EmbeddingCache, settings: TrainSettings, holdout: [String] = [],
                           workDirectory: URL, output: URL, log: (String) -> Void = { _ in },
                           progress: ((TrainingProgress) -> Void)? = nil, shouldStop: (() -> Bool)? = nil) throws -> Outcome {
        try settings.validate()
        var stages: [GenerationReport.Stage] = []
        var t0 = Date()
        func stage(_ name: String) { stages.append(.init(name, Date().timeIntervalSince(t0))); t0 = Date() }

        // Layout, prompts, chain and options: the plan `dnd export-training` writes out too.
        let plan = try TrainingPlan(zoo: zoo, encoderIdentity: encoder.identity, hidden: encoder.hiddenSize, settings: settings)
        // Weight tokens of every checkpoint, and the per-token loss weights averaged over datasets.
        let layout = plan.layout
        // Prompt states (cached: the encoder is frozen).
        var states: [Tensor] = [], features: [Tensor] = []
        var means: [String: Tensor] = [:]
        let encode: EmbeddingCache.Encode = { encoder.encode($0, length: settings.length) }
        for (i, d) in zoo.datasets.enumerated() {
            let (hidden, pooled) = try cache.embed(plan.prompts[i], encode: encode)
            states.append(hidden)
            means[d.name] = Similarity.normalizedMean(pooled)
            if settings.effectiveHead != .none {
                features.append(try PromptHead.feature(settings.headFeature, prompts: plan.prompts[i], pooled: pooled) { try encoder.pooled($0, cache: cache) })
            }
        }
        log("encoded prompts of \(zoo.datasets.count) datasets (\(cache.hits) cached, \(cache.misses) new)")
        stage("encode prompts")

        // What the generator predicts from what (targets and conditions, see TargetNormalization).
        let normalization = try TargetNormalization.fit(datasets: zoo.datasets.map(\.adapters), hidden: states,
                                                        targets: settings.targets, condition: settings.condition,
                                                        head: settings.effectiveHead, features: features, feature: settings.headFeature, ridge: settings.headRidge)
        if let head = normalization.head { log("prompt head: ridge \(settings.headRidge) over \(head.datasets) datasets' features (\(head.kind.rawValue), \(head.featureMean.count) values)") }
        // Weight tokens of every checkpoint, and the per-token loss weights averaged over datasets.
        var entries: [ZooSampleSource.Entry] = []
        var weights: [[Float]] = []
        for (i, d) in zoo.datasets.enumerated() {
            let tokens = try WeightTokenizer.tokenize(d.adapters.map { normalization.target($0, feature: features.isEmpty ? nil : features[i]) }, layout: layout)   // [K, T, r+2, cw+2]
            weights.append(try LossWeights.perToken(checkpoints: d.adapters, layout: layout))
            entries.append(.init(name: d.name, hidden: normalization.condition(states[i]), tokens: tokens))
        }
        let tokenWeights = Tensor(shape: [layout.count], data: try LossWeights.average(weights))
        log("tokenized \(zoo.datasets.reduce(0) { $0 + $1.adapters.count }) checkpoints of \(zoo.datasets.count) datasets (targets: \(settings.targets.rawValue), conditions: \(settings.condition.rawValue)): \(layout.count) tokens of \(layout.tokenShape)")
        stage("tokenize checkpoints")

        // The generator: a CPU-sized chain from the condition to the token geometry.
        let config = plan.config
        let generator = plan.initialGenerator()
        log("generator: chain \(config.chain.map { "(\($0.map(String.init).joined(separator: ","))" }.joined(separator: "→")), kernel \(config.kernel), \(generator.parameterCount) parameters")

        let options = plan.options
        // A run with other settings or another zoo must not resume this one's checkpoints.
        let runKey = Hashing.sha256Hex(parts: [Zoo.fingerprint(zoo.root), holdout.joined(separator: ","),
                                                String(data: try JSONEncoder().encode(settings), encoding: .utf8)!,
                                                encoder.identity])
        let work = workDirectory.appendingPathComponent("run-" + runKey.prefix(16))
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        var trainer = try HyperConvTrainer(generator: generator, options: options, tokenWeights: tokenWeights, workDirectory: work)
        let resumed = try trainer.resumeIfPossible()
        if resumed > 0 { log("resumed training at step \(resumed) from \(work.path)") }
        var source = try ZooSampleSource(entries: entries, prompts: settings.prompts)
        var summary = try trainer.train(source: &source, progress: progress, shouldStop: shouldStop)
        guard trainer.isFinished else {
            throw CancellationError()  // stopped on request: the checkpoint in `work` lets the next run resume
        }
        summary.finishedAt = ISO8601DateFormatter().string(from: Date())
        let split = try trainer.lossSplit(source: &source)
        (summary.lossValues, summary.lossScale) = (split.values, split.scale)
        try generator.updateConfig { $0.training = summary }
        stage("train generator")

        let meta = plan.metadata(zoo: zoo, holdout: holdout, trainedAt: summary.finishedAt ?? "")
        try AtomicFolder.write(output) { tmp in
            try GeneratorBundle.write(generator: generator, metadata: meta, datasetEmbeddings: means, normalization: normalization, to: tmp)
            _ = try GeneratorBundle(folder: tmp)  // validate before it becomes visible
        }
        try? FileManager.default.removeItem(at: work)  // finished: the checkpoints are no longer needed
        stage("write generator")
        return Outcome(bundle: try GeneratorBundle(folder: output), summary: summary, stages: stages)
    }
}

/// Cosine similarity of mean prompt embeddings.
public enum Similarity {
    /// Mean of the rows of `pooled` `[P, H]`, L2-normalised.
    public static func normalizedMean(_ pooled: Tensor) -> Tensor {
        var m = pooled.sumRows()
        let n = m.norm()
        if n > 0 { m.scale(by: 1 / n) }
        return m
    }

    public static func cosine(_ a: Tensor, _ b: Tensor) -> Double {
        let na = a.norm(), nb = b.norm()
        guard na > 0 && nb > 0 else { return 0 }
        return Double(BLAS.dot(n: a.count, a.pointer, b.pointer) / (na * nb))
    }
}
