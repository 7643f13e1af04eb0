import Foundation
import TensorCore

/// `dnd bench dnd --seeds K`: the demo and the bench over K suite/training seeds, so that a difference between
/// columns can be told from noise. Seed k rebuilds the whole root under `<root>/demo/seeds/seed-<k>/` with the root's
/// settings, every seed (suite, LoRA runs, generator) shifted by k; seed 0 is the root's own run.
public struct SeedBench: Codable, Sendable {
    /// Mean and sample standard deviation over the seeds.
    public struct Spread: Codable, Sendable, Equatable {
        public var mean: Double
        public var std: Double
        public init(_ xs: [Double]) {
            let m = xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count)
            mean = m
            std = xs.count < 2 ? 0 : (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot()
        }
    }

    /// One column's accuracy over the seeds, per held-out role position (datasets differ by seed only in records) and
    /// on the mean.
    public struct Column: Codable, Sendable, Equatable {
        public var name: String
        public var perDataset: [String: Spread]
        public var mean: Spread
        enum CodingKeys: String, CodingKey { case name, perDataset = "per_dataset", mean }
    }

    /// Where one held-out dataset's DnD adapters sit in weight space over the seeds (ΔW = s·B·A over every module).
    public struct Geometry: Codable, Sendable, Equatable {
        public var normRatio: Spread
        public var cosineFineTuned: Spread
        public var cosineMeanLoRA: Spread
        public var cosineNearest: Spread
        enum CodingKeys: String, CodingKey {
            case normRatio = "norm_ratio", cosineFineTuned = "cosine_fine_tuned", cosineMeanLoRA = "cosine_mean_lora", cosineNearest = "cosine_nearest"
        }
    }

    public var seeds: [UInt64]
    public var roots: [String]
    public var columns: [Column]
    /// The share of the fine-tune's gain DnD recovers, and the generator's fit relative to its checkpoints.
    public var recovered: Spread
    public var fitRatio: Spread
    /// Per held-out dataset: ‖ΔW_dnd‖/‖ΔW_fine-tuned‖ and the cosines with the fine-tuned, mean and nearest LoRA.
    public var geometry: [String: Geometry]
    /// Each seed's mean pairwise ΔW cosine among its held-out DnD adapters (task dependence) and among its training
    /// checkpoints (what task dependence looks like).
    public var generatedPairwise: Spread
    public var zooPairwise: Spread
    /// Each seed's mean ΔW cosine between the generated adapter and the checkpoint on its own training datasets.
    public var fitCosine: Spread
    /// Fine-tuning time over DnD's generation time, per seed over all held-out datasets.
    public var overhead: Spread

    enum CodingKeys: String, CodingKey {
        case seeds, roots, columns, recovered, fitRatio = "fit_ratio", geometry, generatedPairwise = "generated_pairwise"
        case zooPairwise = "zoo_pairwise", fitCosine = "fit_cosine", overhead
    }

    /// Aggregates one bench report per seed.
    public init(seeds: [UInt64], roots: [String], reports: [BenchReport]) {
        self.seeds = seeds; self.roots = roots
        let names = BenchReport.columns
        func pick(_ r: BenchReport.Row, _ i: Int) -> Double {
            [r.base, r.meanLoRA, r.nearest, r.oracle, r.dnd, r.fineTuned][i].accuracy
        }
        let datasets = reports.first?.rows.map(\.dataset) ?? []
        columns = names.enumerated().map { i, name in
            var per: [String: Spread] = [:]
            for d in datasets { per[d] = Spread(reports.compactMap { rep in rep.rows.first { $0.dataset == d }.map { pick($0, i) } }) }
            return Column(name: name, perDataset: per, mean: Spread(reports.map { rep in BenchReport.mean(rep.rows.map { pick($0, i) }) }))
        }
        recovered = Spread(reports.compactMap(\.recoveredOnMean))
        fitRatio = Spread(reports.compactMap { rep in
            let c = BenchReport.mean(rep.fit.map(\.checkpoint))
            return c > 0 ? BenchReport.mean(rep.fit.map(\.generated)) / c : nil
        })
        var geo: [String: Geometry] = [:]
        for d in datasets {
            let g = reports.compactMap { rep in rep.rows.first { $0.dataset == d }?.geometry }
            geo[d] = Geometry(normRatio: Spread(g.map(\.normRatio)), cosineFineTuned: Spread(g.map(\.cosineFineTuned)),
                              cosineMeanLoRA: Spread(g.map(\.cosineMeanLoRA)), cosineNearest: Spread(g.map(\.cosineNearest)))
        }
        geometry = geo
        generatedPairwise = Spread(reports.filter { !$0.generatedPairwise.isEmpty }.map { BenchReport.mean($0.generatedPairwise) })
        zooPairwise = Spread(reports.filter { !$0.zooPairwise.isEmpty }.map { BenchReport.mean($0.zooPairwise) })
        fitCosine = Spread(reports.filter { !$0.fit.isEmpty }.map { BenchReport.mean($0.fit.map(\.cosine)) })
        overhead = Spread(reports.filter { !$0.rows.isEmpty }.map(\.overallOverhead))
    }

