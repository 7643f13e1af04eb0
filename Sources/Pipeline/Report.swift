import Foundation
import LLM
import Prompts
import TensorCore

/// What `dnd generate` (and every daemon job) reports: `report.json`, rendered as `report.html`.
public struct GenerationReport: Codable, Sendable {
    /// Statistics of the dropped prompt file.
    public struct InputStats: Codable, Sendable {
        public var file: String
        public var records: Int
        public var promptsUsed: Int
        public var sampled: Bool
        public var meanChars: Double
        public var minChars: Int
        public var maxChars: Int
        public var evaluableRecords: Int
        public var extraFields: [String]
        /// How many distinct prompts the generator's prompt head read (nil: no head, or a report from before).
        public var headPrompts: Int?
        public init(file: String, records: [PromptRecord], used: Int, sampled: Bool, headPrompts: Int? = nil) {
            self.headPrompts = headPrompts
            self.file = file
            self.records = records.count
            promptsUsed = used
            self.sampled = sampled
            let lens = records.map { $0.prompt.count }
            meanChars = lens.isEmpty ? 0 : Double(lens.reduce(0, +)) / Double(lens.count)
            minChars = lens.min() ?? 0
            maxChars = lens.max() ?? 0
            evaluableRecords = records.filter(\.isEvaluable).count
            extraFields = Array(Set(records.flatMap { $0.extra.keys })).sorted()
        }
        enum CodingKeys: String, CodingKey {
            case file, records, promptsUsed = "prompts_used", sampled, meanChars = "mean_chars", minChars = "min_chars"
            case maxChars = "max_chars", evaluableRecords = "evaluable_records", extraFields = "extra_fields", headPrompts = "head_prompts"
        }
    }

    /// The stages of a generation, in order, as `timings` names them.
    public enum StageName: String, Codable, Sendable, CaseIterable {
        case encodePrompts = "encode prompts", generateWeights = "generate weights", writeAdapter = "write adapter"
        case writeGGUF = "write adapter.gguf", evaluate

        /// The stages that make the adapter (what "generation time" means in logs and benchmarks).
        public var isGeneration: Bool { self == .encodePrompts || self == .generateWeights || self == .writeAdapter }
    }

    /// One timed stage of a generation (`timings`).
    public struct Timing: Codable, Sendable {
        public var stage: StageName
        public var seconds: Double
        public init(_ stage: StageName, _ seconds: Double) { self.stage = stage; self.seconds = seconds }
    }

    /// One timed stage of a longer run, named freely (generator training's outcome).
    public struct Stage: Codable, Sendable {
        public var stage: String
        public var seconds: Double
        public init(_ stage: String, _ seconds: Double) { self.stage = stage; self.seconds = seconds }
    }

    /// `adapter.gguf` (llama.cpp's LoRA layout): what was written, or why it was not.
    public struct GGUFInfo: Codable, Sendable, Equatable {
        /// The file name in the adapter folder, nil when it was not written.
        public var file: String?
        /// `general.architecture`, and whether the q/k `lora_b` rows were permuted (llama).
        public var architecture: String?
        public var permutedQK: Bool
        /// `adapter.lora.alpha` (alpha·√r for an rsLoRA adapter, so llama.cpp's alpha/r gives PEFT's scaling).
        public var alpha: Double?
        /// Why it was not written.
        public var skipped: String?
        public init(file: String?, architecture: String?, permutedQK: Bool, alpha: Double?, skipped: String?) {
            self.file = file; self.architecture = architecture; self.permutedQK = permutedQK; self.alpha = alpha; self.skipped = skipped
        }
        enum CodingKeys: String, CodingKey { case file, architecture, permutedQK = "permuted_qk", alpha, skipped }
    }

    /// The generator that produced the adapter.
    public struct GeneratorInfo: Codable, Sendable {
        public var identity: String
        public var trainedOn: [String]
        public var trainedAt: String?
        public var steps: Int?
        public var finalLoss: Double?
        public var chain: [[Int]]
        public var kernel: Int
        public var parameters: Int
        public init(identity: String, trainedOn: [String], trainedAt: String?, steps: Int?, finalLoss: Double?,
                    chain: [[Int]], kernel: Int, parameters: Int) {
            self.identity = identity; self.trainedOn = trainedOn; self.trainedAt = trainedAt; self.steps = steps
            self.finalLoss = finalLoss; self.chain = chain; self.kernel = kernel; self.parameters = parameters
        }
        enum CodingKeys: String, CodingKey {
            case identity, trainedOn = "trained_on", trainedAt = "trained_at", steps, finalLoss = "final_loss", chain, kernel, parameters
        }
    }

    /// Cosine similarity of the prompts' mean embedding to one training dataset's.
    public struct Similarity: Codable, Sendable {
        public var dataset: String
        public var cosine: Double
        public init(dataset: String, cosine: Double) { self.dataset = dataset; self.cosine = cosine }
    }

