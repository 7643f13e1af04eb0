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

    public var seeds: [UInt64]
    public var roots: [String]
    public var columns: [Column]
    /// The share of the fine-tune's gain DnD recovers, and the generator's fit relative to its checkpoints.
    public var recovered: Spread
    public var fitRatio: Spread

    enum CodingKeys: String, CodingKey { case seeds, roots, columns, recovered, fitRatio = "fit_ratio" }

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
        out += String(format: "DnD recovers %.0f%% ± %.0f%% of the fine-tuned gain; the generator reaches %.0f%% ± %.0f%% of its checkpoints' accuracy on its training datasets\n",
                      100 * recovered.mean, 100 * recovered.std, 100 * fitRatio.mean, 100 * fitRatio.std)
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
