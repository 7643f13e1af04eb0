import Daemon
import Foundation
import LoRA
import Pipeline
import Prompts
import TensorCore
import Workspace

/// A deterministic stand-in for the pipeline, for the daemon's tests: it writes a small but valid PEFT adapter whose
/// weights depend on the prompts and the generator, its adapter.gguf, and a report naming the generator; "retraining" checks the zoo
/// like the real one must (every dataset needs a readable prompts.jsonl and at least one adapter folder) and writes a
/// generator whose identity depends on the zoo. Optional delays let crash tests land in the middle of the work.
public struct FakeWorker: JobWorker {
    /// Time one job takes, spread over its writes.
    public var jobDelay: Double
    /// Time one retraining takes.
    public var retrainDelay: Double
    /// When set, every call appends one line here (`process <job> <generator>`, `retrain <datasets>`).
    public var callLog: URL?

    public init(jobDelay: Double = 0, retrainDelay: Double = 0, callLog: URL? = nil) {
        self.jobDelay = jobDelay; self.retrainDelay = retrainDelay; self.callLog = callLog
    }

    /// Settings from `DND_FAKE_JOB_DELAY_MS`, `DND_FAKE_RETRAIN_DELAY_MS`, `DND_FAKE_LOG` (the test host's way in).
    public init(environment: [String: String]) {
        func ms(_ k: String) -> Double { environment[k].flatMap(Double.init).map { $0 / 1000 } ?? 0 }
        self.init(jobDelay: ms("DND_FAKE_JOB_DELAY_MS"), retrainDelay: ms("DND_FAKE_RETRAIN_DELAY_MS"),
                  callLog: environment["DND_FAKE_LOG"].map { URL(fileURLWithPath: $0) })
    }

    /// The generator description file of a fake generator folder.
    public static let generatorFile = "generator.json"
    /// The identity of the generator `installInitialGenerator` writes.
    public static let initialIdentity = "fake-initial"
    /// The fake adapter's shape: layers × modules, rank, width.
    static let layers = 2, rank = 2, width = 8
    static let modules: [LoRAModule] = [.q_proj, .v_proj]
    /// The layout of the fake adapter's adapter.gguf (qwen2: rows as PEFT's).
    public static let ggufBase = GGUFLoRABase(architecture: "qwen2", heads: 1, kvHeads: 1)

    // MARK: - JobWorker

