import Foundation
import LLM
import Prompts
import TensorCore
import TOMLKit
import Workspace

/// The daemon's settings, `<root>/config.toml`: every key optional, snake_case, defaulted and validated at decode time.
public struct DaemonConfig: Codable, Sendable, Equatable {
    /// Largest prompt file accepted, in bytes.
    public var maxFileBytes: Int = 64 << 20
    /// Most prompts (records) in one file.
    public var maxPrompts: Int = 100_000
    /// Longest prompt, in characters; longer ones are cut to it (with a warning in the report naming the line).
    public var maxPromptChars: Int = 32_768
    /// Longest record (a .jsonl line, a .json element), in bytes; a longer one fails the file (a .txt line is cut).
    public var maxRecordBytes: Int = 4 << 20
    /// Most jobs queued at once; further files wait in inbox/ until there is room.
    public var maxQueue: Int = 1_000
    /// Quiet time after the last change under checkpoints/ before a retraining starts.
    public var debounceSeconds: Double = 30
    /// Period of the full rescan of inbox/ and checkpoints/ that backs up inotify.
    public var rescanSeconds: Double = 10
    /// A file that a rescan finds without an inotify event is taken once unchanged for this long.
    public var settleSeconds: Double = 60
    /// Base model folder for evaluation; empty means `<root>/base` when it holds a config.json.
    public var baseModel: String = ""
    /// `base_model_name_or_path` of every adapter: the name the base model is served under; empty means its public id,
    /// else its absolute path (see `BaseModelName`).
    public var baseModelName: String = ""
    /// Evaluation default for jobs: `auto` (when a base model and scorable records exist) or `off`.
    public var evaluation: EvaluationDefault = .auto
    /// Retrain the generator automatically when checkpoints/ changes.
    public var retrain: Bool = true
    /// On SIGTERM, how long the running job may take to finish before it is re-queued.
    public var stopGraceSeconds: Double = 10
    /// Days a finished job's input is kept in state/jobs/done/ (0: removed at once).
    public var keepDoneDays: Double = 7
    /// Send WATCHDOG=1 to systemd when the unit sets WatchdogSec.
    public var watchdog: Bool = true

