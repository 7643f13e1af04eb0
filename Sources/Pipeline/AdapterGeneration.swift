import Foundation
import Generator
import LLM
import LoRA
import Prompts
import TensorCore
import TextEncoder

/// Prompt file → PEFT adapter + adapter.gguf + report, with one trained generator (`dnd generate`, and every daemon job).
///
/// Prompt selection: the generator is conditioned on exactly N prompts. With more than N records, N are drawn
/// without replacement (seeded) and the report says so; with fewer, every prompt is used once and the remaining
/// channels are filled by drawing the same prompts again (seeded), with a warning: the generator saw conditions
/// made of N distinct prompts, so few prompts give a less reliable adapter.
///
/// A prompt head reads more of the file than the decoder: its feature is the mean over up to `headPrompts`
/// distinct prompts (`headPromptIndices`: every record when the file has no more, else a seeded draw that contains
/// the decoder's N), since a mean over more prompts is a steadier estimate of the dataset's mean embedding the head
/// was fitted on (README, "The generator on a real model": 48.5% against 46.9% held-out over 3 seeds).
public enum AdapterGeneration {
    /// How many of a file's prompts a prompt head reads by default (`dnd generate --head-prompts`, every daemon job).
    public static let defaultHeadPrompts = 64

    /// What to do about evaluation: score base vs base + adapter, or why not.
    public enum Evaluation {
        /// Score with this base model (as a scorer) named `baseModel` in the table.
        case run(scorer: ResponseScorer, baseModel: String)
        /// Not asked for, for this reason (e.g. "no --base model given", "turned off by the file name tag .noeval").
        case skipped(String)
        /// Asked for but impossible (the base model did not load): the reason, also given as a warning.
        case unavailable(String)
    }

    /// One generation: the prompts, where the files go, the base model's name and evaluation.
    public struct Request {
        public var records: [PromptRecord]
        /// The prompt file's name, for the report.
        public var inputName: String
        public var job: String
        /// Seed of the prompt sampling.
        public var seed: UInt64
        /// The folder the files are written into (created if needed; the caller makes it visible atomically).
        public var output: URL
        /// Where the folder will be once delivered (the usage lines name it); `output` when nil.
        public var deliveredAt: URL?
        /// `base_model_name_or_path` and the base model's files (for adapter.gguf); nil: the generator's zoo name
        /// alone decides (`BaseModelName.resolve` without a configured name, a base model or a root).
        public var baseModel: BaseModelName?
        public var evaluation: Evaluation
        /// What the prompt reader changed (prompts cut), for the report.
        public var warnings: [String]
        public var dndVersion: String
        /// At most how many distinct prompts a prompt head reads (`headPromptIndices`); at least 1.
        public var headPrompts: Int

        public init(records: [PromptRecord], inputName: String, job: String, seed: UInt64 = 0, output: URL, deliveredAt: URL? = nil,
                    baseModel: BaseModelName? = nil, evaluation: Evaluation, warnings: [String] = [], dndVersion: String,
                    headPrompts: Int = AdapterGeneration.defaultHeadPrompts) {
            precondition(headPrompts >= 1, "a prompt head reads at least one prompt")
            self.records = records; self.inputName = inputName; self.job = job; self.seed = seed; self.output = output
            self.deliveredAt = deliveredAt; self.baseModel = baseModel; self.evaluation = evaluation; self.warnings = warnings
            self.dndVersion = dndVersion; self.headPrompts = headPrompts
        }
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

    /// Which distinct records a prompt head reads (sorted indices into `count` records): all of them when there are
    /// at most `limit`, else `limit` drawn with the seed of `selectPrompts`. The draw is a partial Fisher–Yates
    /// shuffle, whose first N picks are `selectPrompts`'s, so the head reads every prompt the decoder does.
    public static func headPromptIndices(count: Int, limit: Int, seed: UInt64) -> [Int] {
        precondition(limit >= 1, "a prompt head reads at least one prompt")
        if count <= limit { return Array(0..<count) }
        var rng = SeededRNG(seed: seed)
        return rng.sample(limit, from: count).sorted()
    }