    /// Norms of one module type, summed over layers (Frobenius).
    public struct ModuleNorm: Codable, Sendable {
        public var module: String
        public var layers: Int
        public var normA: Double
        public var normB: Double
        public var normDelta: Double
        public init(module: String, layers: Int, normA: Double, normB: Double, normDelta: Double) {
            self.module = module; self.layers = layers; self.normA = normA; self.normB = normB; self.normDelta = normDelta
        }
        enum CodingKeys: String, CodingKey { case module, layers, normA = "norm_a", normB = "norm_b", normDelta = "norm_delta" }
    }

    /// The adapter that was written.
    public struct AdapterInfo: Codable, Sendable {
        public var rank: Int
        public var alpha: Double
        public var modules: [String]
        public var layers: Int
        public var tokens: Int
        public var norms: [ModuleNorm]
        public init(rank: Int, alpha: Double, modules: [String], layers: Int, tokens: Int, norms: [ModuleNorm]) {
            self.rank = rank; self.alpha = alpha; self.modules = modules; self.layers = layers; self.tokens = tokens; self.norms = norms
        }
    }

    public var job: String
    public var created: String
    public var dndVersion: String
    public var seed: UInt64
    public var input: InputStats
    public var timings: [Timing]
    public var generator: GeneratorInfo
    public var similarity: [Similarity]
    public var adapter: AdapterInfo
    public var evaluation: EvaluationTable?
    /// Why evaluation did not run, when it did not.
    public var evaluationSkipped: String?
    public var warnings: [String]
    /// `base_model_name_or_path` of the adapter, the rule that chose it and why.
    public var baseModel: BaseModelName?
    public var gguf: GGUFInfo?
    /// How to load the adapter in PEFT, vLLM, llama.cpp and Ollama, line by line.
    public var usage: ServingGuide?

    enum CodingKeys: String, CodingKey {
        case job, created, dndVersion = "dnd_version", seed, input, timings, generator, similarity, adapter, evaluation
        case evaluationSkipped = "evaluation_skipped", warnings, baseModel = "base_model", gguf, usage
    }

    public init(job: String, dndVersion: String, seed: UInt64, input: InputStats, timings: [Timing], generator: GeneratorInfo,
                similarity: [Similarity], adapter: AdapterInfo, evaluation: EvaluationTable?, evaluationSkipped: String?,
                warnings: [String], baseModel: BaseModelName? = nil, gguf: GGUFInfo? = nil, usage: ServingGuide? = nil) {
        self.job = job
        created = ISO8601DateFormatter().string(from: Date())
        self.dndVersion = dndVersion; self.seed = seed; self.input = input; self.timings = timings
        self.generator = generator; self.similarity = similarity; self.adapter = adapter
        self.evaluation = evaluation; self.evaluationSkipped = evaluationSkipped; self.warnings = warnings
        self.baseModel = baseModel; self.gguf = gguf; self.usage = usage
    }

    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }

    /// Writes `report.json` and `report.html` into `folder` (atomically each).
    public func write(to folder: URL) throws {
        try AtomicFile.write(jsonData(), to: folder.appendingPathComponent("report.json"))
        try AtomicFile.write(Data(ReportHTML.render(self).utf8), to: folder.appendingPathComponent("report.html"))
    }
}

/// Accuracy and mean response NLL of the base model and each adapter on the same records.
public struct EvaluationTable: Codable, Sendable {
    /// One evaluated model (the base, or base + an adapter).
    public struct Row: Codable, Sendable {
        public var name: String
        public var accuracy: Double
        public var correct: Int
        public var records: Int
        /// Mean negative log-likelihood per response token (nats), over records with a response.
        public var meanNLL: Double?
        public var seconds: Double
        public init(name: String, accuracy: Double, correct: Int, records: Int, meanNLL: Double?, seconds: Double) {
            self.name = name; self.accuracy = accuracy; self.correct = correct; self.records = records
            self.meanNLL = meanNLL; self.seconds = seconds
        }
        enum CodingKeys: String, CodingKey { case name, accuracy, correct, records, meanNLL = "mean_nll", seconds }
    }
    public var baseModel: String
    /// "exact match" (greedy answer vs response, trimmed), "choice" (likelihood among choices), or both.
    public var metric: String
    public var rows: [Row]
    public init(baseModel: String, metric: String, rows: [Row]) { self.baseModel = baseModel; self.metric = metric; self.rows = rows }
    enum CodingKeys: String, CodingKey { case baseModel = "base_model", metric, rows }

    /// The table as aligned text (for terminals and logs).
    public var text: String {
        let w = max(8, rows.map(\.name.count).max() ?? 8)
        var s = "model".padding(toLength: w, withPad: " ", startingAt: 0) + "  accuracy   correct  mean NLL\n"
        for r in rows {
            s += r.name.padding(toLength: w, withPad: " ", startingAt: 0)
                + String(format: "  %7.1f%%  %4d/%-4d %8@\n", 100 * r.accuracy, r.correct, r.records,
                         r.meanNLL.map { String(format: "%.3f", $0) } ?? "-")
        }
        return s
    }
}
