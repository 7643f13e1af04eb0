import Foundation
import LoRA
import Pipeline
import Prompts
import TensorCore
import Workspace

/// What the daemon asks of the pipeline: turn one job into results, train a generator, check a generator.
///
/// The daemon owns every file move; a worker only writes into the empty folder it is given. Calls are synchronous and
/// run on dedicated threads (never on Swift's cooperative pool, so a long CPU-bound call cannot starve the daemon's
/// loop or its watchdog). At most one `process` and one `retrain` run at a time, possibly concurrently with each other.
public protocol JobWorker: Sendable {
    /// Writes the job's results into `output` (an empty folder): `adapter_config.json`, `adapter_model.safetensors`,
    /// `report.json`, `report.html`, and `adapter.gguf` when the base model's files are known. `job.records` are already parsed and within the configured limits. Evaluation
    /// follows `job.options`; it never fails the job: its problems become warnings in the report, beside
    /// `job.warnings`. Throw ``PromptFileError`` when the input cannot make an adapter (the job goes to failed/ with
    /// that reason); any other
    /// error fails the job too, as a processing error. `control.isCancelled` turns true when the daemon stops; the
    /// worker may return early by throwing `CancellationError` (the job is then re-queued, never failed).
    func process(_ job: Job, generator: GeneratorHandle, output: URL, control: WorkControl) throws

    /// Trains a new generator into `output` (an empty folder) from the zoo under `checkpoints`; `current` is the one in
    /// use (for warm starts), nil when there is none. Throws on failure; the current generator then stays.
    func retrain(checkpoints: URL, output: URL, current: GeneratorHandle?, control: WorkControl) throws

    /// Checks a complete generator folder and describes it; throws (naming the file and the problem) when unusable.
    func validateGenerator(_ folder: URL) throws -> GeneratorInfo

    /// What the worker needs to serve and lacks (the sentence encoder, a model the defaults need), each said with its
    /// fix; empty when it can serve. Asked once at start-up: a daemon that cannot serve takes no job and never sends
    /// READY.
    func preflight() -> [String]
}

extension JobWorker {
    public func preflight() -> [String] { [] }
}

/// One job as the worker sees it.
public struct Job: Sendable {
    /// The job's name: its results appear in `outbox/<name>/`.
    public var name: String
    /// The dropped file's original name (with its tags and extension).
    public var fileName: String
    /// The dropped file, read-only, inside the daemon's state folder.
    public var input: URL
    /// The prompt records, read with `PromptFile.load` under `options.limits`.
    public var records: [PromptRecord]
    /// What the reader changed (prompts cut to max_prompt_chars), each naming its line: for the report.
    public var warnings: [PromptFileWarning]
    public var options: JobOptions

    public init(name: String, fileName: String, input: URL, records: [PromptRecord], warnings: [PromptFileWarning] = [], options: JobOptions) {
        self.name = name; self.fileName = fileName; self.input = input; self.records = records; self.warnings = warnings
        self.options = options
    }
}

/// Per-job settings from the config and the file name.
public struct JobOptions: Sendable, Codable, Equatable {
    /// True when the job should be evaluated against the base model (when `baseModel` is set and records are scorable).
    public var evaluate: Bool
    /// Why `evaluate` is what it is, one line for the report (e.g. "file name tag .noeval").
    public var evaluationReason: String
    /// The base model folder, or nil when none is configured or present.
    public var baseModel: URL?
    /// `base_model_name` from config.toml: what adapters carry as `base_model_name_or_path` (nil: the default rules).
    public var baseModelName: String?
    /// The limits the input was checked against.
    public var limits: PromptLimits

    public init(evaluate: Bool, evaluationReason: String, baseModel: URL?, baseModelName: String? = nil, limits: PromptLimits) {
        self.evaluate = evaluate; self.evaluationReason = evaluationReason; self.baseModel = baseModel
        self.baseModelName = baseModelName; self.limits = limits
    }

    /// The options for a file: its `.eval` / `.noeval` tag beats the config's `evaluation`.
    public static func make(tag: JobName.Evaluation, config: DaemonConfig, baseModel: URL?) -> JobOptions {
        let (on, why): (Bool, String)
        switch tag {
        case .on: (on, why) = (true, "requested by the file name tag .eval")
        case .off: (on, why) = (false, "turned off by the file name tag .noeval")
        case .configDefault:
            (on, why) = config.evaluation == .auto
                ? (true, "evaluation = \"auto\" in config.toml (the default)")
                : (false, "evaluation = \"off\" in config.toml; add .eval before the extension to evaluate one file")
        }
        return JobOptions(evaluate: on, evaluationReason: why, baseModel: baseModel,
                          baseModelName: config.baseModelName.isEmpty ? nil : config.baseModelName, limits: config.limits)
    }
}

/// A cooperative stop flag shared between the daemon and one worker call.
public final class WorkControl: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    public init() {}
    /// True once the daemon wants the call to stop (shutdown); the work is then discarded.
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }
    public func cancel() { lock.lock(); cancelled = true; lock.unlock() }
}

/// Runs synchronous work on its own thread, outside Swift's cooperative pool.
enum WorkerThread {
    /// Runs `body` on a new thread with a 16 MiB stack (secondary threads get a small one by default).
    static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let t = Thread { body() }
        t.name = name
        t.stackSize = 16 << 20
        t.start()
    }
}

/// The results every job must leave in its output folder before it may be delivered.
public enum JobResults {
    /// The files every `outbox/<job>/` holds.
    public static let files = ["adapter_config.json", "adapter_model.safetensors", "report.json", "report.html"]
    /// The file it holds when the base model's files are known (llama.cpp's LoRA layout).
    public static let gguf = GGUFLoRA.fileName

    /// Checks a worker's output before it is committed: every file present and regular, the adapter loads and
    /// validates, adapter.gguf (when there) is a complete GGUF LoRA with the same pairs, report.json is a JSON
    /// object. Hidden leftovers (temp files) are removed.
    public static func verify(_ folder: URL) throws {
        for name in Rename.names(folder) where name.hasPrefix(".") { try Rename.remove(folder.appendingPathComponent(name)) }
        for name in files where Rename.kind(folder.appendingPathComponent(name)) != .regular {
            throw DNDError("the worker did not write \(name) (a regular file) into the job's output")
        }
        let adapter = try LoRAAdapter(folder: folder)
        let ggufFile = folder.appendingPathComponent(gguf)
        switch Rename.kind(ggufFile) {
        case .missing: break
        case .regular:
            let pairs = try GGUFLoRA.check(ggufFile)
            guard pairs == Set(adapter.sites) else {
                throw DNDError("the worker wrote an \(gguf) whose LoRA pairs (\(pairs.count)) differ from the PEFT adapter's (\(adapter.sites.count))")
            }
        default: throw DNDError("the worker wrote \(gguf) as something other than a regular file")
        }
        let report = folder.appendingPathComponent("report.json")
        guard let data = FileManager.default.contents(atPath: report.path),
              (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
            throw DNDError("the worker wrote a report.json that is not a JSON object")
        }
    }
}
