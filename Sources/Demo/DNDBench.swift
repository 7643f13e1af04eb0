import Foundation
import LLM
import LoRA
import Pipeline
import TensorCore
import TextEncoder
import Workspace

/// `dnd bench dnd`: on a root built by `dnd demo`, each held-out dataset's test split is scored with (1) the base
/// model, (2) every training LoRA (their mean), (3) the nearest training LoRA by prompt-embedding similarity, (4) the
/// DnD adapter generated from the test prompts, (5) a LoRA fine-tuned on the dataset's own training split with the
/// zoo's recipe; and the time to obtain each adapter is measured (models loaded beforehand, as a daemon has them).
public enum DNDBench {
    /// Every `fineTuneCheckpoints`-th fraction of the upper-bound run is saved, to find when it first matches DnD.
    public static let fineTuneCheckpoints = 10

    /// Runs the benchmark on `root`; the upper-bound LoRAs and DnD adapters are written under demo/bench/.
    public static func run(root: URL, encoderFolder: URL?, dndVersion: String, events: DemoRunner.Events) throws -> BenchReport {
        let layout = RootLayout(root: root)
        let paths = DemoPaths(root: layout.root)
        guard let data = FileManager.default.contents(atPath: paths.settings.path) else {
            throw DNDError("\(paths.settings.path): missing; `dnd bench dnd` measures a root built by `dnd demo` (run `dnd demo --root \(layout.root.path)` first)")
        }
        let settings: DemoSettings
        do { settings = try JSONDecoder().decode(DemoSettings.self, from: data) } catch {
            throw DNDError("\(paths.settings.path): unreadable demo settings (\(error)); rerun `dnd demo --root \(layout.root.path)`")
        }
        let suite = try settings.suite()
        let store = GeneratorStore(layout: layout)
        guard let id = store.linkedID() else {
            throw DNDError("\(layout.generatorLink.path): no generator; run `dnd demo --root \(layout.root.path)` first")
        }
        let bundle = try GeneratorBundle(folder: store.folder(id))
        for d in suite where d.isHeldOut && bundle.metadata.datasets.contains(d.name) {
            throw DNDError("the generator \(bundle.metadata.identity) was trained on the held-out dataset \(d.name); remove checkpoints/\(d.name) and rerun `dnd demo`")
        }
        let encoder = try SentenceEncoder(folder: encoderFolder ?? SentenceEncoder.defaultFolder())
        let model = try CausalLM.load(layout.base)
        events.line("generator \(bundle.metadata.identity) trained on \(bundle.metadata.datasets.count) datasets; base model \(layout.base.path)")

        // The training LoRAs: the final checkpoint of every dataset the generator learned.
        var training: [(name: String, adapter: LoRAAdapter)] = []
        for name in bundle.metadata.datasets {
            let folder = layout.checkpoints.appendingPathComponent(name)
            let ckpts = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
                .filter { $0.hasPrefix("checkpoint-") }.sorted(by: naturalLess)
            guard let last = ckpts.last else { throw DNDError("\(folder.path): no checkpoint-<step> folder; rerun `dnd demo --root \(layout.root.path)`") }
            let a = try LoRAAdapter(folder: folder.appendingPathComponent(last))
            try model.validate(adapter: a)
            training.append((name, a))
        }

        var rows: [BenchReport.Row] = []
        var metric = ""
        let heldOut = suite.filter(\.isHeldOut)
        for (k, d) in heldOut.enumerated() {
            events.line("[\(k + 1)/\(heldOut.count)] \(d.name) (\(d.role)): \(d.test.count) test records")
            // (4) DnD: the daemon's path, without its cache (the prompts are encoded as a new job's would be).
            let dndFolder = paths.bench.appendingPathComponent("dnd").appendingPathComponent(d.name)
            try? FileManager.default.removeItem(at: dndFolder)
            let gen = try AdapterGeneration.run(.init(records: d.test, inputName: "\(d.name).test.jsonl", job: d.name, output: dndFolder,
                                                      evaluation: .skipped("scored by dnd bench dnd"), dndVersion: dndVersion),
                                                bundle: bundle, encoder: encoder, cache: nil)
            let dndSeconds = gen.report.timings.reduce(0) { $0 + $1.seconds }

            // (3) nearest training LoRA: cosine of mean pooled prompt embeddings, as the report's similarity.
            let n0 = Date()
            let pooled = encoder.encode(d.test.map(\.prompt), length: bundle.config.length).pooled
            let mean = Similarity.normalizedMean(pooled)
            let sims = bundle.datasetEmbeddings.map { ($0.name, Similarity.cosine(mean, $0.mean)) }
            guard let nearest = sims.max(by: { $0.1 < $1.1 }) else { throw DNDError("the generator lists no training dataset") }
            let nearestSeconds = Date().timeIntervalSince(n0)

            // (5) the upper bound: the zoo's recipe on this dataset's own training split, saved at ten points.
            let upperFolder = paths.bench.appendingPathComponent("fine-tuned").appendingPathComponent(d.name)
            try? FileManager.default.removeItem(at: upperFolder)
            var o = settings.finetune
            let every = max(1, o.steps / fineTuneCheckpoints)
            o.saveFrom = every; o.saveEvery = every
            let ft = try LoRATrainer.finetune(model: model, records: d.train, options: o, out: upperFolder, baseModelName: "base") { p in
                events.progress("fine-tune \(d.name)", p.step, p.steps, String(format: "loss %.4f", p.loss))
            }
            let upper = try LoRAAdapter(folder: ft.checkpoints.last!)

            // (1), (2), (3), (4), (5) scored on the same records.
            var models: [(name: String, adapter: LoRAAdapter?)] = [("base", nil), ("dnd", gen.adapter), ("fine-tuned", upper)]
            models += training.map { ("lora:" + $0.name, $0.adapter) }
            var done = 0
            let table = try Evaluator.evaluate(model, baseModel: layout.base.path, records: d.test, models: models) { _, _, _ in
                done += 1
                events.progress("evaluate \(d.name)", done, models.count * d.test.count, "")
            }
            metric = table.metric
            func acc(_ name: String) -> Double { table.rows.first { $0.name == name }!.accuracy }
            let perLoRA = Dictionary(uniqueKeysWithValues: training.map { ($0.name, acc("lora:" + $0.name)) })
            let dndAcc = acc("dnd")

            // When did the fine-tune first match DnD? Its saved steps, in order.
            var stepsToDnD: Int?
            for url in ft.checkpoints {
                let step = Int(url.lastPathComponent.dropFirst("checkpoint-".count)) ?? o.steps
                let a = step == o.steps ? upper : try LoRAAdapter(folder: url)
                let r = step == o.steps ? acc("fine-tuned")
                    : try Evaluator.evaluate(model, baseModel: "base", records: d.test, models: [("ft", a)]).rows[0].accuracy
                if r >= dndAcc { stepsToDnD = step; break }
            }
            let secondsPerStep = ft.seconds / Double(o.steps)
            rows.append(BenchReport.Row(
                dataset: d.name, role: d.role, records: d.test.count, base: acc("base"),
                meanLoRA: perLoRA.values.reduce(0, +) / Double(max(1, perLoRA.count)), trainingLoRAs: perLoRA,
                nearest: .init(dataset: nearest.0, cosine: nearest.1, accuracy: perLoRA[nearest.0] ?? 0, seconds: nearestSeconds),
                dnd: dndAcc, dndSeconds: dndSeconds, fineTuned: acc("fine-tuned"), fineTuneSeconds: ft.seconds, fineTuneSteps: o.steps,
                fineTuneStepsToDnD: stepsToDnD, fineTuneSecondsToDnD: stepsToDnD.map { Double($0) * secondsPerStep }))
        }
        let report = BenchReport(root: layout.root.path, generator: bundle.metadata.identity, trainedOn: bundle.metadata.datasets,
                                 metric: metric, rows: rows, dndVersion: dndVersion)
        try report.write(to: paths.bench)
        return report
    }
}