    public func process(_ job: Job, generator: GeneratorHandle, output: URL, control: WorkControl) throws {
        log("process \(job.name) \(generator.info.identity)")
        try pause(jobDelay / 3, control)
        var seed = FakeWorker.hash(generator.info.identity)
        for r in job.records { seed = FakeWorker.hash(r.prompt, seed: seed) }
        var rng = seed
        func next() -> Float {  // xorshift64*: deterministic weights from the prompts and the generator
            rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27
            let v = (rng &* 0x2545_F491_4F6C_DD1D) >> 11
            return Float(Int(v % 2000) - 1000) / 10_000
        }
        var weights: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for l in 0..<FakeWorker.layers {
            for m in FakeWorker.modules {
                let a = Tensor(shape: [FakeWorker.rank, FakeWorker.width], data: (0..<FakeWorker.rank * FakeWorker.width).map { _ in next() })
                let b = Tensor(shape: [FakeWorker.width, FakeWorker.rank], data: (0..<FakeWorker.rank * FakeWorker.width).map { _ in next() })
                weights[LoRASite(layer: l, module: m)] = (a, b)
            }
        }
        let adapter = LoRAAdapter(config: LoRAConfig(r: FakeWorker.rank, loraAlpha: 4, targetModules: FakeWorker.modules, baseModel: "fake/base"),
                                  weights: weights)
        try adapter.write(to: output)
        try GGUFLoRA.write(adapter, base: FakeWorker.ggufBase, to: output.appendingPathComponent(GGUFLoRA.fileName))
        try pause(jobDelay / 3, control)
        let evaluable = job.records.filter(\.isEvaluable).count
        var evaluation: [String: Any] = ["requested": job.options.evaluate, "reason": job.options.evaluationReason, "ran": false]
        if !job.options.evaluate { evaluation["skipped"] = "evaluation not requested: \(job.options.evaluationReason)" }
        else if job.options.baseModel == nil { evaluation["skipped"] = "no base model configured" }
        else if evaluable == 0 { evaluation["skipped"] = "no record has a response or choices" }
        else { evaluation["skipped"] = "the fake worker does not evaluate" }
        let report: [String: Any] = [
            "job": job.name, "file": job.fileName, "prompts": job.records.count,
            "generator": ["identity": generator.info.identity, "datasets": generator.info.datasets],
            "evaluation": evaluation, "warnings": job.warnings.map(\.description),
        ]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]),
                             to: output.appendingPathComponent("report.json"))
        try pause(jobDelay / 3, control)
        let html = "<!doctype html><html><body><h1>\(job.name)</h1><p>\(job.records.count) prompts, generator \(generator.info.identity)</p></body></html>\n"
        try AtomicFile.write(Data(html.utf8), to: output.appendingPathComponent("report.html"))
    }

    public func retrain(checkpoints: URL, output: URL, current: GeneratorHandle?, control: WorkControl) throws {
        let datasets = try FakeWorker.checkZoo(checkpoints)
        log("retrain \(datasets.joined(separator: ","))")
        try pause(retrainDelay, control)
        var h: UInt64 = FakeWorker.hash(current?.info.identity ?? "")
        for d in datasets { h = FakeWorker.hash(d, seed: h) }
        let identity = "fake-" + String(h, radix: 16).prefix(10)
        try FakeWorker.writeGenerator(identity: identity, datasets: datasets, into: output)
    }

    public func validateGenerator(_ folder: URL) throws -> GeneratorInfo {
        let url = folder.appendingPathComponent(FakeWorker.generatorFile)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DNDError("\(folder.path): no \(FakeWorker.generatorFile); not a generator folder")
        }
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = .iso8601
        do { return try dec.decode(GeneratorInfo.self, from: data) } catch {
            throw DNDError("\(url.path): not a generator description (\(error.localizedDescription))")
        }
    }

    // MARK: - Helpers for tests

    /// Writes a fake generator folder.
    public static func writeGenerator(identity: String, datasets: [String], into folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .iso8601
        enc.outputFormatting = [.sortedKeys]
        let info = GeneratorInfo(identity: identity, datasets: datasets, trainedAt: Date(timeIntervalSince1970: 1_700_000_000))
        try AtomicFile.write(enc.encode(info), to: folder.appendingPathComponent(generatorFile))
    }

    /// Puts a plain generator folder at `<root>/state/generator` (as `dnd train` would), identity `fake-initial`.
    public static func installInitialGenerator(root: URL) throws {
        try writeGenerator(identity: initialIdentity, datasets: ["seed"], into: root.appendingPathComponent("state/generator"))
    }

    /// The dataset names of a zoo; throws naming the folder when one is unusable.
    public static func checkZoo(_ checkpoints: URL) throws -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        var datasets: [String] = []
        for name in names {
            let dir = checkpoints.appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else { continue }
            _ = try PromptFile.read(dir.appendingPathComponent("prompts.jsonl"))
            let subs = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter {
                FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).appendingPathComponent(LoRAAdapter.configFile).path)
            }
            guard !subs.isEmpty else { throw DNDError("\(dir.path): no checkpoint folder (with adapter_config.json) in this dataset") }
            datasets.append(name)
        }
        guard !datasets.isEmpty else { throw DNDError("\(checkpoints.path): no dataset folders") }
        return datasets
    }

    func pause(_ seconds: Double, _ control: WorkControl) throws {
        guard seconds > 0 else { return }
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if control.isCancelled { throw CancellationError() }
            Thread.sleep(forTimeInterval: min(0.02, max(0, end.timeIntervalSinceNow)))
        }
    }

    func log(_ line: String) {
        guard let callLog else { return }
        let fd = open(callLog.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let s = line + "\n"
        _ = s.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// FNV-1a over the UTF-8 of `s`.
    static func hash(_ s: String, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var h = seed == 0 ? 1 : seed
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
