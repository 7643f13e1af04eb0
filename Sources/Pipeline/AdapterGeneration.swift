import Foundation
import Generator
import LoRA
import Prompts
import TensorCore
import TextEncoder

/// Prompt file → PEFT adapter + report, with one trained generator (`dnd generate`, and every daemon job).
///
/// Prompt selection: the generator is conditioned on exactly N prompts. With more than N records, N are drawn
/// without replacement (seeded) and the report says so; with fewer, every prompt is used once and the remaining
/// channels are filled by drawing the same prompts again (seeded), with a warning: the generator saw conditions
/// made of N distinct prompts, so few prompts give a less reliable adapter.
public enum AdapterGeneration {
    /// Evaluation to run after generation: the base model (as a scorer) and its display name.
    public struct EvaluationRequest {
        public var scorer: ResponseScorer
        public var baseModel: String
        public init(scorer: ResponseScorer, baseModel: String) { self.scorer = scorer; self.baseModel = baseModel }
    }

    /// The written adapter and its report.
    public struct Result {
        public var adapter: LoRAAdapter
        public var report: GenerationReport
    }

    /// Which prompts condition the generator (indices into `count` records), and a warning when the file is short.
    public static func selectPrompts(count: Int, n: Int, seed: UInt64) -> (indices: [Int], note: String?) {
        var rng = SeededRNG(seed: seed)
        if count > n { return (rng.sample(n, from: count).sorted(), nil) }
        let idx = ZooSampleSource.choosePrompts(n, from: count, rng: &rng)
        return (idx, count < n ? "only \(count) prompts for a generator conditioned on \(n): prompts were reused to fill the batch; drop at least \(n) for a more reliable adapter" : nil)
    }

    /// Generates the adapter for `records` into `output` (adapter_config.json, adapter_model.safetensors,
    /// report.json, report.html). `output` is created if needed; the caller makes the folder visible atomically.
    public static func run(records: [PromptRecord], inputName: String, job: String, bundle: GeneratorBundle, encoder: SentenceEncoder,
                           cache: EmbeddingCache?, seed: UInt64, output: URL, evaluation: EvaluationRequest?,
                           evaluationSkipped: String? = nil, warnings extraWarnings: [String] = [], dndVersion: String,
                           log: (String) -> Void = { _ in }) throws -> Result {
        let config = bundle.config
        guard encoder.identity == config.encoderIdentity else {
            throw DNDError("\(bundle.folder.path): the generator was trained with encoder '\(config.encoderIdentity)' but '\(encoder.identity)' is loaded; use the same encoder or retrain")
        }
        var stages: [GenerationReport.Stage] = []
        var t0 = Date()
        func stage(_ name: String) { stages.append(.init(name, Date().timeIntervalSince(t0))); t0 = Date() }
        var warnings = extraWarnings

        let (indices, note) = selectPrompts(count: records.count, n: config.prompts, seed: seed)
        if let note { warnings.append(note) }
        let chosen = indices.map { records[$0].prompt }
        let encode: EmbeddingCache.Encode = { encoder.encode($0, length: config.length) }
        let (hidden, pooled) = try cache?.embed(chosen, encode: encode) ?? encode(chosen)   // [N, L, H], [N, H]
        stage("encode prompts")

        let adapter = try bundle.generate(hidden: hidden)
        stage("generate weights")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try adapter.write(to: output)
        stage("write adapter")

        let mean = Similarity.normalizedMean(pooled)
        let similarity = bundle.datasetEmbeddings.map { GenerationReport.Similarity(dataset: $0.name, cosine: Similarity.cosine(mean, $0.mean)) }
        let summary = AdapterSummary(adapter: adapter)
        let norms = summary.modules.map {
            GenerationReport.ModuleNorm(module: $0.module.rawValue, layers: $0.layers.count, normA: $0.normA, normB: $0.normB, normDelta: $0.normDelta)
        }

        var table: EvaluationTable?
        var skipped = evaluationSkipped
        if let evaluation {
            let (ok, reason) = Evaluator.evaluable(records)
            if let reason { skipped = reason } else {
                do {
                    table = try Evaluator.evaluate(evaluation.scorer, baseModel: evaluation.baseModel, records: ok,
                                                   models: [("base", nil), ("base + dnd adapter", adapter)])
                } catch {
                    skipped = "evaluation failed: \(error)"
                    warnings.append("evaluation failed (the adapter is still valid): \(error)")
                }
            }
            stage("evaluate")
        } else if skipped == nil {
            skipped = "no base model configured (put one in base/ or pass --base)"
        }

        let training = config.training
        let report = GenerationReport(
            job: job, dndVersion: dndVersion, seed: seed,
            input: .init(file: inputName, records: records, used: config.prompts, sampled: records.count > config.prompts),
            timings: stages,
            generator: .init(identity: bundle.metadata.identity, trainedOn: bundle.metadata.datasets, trainedAt: bundle.metadata.trainedAt,
                             steps: training?.steps, finalLoss: training.map { Double($0.recentLoss) }, chain: config.chain,
                             kernel: config.kernel, parameters: bundle.generator.parameterCount),
            similarity: similarity,
            adapter: .init(rank: config.rank, alpha: Double(config.loraAlpha), modules: adapter.modules.map(\.rawValue),
                           layers: adapter.layerCount, tokens: config.tokenCount, norms: norms),
            evaluation: table, evaluationSkipped: table == nil ? skipped : nil, warnings: warnings)
        try report.write(to: output)
        log("generated \(adapter.weights.count) LoRA pairs (\(config.tokenCount) tokens) in \(String(format: "%.3f", stages.prefix(3).reduce(0) { $0 + $1.seconds })) s")
        return Result(adapter: adapter, report: report)
    }
}
