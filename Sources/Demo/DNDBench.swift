import Foundation
import LLM
import LoRA
import Pipeline
import TensorCore
import TextEncoder
import Workspace

/// `dnd bench dnd`: on a root built by `dnd demo`, each held-out dataset's test split is scored with the base model,
/// the element-wise mean of the training LoRAs, the training LoRA nearest by prompt-embedding similarity, the best
/// training LoRA with hindsight (oracle), the DnD adapter generated from the test prompts, and a LoRA fine-tuned on
/// the dataset's own training split with the zoo's recipe (accuracy and mean response NLL); the time to obtain each
/// adapter is measured (models loaded beforehand, as a daemon has them); the DnD adapters are placed in weight space
/// against the others; and the generator is scored on its own training datasets (its fit).
public enum DNDBench {
    /// Every `fineTuneCheckpoints`-th fraction of the upper-bound run is saved, to find when it first matches DnD.
    public static let fineTuneCheckpoints = 10

    /// Runs the benchmark on `root`; the upper-bound LoRAs and DnD adapters are written under demo/bench/.
    /// Test records each training dataset's fit is measured on.
    public static let defaultFitRecords = 20

    public static func run(root: URL, encoderFolder: URL?, dndVersion: String, fitRecords: Int = defaultFitRecords,
                           events: DemoRunner.Events) throws -> BenchReport {
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

        let meanLoRA = try DeltaGeometry.elementwiseMean(training.map(\.adapter))
        let zooPairwise = pairwise(training.map(\.adapter))

        var rows: [BenchReport.Row] = []
        var generated: [LoRAAdapter] = []
        var metric = ""
        let heldOut = suite.filter(\.isHeldOut)
        for (k, d) in heldOut.enumerated() {
            events.line("[\(k + 1)/\(heldOut.count)] \(d.name) (\(d.role)): \(d.test.count) test records")
            // DnD: the daemon's path, without its cache (the prompts are encoded as a new job's would be).
            let dndFolder = paths.bench.appendingPathComponent("dnd").appendingPathComponent(d.name)
            try? FileManager.default.removeItem(at: dndFolder)
            let gen = try AdapterGeneration.run(.init(records: d.test, inputName: "\(d.name).test.jsonl", job: d.name, output: dndFolder,
                                                      evaluation: .skipped("scored by dnd bench dnd"), dndVersion: dndVersion),
                                                bundle: bundle, encoder: encoder, cache: nil)
            let dndSeconds = gen.report.timings.filter(\.stage.isGeneration).reduce(0) { $0 + $1.seconds }
            generated.append(gen.adapter)

            // The nearest training LoRA: cosine of mean pooled prompt embeddings, as the report's similarity.
            let pooled = encoder.encode(d.test.map(\.prompt), length: bundle.config.length).pooled
            let mean = Similarity.normalizedMean(pooled)
            let sims = bundle.datasetEmbeddings.map { ($0.name, Similarity.cosine(mean, $0.mean)) }
            guard let nearest = sims.max(by: { $0.1 < $1.1 }) else { throw DNDError("the generator lists no training dataset") }

            // The upper bound: the zoo's recipe on this dataset's own training split, saved at ten points.
            let upperFolder = paths.bench.appendingPathComponent("fine-tuned").appendingPathComponent(d.name)
            try? FileManager.default.removeItem(at: upperFolder)
            var o = settings.finetune
            let every = max(1, o.steps / fineTuneCheckpoints)
            o.saveFrom = every; o.saveEvery = every
            let ft = try LoRATrainer.finetune(model: model, records: d.train, options: o, out: upperFolder) { p in
                events.progress("fine-tune \(d.name)", p.step, p.steps, String(format: "loss %.4f", p.loss))
            }
            let upper = try LoRAAdapter(folder: ft.checkpoints.last!)

            // Every contender scored on the same records.
            var models: [(name: String, adapter: LoRAAdapter?)] = [("base", nil), ("dnd", gen.adapter), ("mean LoRA", meanLoRA), ("fine-tuned", upper)]
            models += training.map { ("lora:" + $0.name, $0.adapter) }
            var finished = 0, last = ""
            let table = try Evaluator.evaluate(model, baseModel: layout.base.path, records: d.test, models: models) { name, done, count in
                if name != last && !last.isEmpty { finished += count }
                last = name
                events.progress("evaluate \(d.name)", finished + done, models.count * count, name)
            }
            metric = table.metric
            func score(_ name: String, as shown: String? = nil) -> BenchReport.Score {
                let row = table.rows.first { $0.name == name }!
                return .init(accuracy: row.accuracy, nll: row.meanNLL, name: shown)
            }
            let perLoRA = Dictionary(uniqueKeysWithValues: training.map { ($0.name, score("lora:" + $0.name).accuracy) })
            // The oracle: the best training LoRA here, ties broken by the lower NLL.
            let best = training.map { score("lora:" + $0.name, as: $0.name) }.max {
                $0.accuracy < $1.accuracy || ($0.accuracy == $1.accuracy && ($0.nll ?? .infinity) > ($1.nll ?? .infinity))
            }!
            let dndScore = score("dnd")

            // When did the fine-tune first match DnD? Its saved steps, in order.
            var stepsToDnD: Int?
            for url in ft.checkpoints {
                let step = Int(url.lastPathComponent.dropFirst("checkpoint-".count)) ?? o.steps
                let r = step == o.steps ? score("fine-tuned").accuracy
                    : try Evaluator.evaluate(model, baseModel: "base", records: d.test, models: [("ft", try LoRAAdapter(folder: url))]).rows[0].accuracy
                if r >= dndScore.accuracy { stepsToDnD = step; break }
            }
            let secondsPerStep = ft.seconds / Double(o.steps)
            let nearestAdapter = training.first { $0.name == nearest.0 }?.adapter ?? meanLoRA
            let geometry = BenchReport.Geometry(dndNorm: DeltaGeometry.norm(gen.adapter), fineTunedNorm: DeltaGeometry.norm(upper),
                                                cosineFineTuned: DeltaGeometry.cosine(gen.adapter, upper),
                                                cosineMeanLoRA: DeltaGeometry.cosine(gen.adapter, meanLoRA),
                                                cosineNearest: DeltaGeometry.cosine(gen.adapter, nearestAdapter))
            rows.append(BenchReport.Row(
                dataset: d.name, role: d.role, records: d.test.count, base: score("base"), meanLoRA: score("mean LoRA"),
                nearest: .init(accuracy: perLoRA[nearest.0] ?? 0, nll: training.contains { $0.name == nearest.0 } ? score("lora:" + nearest.0).nll : nil, name: nearest.0),
                nearestCosine: nearest.1, oracle: best, trainingLoRAs: perLoRA, dnd: dndScore, dndSeconds: dndSeconds,
                fineTuned: score("fine-tuned"), fineTuneSeconds: ft.seconds, fineTuneSteps: o.steps,
                fineTuneStepsToDnD: stepsToDnD, fineTuneSecondsToDnD: stepsToDnD.map { Double($0) * secondsPerStep }, geometry: geometry))
        }

        // Fit before generalization: the generator on its own training datasets.
        var fit: [BenchReport.Fit] = []
        for (i, t) in training.enumerated() {
            guard let d = suite.first(where: { $0.name == t.name }) else { continue }
            let records = Array(d.test.prefix(fitRecords))
            events.progress("fit on the training datasets", i, training.count, t.name)
            let folder = paths.bench.appendingPathComponent("fit").appendingPathComponent(t.name)
            try? FileManager.default.removeItem(at: folder)
            let g = try AdapterGeneration.run(.init(records: d.test, inputName: "\(d.name).test.jsonl", job: d.name, output: folder,
                                                    evaluation: .skipped("scored by dnd bench dnd"), dndVersion: dndVersion),
                                              bundle: bundle, encoder: encoder, cache: nil)
            let table = try Evaluator.evaluate(model, baseModel: "base", records: records, models: [("generated", g.adapter), ("checkpoint", t.adapter)])
            fit.append(.init(dataset: t.name, generated: table.rows[0].accuracy, checkpoint: table.rows[1].accuracy,
                             cosine: DeltaGeometry.cosine(g.adapter, t.adapter), normRatio: DeltaGeometry.norm(g.adapter) / max(DeltaGeometry.norm(t.adapter), 1e-12)))
        }
        events.progress("fit on the training datasets", training.count, training.count, "")
        let report = BenchReport(root: layout.root.path, generator: bundle.metadata.identity, trainedOn: bundle.metadata.datasets,
                                 metric: metric, rows: rows, generatedPairwise: pairwise(generated), zooPairwise: zooPairwise, fit: fit,
                                 dndVersion: dndVersion)
        try report.write(to: paths.bench)
        return report
    }

    /// ΔW cosines of every pair.
    static func pairwise(_ adapters: [LoRAAdapter]) -> [Double] {
        var out: [Double] = []
        for i in adapters.indices { for j in adapters.indices where j > i { out.append(DeltaGeometry.cosine(adapters[i], adapters[j])) } }
        return out
    }
}