    /// `evaluation` values.
    public enum EvaluationDefault: String, Codable, Sendable, CaseIterable { case auto, off }

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxFileBytes = "max_file_bytes", maxPrompts = "max_prompts", maxPromptChars = "max_prompt_chars", maxRecordBytes = "max_record_bytes"
        case maxQueue = "max_queue", debounceSeconds = "debounce_seconds", rescanSeconds = "rescan_seconds"
        case settleSeconds = "settle_seconds", baseModel = "base_model", baseModelName = "base_model_name", evaluation, retrain
        case stopGraceSeconds = "stop_grace_seconds", keepDoneDays = "keep_done_days", watchdog
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DaemonConfig.defaults
        func int(_ k: CodingKeys, _ dflt: Int, min: Int) throws -> Int {
            guard c.contains(k) else { return dflt }
            guard let v = try? c.decode(Int.self, forKey: k) else { throw DNDError("`\(k.rawValue)` must be an integer, e.g. \(k.rawValue) = \(dflt)") }
            guard v >= min else { throw DNDError("`\(k.rawValue)` = \(v) must be at least \(min)") }
            return v
        }
        func seconds(_ k: CodingKeys, _ dflt: Double, min: Double) throws -> Double {
            guard c.contains(k) else { return dflt }
            let v: Double
            if let i = try? c.decode(Int.self, forKey: k) { v = Double(i) }
            else if let x = try? c.decode(Double.self, forKey: k) { v = x }
            else { throw DNDError("`\(k.rawValue)` must be a number, e.g. \(k.rawValue) = \(DaemonConfig.format(dflt))") }
            guard v.isFinite, v >= min else { throw DNDError("`\(k.rawValue)` = \(DaemonConfig.format(v)) must be at least \(DaemonConfig.format(min))") }
            return v
        }
        func bool(_ k: CodingKeys, _ dflt: Bool) throws -> Bool {
            guard c.contains(k) else { return dflt }
            guard let v = try? c.decode(Bool.self, forKey: k) else { throw DNDError("`\(k.rawValue)` must be true or false") }
            return v
        }
        maxFileBytes = try int(.maxFileBytes, d.maxFileBytes, min: 1)
        maxPrompts = try int(.maxPrompts, d.maxPrompts, min: 1)
        maxPromptChars = try int(.maxPromptChars, d.maxPromptChars, min: 1)
        maxRecordBytes = try int(.maxRecordBytes, d.maxRecordBytes, min: 1)
        maxQueue = try int(.maxQueue, d.maxQueue, min: 1)
        debounceSeconds = try seconds(.debounceSeconds, d.debounceSeconds, min: 0)
        rescanSeconds = try seconds(.rescanSeconds, d.rescanSeconds, min: 0.1)
        settleSeconds = try seconds(.settleSeconds, d.settleSeconds, min: 0)
        stopGraceSeconds = try seconds(.stopGraceSeconds, d.stopGraceSeconds, min: 0)
        keepDoneDays = try seconds(.keepDoneDays, d.keepDoneDays, min: 0)
        retrain = try bool(.retrain, d.retrain)
        watchdog = try bool(.watchdog, d.watchdog)
        if c.contains(.baseModel) {
            guard let s = try? c.decode(String.self, forKey: .baseModel) else { throw DNDError("`base_model` must be a string path (or \"\" for <root>/base)") }
            baseModel = s
        }
        if c.contains(.baseModelName) {
            guard let s = try? c.decode(String.self, forKey: .baseModelName) else {
                throw DNDError("`base_model_name` must be a string: the name you serve the base model under (e.g. \"HuggingFaceTB/SmolLM2-135M-Instruct\"), or \"\" for its public id or absolute path")
            }
            baseModelName = s
        }
        if c.contains(.evaluation) {
            guard let s = try? c.decode(String.self, forKey: .evaluation), let e = EvaluationDefault(rawValue: s) else {
                throw DNDError("`evaluation` must be one of \(EvaluationDefault.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))")
            }
            evaluation = e
        }
    }

    public static let defaults = DaemonConfig()

    /// The prompt-file limits the queue enforces before work starts.
    public var limits: PromptLimits {
        PromptLimits(maxFileBytes: maxFileBytes, maxPrompts: maxPrompts, maxPromptChars: maxPromptChars, maxRecordBytes: maxRecordBytes)
    }

    /// The base model evaluation uses (a Hugging Face folder, a `.gguf` file or a folder holding one), or nil when none
    /// is configured or present.
    public func baseModelFolder(_ layout: RootLayout) -> URL? {
        if !baseModel.isEmpty {
            if baseModel.hasPrefix("/") { return URL(fileURLWithPath: baseModel) }
            if baseModel.hasPrefix("~") { return RootLayout.expand(baseModel, ProcessInfo.processInfo.environment) }
            return layout.root.appendingPathComponent(baseModel)  // relative paths are relative to the root
        }
        return (try? ModelSource.resolve(layout.base)) != nil ? layout.base : nil
    }

    // MARK: - Loading

    /// Reads `<root>/config.toml`; a missing file means every default. Unknown keys and bad values throw with the file,
    /// the line when TOML reports one, and the fix.
    public static func load(_ layout: RootLayout) throws -> (config: DaemonConfig, setKeys: Set<String>) {
        let url = layout.configFile
        guard FileManager.default.fileExists(atPath: url.path) else { return (DaemonConfig(), []) }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw DNDError("\(url.path): cannot read it as UTF-8 text; fix its permissions or encoding")
        }
        return try parse(text, origin: url.path)
    }

    /// Parses config text; `origin` names the file in errors.
    public static func parse(_ text: String, origin: String) throws -> (config: DaemonConfig, setKeys: Set<String>) {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw DNDError("\(origin): line \(e.source.begin.line): \(e.description); fix the TOML syntax")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        for key in table.keys.sorted() where !known.contains(key) {
            let hint = key == "root" ? "; the root is moved with --root, DND_ROOT or `root` in \(RootLayout.userConfigFile().path)" : ""
            throw DNDError("\(origin): unknown key '\(key)'\(hint); known keys: \(CodingKeys.allCases.map(\.rawValue).joined(separator: ", ")) (see `dnd config`)")
        }
        do {
            return (try TOMLDecoder().decode(DaemonConfig.self, from: table), Set(table.keys))
        } catch let e as DNDError {
            throw DNDError("\(origin): \(e.message)")
        }
    }

    // MARK: - Documentation (`dnd config`)

    /// One documented key: name, default and current value as TOML text, one-line help.
    public struct KeyDoc: Sendable, Equatable {
        public var key: String, value: String, defaultValue: String, help: String
    }

    /// Every key with its effective value, default and documentation, in file order.
    public func documented() -> [KeyDoc] {
        let d = DaemonConfig.defaults
        func q(_ s: String) -> String { "\"\(s)\"" }
        let rows: [(CodingKeys, String, String, String)] = [
            (.maxFileBytes, "\(maxFileBytes)", "\(d.maxFileBytes)", "largest prompt file accepted, in bytes; bigger files go to failed/"),
            (.maxPrompts, "\(maxPrompts)", "\(d.maxPrompts)", "most prompts in one file; more go to failed/"),
            (.maxPromptChars, "\(maxPromptChars)", "\(d.maxPromptChars)", "longest prompt, in characters; longer ones are cut to it, with a warning in the report"),
            (.maxRecordBytes, "\(maxRecordBytes)", "\(d.maxRecordBytes)", "longest record (a .jsonl line, a .json element), in bytes; longer go to failed/ (a .txt line is cut)"),
            (.maxQueue, "\(maxQueue)", "\(d.maxQueue)", "most jobs queued at once; further files wait in inbox/"),
            (.debounceSeconds, Self.format(debounceSeconds), Self.format(d.debounceSeconds), "quiet time after the last change under checkpoints/ before retraining"),
            (.rescanSeconds, Self.format(rescanSeconds), Self.format(d.rescanSeconds), "period of the full rescan that backs up inotify"),
            (.settleSeconds, Self.format(settleSeconds), Self.format(d.settleSeconds), "a file seen only by a rescan (no inotify event) is taken once unchanged this long"),
            (.baseModel, q(baseModel), q(d.baseModel), "base model folder for evaluation; \"\" uses <root>/base when it holds config.json"),
            (.baseModelName, q(baseModelName), q(d.baseModelName), "base_model_name_or_path of every adapter (the name you serve the base model under); \"\" uses its public id, else its absolute path"),
            (.evaluation, q(evaluation.rawValue), q(d.evaluation.rawValue), "per-job evaluation default: \"auto\" (when possible) or \"off\"; file names override with .eval / .noeval"),
            (.retrain, "\(retrain)", "\(d.retrain)", "retrain the generator automatically when checkpoints/ changes"),
            (.stopGraceSeconds, Self.format(stopGraceSeconds), Self.format(d.stopGraceSeconds), "on SIGTERM, time the running job gets to finish before it is re-queued"),
            (.keepDoneDays, Self.format(keepDoneDays), Self.format(d.keepDoneDays), "days a finished job's input stays in state/jobs/done/ (0: removed at once)"),
            (.watchdog, "\(watchdog)", "\(d.watchdog)", "send WATCHDOG=1 to systemd when the unit sets WatchdogSec"),
        ]
        return rows.map { KeyDoc(key: $0.0.rawValue, value: $0.1, defaultValue: $0.2, help: $0.3) }
    }

    static func format(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}
