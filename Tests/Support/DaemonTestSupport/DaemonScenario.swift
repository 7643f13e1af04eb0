import Daemon
import Foundation
import LoRA
import TensorCore

/// What the integration tests need from the pipeline behind the daemon under test: an initial generator, and
/// checkpoint datasets that make a retraining succeed or fail. `fake` goes with `dnd-testhost` (FakeWorker); a
/// scenario for the real `dnd serve` provides a trained generator and real checkpoints instead.
public struct DaemonScenario: Sendable {
    /// Puts a usable generator into a fresh root (before the daemon first starts).
    public var prepareRoot: @Sendable (URL) throws -> Void
    /// The identity reports and `dnd status` give for the generator `prepareRoot` installed.
    public var initialIdentity: String
    /// Writes a valid dataset `<checkpoints>/<name>/` (prompts.jsonl + one checkpoint folder).
    public var addDataset: @Sendable (_ checkpoints: URL, _ name: String) throws -> Void
    /// Writes a dataset that makes retraining fail (its prompts.jsonl is not JSON).
    public var addBrokenDataset: @Sendable (_ checkpoints: URL, _ name: String) throws -> Void
    /// The generator identity a report.json names.
    public var reportGenerator: @Sendable (_ report: [String: Any]) -> String?
    /// The dropped file's name a report.json names.
    public var reportFile: @Sendable (_ report: [String: Any]) -> String?
    /// Whether a report.json says evaluation was requested, and the reason it gives (JobOptions.evaluationReason).
    public var reportEvaluation: @Sendable (_ report: [String: Any]) -> (requested: Bool?, reason: String?)
    /// A part of the error message a retraining on `addBrokenDataset(_, name)` must record.
    public var brokenDatasetError: @Sendable (_ name: String) -> String

    public init(prepareRoot: @escaping @Sendable (URL) throws -> Void, initialIdentity: String,
                addDataset: @escaping @Sendable (URL, String) throws -> Void, addBrokenDataset: @escaping @Sendable (URL, String) throws -> Void,
                reportGenerator: @escaping @Sendable ([String: Any]) -> String?, reportFile: @escaping @Sendable ([String: Any]) -> String?,
                reportEvaluation: @escaping @Sendable ([String: Any]) -> (requested: Bool?, reason: String?),
                brokenDatasetError: @escaping @Sendable (String) -> String) {
        self.prepareRoot = prepareRoot; self.initialIdentity = initialIdentity; self.addDataset = addDataset
        self.addBrokenDataset = addBrokenDataset; self.reportGenerator = reportGenerator; self.reportFile = reportFile
        self.reportEvaluation = reportEvaluation; self.brokenDatasetError = brokenDatasetError
    }

    /// The scenario for `dnd-testhost` and its FakeWorker.
    public static let fake = DaemonScenario(
        prepareRoot: { try FakeWorker.installInitialGenerator(root: $0) },
        initialIdentity: FakeWorker.initialIdentity,
        addDataset: { checkpoints, name in
            let dir = checkpoints.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data("{\"prompt\":\"\(name) question 1\"}\n{\"prompt\":\"\(name) question 2\"}\n".utf8)
                .write(to: dir.appendingPathComponent("prompts.jsonl"))
            let r = 2, w = 4
            let a = Tensor(shape: [r, w], data: (0..<r * w).map { Float($0) / 10 })
            let b = Tensor(shape: [w, r], data: (0..<r * w).map { Float($0) / 20 })
            let adapter = LoRAAdapter(config: LoRAConfig(r: r, loraAlpha: 4, targetModules: [.q_proj], baseModel: "fake/base"),
                                      weights: [LoRASite(layer: 0, module: .q_proj): (a, b)])
            try adapter.write(to: dir.appendingPathComponent("ckpt-1"))
        },
        addBrokenDataset: { checkpoints, name in
            let dir = checkpoints.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("ckpt-1"), withIntermediateDirectories: true)
            try Data("this is not json\n".utf8).write(to: dir.appendingPathComponent("prompts.jsonl"))
            try Data("{}".utf8).write(to: dir.appendingPathComponent("ckpt-1/adapter_config.json"))
        },
        reportGenerator: { ($0["generator"] as? [String: Any])?["identity"] as? String },
        reportFile: { $0["file"] as? String },
        reportEvaluation: {
            let e = $0["evaluation"] as? [String: Any]
            return (e?["requested"] as? Bool, e?["reason"] as? String)
        },
        brokenDatasetError: { "\($0)/prompts.jsonl: line 1: not valid JSON" })

    /// `DND_DAEMON_SCENARIO` (default `fake`).
    public static var current: DaemonScenario {
        get throws {
            let name = ProcessInfo.processInfo.environment["DND_DAEMON_SCENARIO"] ?? "fake"
            guard name == "fake" else { throw DNDError("DND_DAEMON_SCENARIO=\(name): unknown scenario; known: fake") }
            return fake
        }
    }
}