    /// Generates the adapter for the request's records into its output folder: adapter_config.json,
    /// adapter_model.safetensors, adapter.gguf (when the base model's files are known), report.json, report.html.
    public static func run(_ request: Request, bundle: GeneratorBundle, encoder: SentenceEncoder, cache: EmbeddingCache?,
                           log: (String) -> Void = { _ in }) throws -> Result {
        let config = bundle.config
        guard encoder.identity == config.encoderIdentity else {
            throw DNDError("\(bundle.folder.path): the generator was trained with encoder '\(config.encoderIdentity)' but '\(encoder.identity)' is loaded; use the same encoder or retrain")
        }
        let records = request.records, output = request.output
        var stages: [GenerationReport.Timing] = []
        var t0 = Date()
        func stage(_ name: GenerationReport.StageName) { stages.append(.init(name, Date().timeIntervalSince(t0))); t0 = Date() }
        var warnings = request.warnings

        let (indices, note) = selectPrompts(count: records.count, n: config.prompts, seed: request.seed)
        if let note { warnings.append(note) }
        // The prompts encoded: the head's when the generator has a head (a superset of the decoder's), else the decoder's.
        let read = bundle.hasHead ? headPromptIndices(count: records.count, limit: request.headPrompts, seed: request.seed) : Array(Set(indices)).sorted()
        let texts = read.map { records[$0].prompt }
        let encode: EmbeddingCache.Encode = { encoder.encode($0, length: config.length) }
        let (states, pooled) = try cache?.embed(texts, encode: encode) ?? encode(texts)   // [M, L, H], [M, H]
        let row = Dictionary(uniqueKeysWithValues: read.enumerated().map { ($1, $0) })
        let hidden = Tensor.stack(indices.map { states.row(row[$0]!) })                     // [N, L, H], the decoder's
        let sentences = bundle.needsSentences ? try PromptHead.sentenceMeans(texts, pooled: pooled) { try encoder.pooled($0, cache: cache) } : nil
        stage(.encodePrompts)

        var adapter = try bundle.generate(hidden: hidden, pooled: pooled, sentences: sentences)
        stage(.generateWeights)
        let baseModel = request.baseModel ?? BaseModelName.resolve(configured: nil, setting: "", relativeTo: output, model: nil,
                                                                   zoo: config.baseModel, root: nil)
        adapter.config.baseModelNameOrPath = baseModel.name
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try adapter.write(to: output)
        stage(.writeAdapter)

        let gguf: GenerationReport.GGUFInfo
        if let model = baseModel.model {
            do {
                gguf = try GGUFExport.write(adapter, base: model, to: output.appendingPathComponent(GGUFLoRA.fileName))
            } catch {
                let why = "\(error)"
                gguf = .init(file: nil, architecture: nil, permutedQK: false, alpha: nil, skipped: "the base model's layout could not be used: \(why)")
                warnings.append("adapter.gguf not written (the PEFT adapter is still valid): \(why)")
            }
            stage(.writeGGUF)
        } else {
            gguf = .init(file: nil, architecture: nil, permutedQK: false, alpha: nil,
                         skipped: "no base model files are known, so llama.cpp's architecture and q/k heads are not; configure a base model (base/ or base_model in config.toml, --base for dnd generate) or run dnd export-gguf with --base")
        }

        let mean = Similarity.normalizedMean(pooled)
        let similarity = bundle.datasetEmbeddings.map { GenerationReport.Similarity(dataset: $0.name, cosine: Similarity.cosine(mean, $0.mean)) }
        let summary = AdapterSummary(adapter: adapter)
        let norms = summary.modules.map {
            GenerationReport.ModuleNorm(module: $0.module.rawValue, layers: $0.layers.count, normA: $0.normA, normB: $0.normB, normDelta: $0.normDelta)
        }

        var table: EvaluationTable?
        var skipped: String?
        switch request.evaluation {
        case .run(let scorer, let name):
            let (ok, reason) = Evaluator.evaluable(records)
            if let reason { skipped = reason } else {
                do {
                    table = try Evaluator.evaluate(scorer, baseModel: name, records: ok,
                                                   models: [("base", nil), ("base + dnd adapter", adapter)])
                } catch {
                    skipped = "evaluation failed: \(error)"
                    warnings.append("evaluation failed (the adapter is still valid): \(error)")
                }
            }
            stage(.evaluate)
        case .skipped(let why):
            skipped = why
        case .unavailable(let why):
            skipped = why
            warnings.append("evaluation skipped: \(why)")
        }

        let training = config.training
        let usage = ServingGuide(folder: request.deliveredAt ?? output, name: request.job, baseModel: baseModel, rank: adapter.rank,
                                 gguf: gguf.file != nil)
        let report = GenerationReport(
            job: request.job, dndVersion: request.dndVersion, seed: request.seed,
            input: .init(file: request.inputName, records: records, used: config.prompts, sampled: records.count > config.prompts,
                         headPrompts: bundle.hasHead ? read.count : nil),
            timings: stages,
            generator: .init(identity: bundle.metadata.identity, trainedOn: bundle.metadata.datasets, trainedAt: bundle.metadata.trainedAt,
                             steps: training?.steps, finalLoss: training.map { Double($0.recentLoss) }, chain: config.chain,
                             kernel: config.kernel, parameters: bundle.generator.parameterCount),
            similarity: similarity,
            adapter: .init(rank: config.rank, alpha: Double(config.loraAlpha), modules: adapter.modules.map(\.rawValue),
                           layers: adapter.layerCount, tokens: config.tokenCount, norms: norms),
            evaluation: table, evaluationSkipped: table == nil ? skipped : nil, warnings: warnings,
            baseModel: baseModel, gguf: gguf, usage: usage)
        try report.write(to: output)
        let seconds = stages.filter(\.stage.isGeneration).reduce(0) { $0 + $1.seconds }
        log("generated \(adapter.weights.count) LoRA pairs (\(config.tokenCount) tokens) in \(String(format: "%.3f", seconds)) s")
        return Result(adapter: adapter, report: report)
    }
}