    /// The criteria on the means over the seeds, in words: where DnD's mean does not beat the base, the mean
    /// LoRA or the nearest LoRA on a held-out dataset, or the oracle on the mean.
    public var shortfalls: [String] {
        func column(_ name: String) -> Column? { columns.first { $0.name == name } }
        guard let dnd = column("DnD") else { return [] }
        var out: [String] = []
        for d in dnd.perDataset.keys.sorted() {
            for rival in ["base", "mean LoRA", "nearest LoRA"] {
                guard let r = column(rival)?.perDataset[d], let m = dnd.perDataset[d], m.mean <= r.mean else { continue }
                out.append(String(format: "%@: DnD %.1f%% does not beat the %@ %.1f%%", d, 100 * m.mean, rival, 100 * r.mean))
            }
        }
        if let oracle = column("oracle LoRA"), dnd.mean.mean <= oracle.mean.mean {
            out.append(String(format: "mean: DnD %.1f%% does not beat the oracle LoRA %.1f%%", 100 * dnd.mean.mean, 100 * oracle.mean.mean))
        }
        return out
    }

    /// The settings of seed `k`: every seed of the suite, the LoRA recipe and the generator shifted by k.
    public static func settings(_ s: DemoSettings, seed k: UInt64) -> DemoSettings {
        var t = s
        t.seed = s.seed &+ k
        t.finetune.seed = s.finetune.seed &+ k
        t.generator.seed = s.generator.seed &+ k
        return t
    }

    /// Mean ± std per column and dataset, as aligned text.
    public var text: String {
        let p = DemoReportText.pad
        func cell(_ s: Spread) -> String { String(format: "%5.1f ± %4.1f", 100 * s.mean, 100 * s.std) }
        var out = "over \(seeds.count) seeds (\(seeds.map(String.init).joined(separator: ", "))), accuracy % mean ± std\n"
        out += p("held-out dataset", 18) + columns.map { p($0.name, 15) }.joined() + "\n"
        for d in columns.first?.perDataset.keys.sorted() ?? [] {
            out += p(d, 18) + columns.map { p(cell($0.perDataset[d]!), 15) }.joined() + "\n"
        }
        out += p("mean", 18) + columns.map { p(cell($0.mean), 15) }.joined() + "\n"
        out += String(format: "DnD recovers %.0f%% ± %.0f%% of the fine-tuned gain; the generator reaches %.0f%% ± %.0f%% of its checkpoints' accuracy on its training datasets (ΔW cosine %.2f ± %.2f)\n",
                      100 * recovered.mean, 100 * recovered.std, 100 * fitRatio.mean, 100 * fitRatio.std, fitCosine.mean, fitCosine.std)
        func two(_ s: Spread) -> String { String(format: "%.2f ± %.2f", s.mean, s.std) }
        out += "\nweight space, mean ± std over the seeds (ΔW = s·B·A over every module)\n"
        out += p("held-out dataset", 18) + ["|DnD|/|ft|", "cos(DnD,ft)", "cos(DnD,mean)", "cos(DnD,nearest)"].map { p($0, 18) }.joined() + "\n"
        for d in geometry.keys.sorted() {
            let g = geometry[d]!
            out += p(d, 18) + [g.normRatio, g.cosineFineTuned, g.cosineMeanLoRA, g.cosineNearest].map { p(two($0), 18) }.joined() + "\n"
        }
        out += "pairwise cosine among the held-out DnD adapters \(two(generatedPairwise)), among the training checkpoints \(two(zooPairwise))\n"
        out += String(format: "fine-tuning takes %.0f× ± %.0f× DnD's time\n", overhead.mean, overhead.std)
        let short = shortfalls
        out += short.isEmpty ? "On the means: DnD beats the base, the mean LoRA and the nearest LoRA on every held-out dataset, and the oracle LoRA on the mean.\n"
            : "On the means, DnD falls short:\n" + short.map { "  - \($0)\n" }.joined()
        return out
    }

    /// Writes `seeds.json` into `folder`.
    public func write(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(self), to: folder.appendingPathComponent("seeds.json"))
    }
}
