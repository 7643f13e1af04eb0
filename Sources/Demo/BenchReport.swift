import Foundation
import Pipeline
import TensorCore

/// What `dnd bench dnd` measured on a demo root: per held-out dataset, the accuracy and mean response NLL of every
/// contender, the time to obtain each adapter, and where DnD's adapters sit in weight space; the generator's fit on
/// its own training datasets. Saved as `bench.json`, printed as a table, rendered as one self-contained HTML page.
public struct BenchReport: Codable, Sendable {
    /// One contender on one dataset: accuracy (exact match or choice), mean NLL per response token, and, for the
    /// named ones (nearest, oracle), which training LoRA it is.
    public struct Score: Codable, Sendable, Equatable {
        public var accuracy: Double
        public var nll: Double?
        public var name: String?
        public init(accuracy: Double, nll: Double? = nil, name: String? = nil) { self.accuracy = accuracy; self.nll = nll; self.name = name }
    }

    /// ΔW = s·B·A of the DnD adapter against the fine-tuned one, the element-wise mean LoRA and the nearest LoRA.
    public struct Geometry: Codable, Sendable, Equatable {
        public var dndNorm: Double
        public var fineTunedNorm: Double
        public var cosineFineTuned: Double
        public var cosineMeanLoRA: Double
        public var cosineNearest: Double
        public var normRatio: Double { dndNorm / max(fineTunedNorm, 1e-12) }
        public init(dndNorm: Double, fineTunedNorm: Double, cosineFineTuned: Double, cosineMeanLoRA: Double, cosineNearest: Double) {
            self.dndNorm = dndNorm; self.fineTunedNorm = fineTunedNorm; self.cosineFineTuned = cosineFineTuned
            self.cosineMeanLoRA = cosineMeanLoRA; self.cosineNearest = cosineNearest
        }
        enum CodingKeys: String, CodingKey {
            case dndNorm = "dnd_norm", fineTunedNorm = "fine_tuned_norm", cosineFineTuned = "cosine_fine_tuned"
            case cosineMeanLoRA = "cosine_mean_lora", cosineNearest = "cosine_nearest"
        }
    }

    /// One held-out dataset.
    public struct Row: Codable, Sendable, Equatable {
        public var dataset: String
        public var role: String
        public var records: Int
        /// The base model alone.
        public var base: Score
        /// The element-wise mean of the training LoRAs (the average of A and of B: what a generator that ignores its
        /// prompts tends to).
        public var meanLoRA: Score
        /// The training LoRA nearest by prompt-embedding similarity, and that cosine.
        public var nearest: Score
        public var nearestCosine: Double
        /// The best single training LoRA on this dataset, picked with hindsight (the paper's strongest baseline).
        public var oracle: Score
        /// Every training LoRA's accuracy here.
        public var trainingLoRAs: [String: Double]
        /// The DnD adapter generated from the test prompts, and the seconds it took (encode, generate, write).
        public var dnd: Score
        public var dndSeconds: Double
        /// A LoRA fine-tuned on the dataset's own training split with the zoo's recipe (the upper bound).
        public var fineTuned: Score
        public var fineTuneSeconds: Double
        public var fineTuneSteps: Int
        /// The first saved step at which the fine-tune matched DnD's accuracy (nil: never), and its time.
        public var fineTuneStepsToDnD: Int?
        public var fineTuneSecondsToDnD: Double?
        public var geometry: Geometry

        public init(dataset: String, role: String, records: Int, base: Score, meanLoRA: Score, nearest: Score, nearestCosine: Double,
                    oracle: Score, trainingLoRAs: [String: Double], dnd: Score, dndSeconds: Double, fineTuned: Score,
                    fineTuneSeconds: Double, fineTuneSteps: Int, fineTuneStepsToDnD: Int?, fineTuneSecondsToDnD: Double?, geometry: Geometry) {
            self.dataset = dataset; self.role = role; self.records = records; self.base = base; self.meanLoRA = meanLoRA
            self.nearest = nearest; self.nearestCosine = nearestCosine; self.oracle = oracle; self.trainingLoRAs = trainingLoRAs
            self.dnd = dnd; self.dndSeconds = dndSeconds; self.fineTuned = fineTuned; self.fineTuneSeconds = fineTuneSeconds
            self.fineTuneSteps = fineTuneSteps; self.fineTuneStepsToDnD = fineTuneStepsToDnD; self.fineTuneSecondsToDnD = fineTuneSecondsToDnD
            self.geometry = geometry
        }

        /// Fine-tuning time over DnD generation time (full fine-tune).
        public var overhead: Double { fineTuneSeconds / max(dndSeconds, 1e-9) }
        /// The same at equal accuracy: the fine-tune's time until it first matched DnD.
        public var overheadAtEqualAccuracy: Double? { fineTuneSecondsToDnD.map { $0 / max(dndSeconds, 1e-9) } }
        /// The share of the fine-tune's gain over the base that DnD recovers (nil when the fine-tune gains nothing).
        public var recovered: Double? {
            let gain = fineTuned.accuracy - base.accuracy
            return gain > 0 ? (dnd.accuracy - base.accuracy) / gain : nil
        }

        enum CodingKeys: String, CodingKey {
            case dataset, role, records, base, meanLoRA = "mean_lora", nearest, nearestCosine = "nearest_cosine", oracle
            case trainingLoRAs = "training_loras", dnd, dndSeconds = "dnd_seconds", fineTuned = "fine_tuned"
            case fineTuneSeconds = "fine_tune_seconds", fineTuneSteps = "fine_tune_steps"
            case fineTuneStepsToDnD = "fine_tune_steps_to_dnd", fineTuneSecondsToDnD = "fine_tune_seconds_to_dnd", geometry
        }
    }

    /// The generator on one of its own training datasets (fit before generalization): the accuracy of the adapter it
    /// generates from that dataset's test prompts against the dataset's own final checkpoint, and their ΔW cosine.
    public struct Fit: Codable, Sendable, Equatable {
        public var dataset: String
        public var generated: Double
        public var checkpoint: Double
        public var cosine: Double
        public var normRatio: Double
        public init(dataset: String, generated: Double, checkpoint: Double, cosine: Double, normRatio: Double) {
            self.dataset = dataset; self.generated = generated; self.checkpoint = checkpoint; self.cosine = cosine; self.normRatio = normRatio
        }
        enum CodingKeys: String, CodingKey { case dataset, generated, checkpoint, cosine, normRatio = "norm_ratio" }
    }

    public var created: String
    public var root: String
    public var generator: String
    public var trainedOn: [String]
    public var metric: String
    public var rows: [Row]
    /// Pairwise ΔW cosines among the held-out DnD adapters (task dependence: near 1 means one adapter for all) and
    /// among the training checkpoints (what task dependence looks like).
    public var generatedPairwise: [Double]
    public var zooPairwise: [Double]
    public var fit: [Fit]
    public var dndVersion: String

    public init(root: String, generator: String, trainedOn: [String], metric: String, rows: [Row], generatedPairwise: [Double] = [],
                zooPairwise: [Double] = [], fit: [Fit] = [], dndVersion: String) {
        created = ISO8601DateFormatter().string(from: Date())
        self.root = root; self.generator = generator; self.trainedOn = trainedOn; self.metric = metric; self.rows = rows
        self.generatedPairwise = generatedPairwise; self.zooPairwise = zooPairwise; self.fit = fit; self.dndVersion = dndVersion
    }

    enum CodingKeys: String, CodingKey {
        case created, root, generator, trainedOn = "trained_on", metric, rows, generatedPairwise = "generated_pairwise"
        case zooPairwise = "zoo_pairwise", fit, dndVersion = "dnd_version"
    }

    // MARK: - Aggregates

    func mean(_ f: (Row) -> Double) -> Double { rows.isEmpty ? 0 : rows.map(f).reduce(0, +) / Double(rows.count) }
    static func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }

    /// Total fine-tuning time over total DnD generation time.
    public var overallOverhead: Double {
        rows.map(\.fineTuneSeconds).reduce(0, +) / max(rows.map(\.dndSeconds).reduce(0, +), 1e-9)
    }

    /// The same at equal accuracy, over the datasets where the fine-tune matched DnD.
    public var overallOverheadAtEqualAccuracy: Double? {
        let matched = rows.filter { $0.fineTuneSecondsToDnD != nil }
        guard !matched.isEmpty else { return nil }
        return matched.map { $0.fineTuneSecondsToDnD! }.reduce(0, +) / max(matched.map(\.dndSeconds).reduce(0, +), 1e-9)
    }

    /// DnD's share of the fine-tune's gain over the base, on the mean accuracies.
    public var recoveredOnMean: Double? {
        let gain = mean(\.fineTuned.accuracy) - mean(\.base.accuracy)
        return gain > 0 ? (mean(\.dnd.accuracy) - mean(\.base.accuracy)) / gain : nil
    }

    /// Where DnD does not reach a baseline, in words (the honest part of the table).
    public var shortfalls: [String] {
        var out: [String] = []
        for r in rows {
            let d = r.dnd.accuracy
            if d <= r.base.accuracy { out.append("\(r.dataset): DnD (\(pct(d))) does not beat the base model (\(pct(r.base.accuracy)))") }
            if d <= r.meanLoRA.accuracy { out.append("\(r.dataset): DnD (\(pct(d))) does not beat the mean LoRA (\(pct(r.meanLoRA.accuracy)))") }
            if d <= r.nearest.accuracy {
                out.append("\(r.dataset): DnD (\(pct(d))) does not beat the nearest training LoRA \(r.nearest.name ?? "?") (\(pct(r.nearest.accuracy)))")
            }
            if d < r.fineTuned.accuracy { out.append("\(r.dataset): DnD (\(pct(d))) falls short of the fine-tuned upper bound (\(pct(r.fineTuned.accuracy)))") }
        }
        if !rows.isEmpty && mean(\.dnd.accuracy) <= mean(\.oracle.accuracy) {
            out.append("mean: DnD (\(pct(mean(\.dnd.accuracy)))) does not beat the oracle best training LoRA (\(pct(mean(\.oracle.accuracy))))")
        }
        return out
    }

    // MARK: - Text

    static let columns = ["base", "mean LoRA", "nearest LoRA", "oracle LoRA", "DnD", "fine-tuned"]
    func scores(_ r: Row) -> [Score] { [r.base, r.meanLoRA, r.nearest, r.oracle, r.dnd, r.fineTuned] }

    /// The tables as aligned text: accuracy (and NLL) per contender, times and ratios, weight space, the fit on the
    /// training datasets, and the shortfalls.
    public var text: String {
        let p = DemoReportText.pad
        // Columns one wider than the longest name ("nearest LoRA"), so that names never touch.
        let w = Self.columns.map(\.count).max()! + 1
        var s = p("held-out dataset", 18) + p("role", 13) + Self.columns.map { lpad($0, w) }.joined() + "\n"
        for r in rows {
            s += p(r.dataset, 18) + p(r.role, 13) + scores(r).map { lpad(pct($0.accuracy), w) }.joined() + "\n"
            s += p("", 18) + p("  NLL", 13) + scores(r).map { lpad($0.nll.map { String(format: "%.3f", $0) } ?? "-", w) }.joined() + "\n"
        }
        s += p("mean", 31) + (0..<Self.columns.count).map { i in lpad(pct(mean { scores($0)[i].accuracy }), w) }.joined() + "\n"
        let named = rows.map { "\($0.dataset): nearest \($0.nearest.name ?? "?") (cosine \(String(format: "%.2f", $0.nearestCosine))), oracle \($0.oracle.name ?? "?")" }
        s += "\n" + named.joined(separator: "\n") + "\n"
        s += "\n" + p("held-out dataset", 18) + lpad("DnD s", 8) + lpad("fine-tune s", 13) + lpad("ratio", 8) + lpad("to DnD's accuracy", 22) + lpad("recovered", 11) + "\n"
        for r in rows {
            let eq = r.overheadAtEqualAccuracy.map { "\(ratio($0)) (step \(r.fineTuneStepsToDnD!))" } ?? "not matched"
            s += p(r.dataset, 18) + String(format: "%8.3f %12.2f ", r.dndSeconds, r.fineTuneSeconds) + lpad(ratio(r.overhead), 7)
            s += lpad(eq, 22) + lpad(r.recovered.map(pct) ?? "-", 11) + "\n"
        }
        s += "\n" + overheadText + "\n"
        if let rec = recoveredOnMean { s += "DnD recovers \(pct(rec)) of the fine-tuned LoRA's gain over the base (mean accuracy).\n" }
        s += "\nWeight space (ΔW = s·B·A over every module):\n"
        s += p("held-out dataset", 18) + lpad("|DnD|/|ft|", 12) + lpad("cos(DnD,ft)", 13) + lpad("cos(DnD,mean)", 15) + lpad("cos(DnD,nearest)", 18) + "\n"
        for r in rows {
            let g = r.geometry
            s += p(r.dataset, 18) + String(format: "%12.2f %12.3f %14.3f %17.3f", g.normRatio, g.cosineFineTuned, g.cosineMeanLoRA, g.cosineNearest) + "\n"
        }
        if !generatedPairwise.isEmpty {
            s += String(format: "pairwise cosine among the held-out DnD adapters: mean %.3f (min %.3f, max %.3f); among the training checkpoints: mean %.3f\n",
                        Self.mean(generatedPairwise), generatedPairwise.min()!, generatedPairwise.max()!, Self.mean(zooPairwise))
        }
        if !fit.isEmpty {
            s += "\nFit on the generator's own training datasets (adapter generated from each dataset's test prompts):\n"
            s += p("training dataset", 18) + lpad("generated", 11) + lpad("checkpoint", 12) + lpad("cos", 8) + lpad("|gen|/|ckpt|", 14) + "\n"
            for f in fit { s += p(f.dataset, 18) + lpad(pct(f.generated), 11) + lpad(pct(f.checkpoint), 12) + String(format: "%8.3f %13.2f", f.cosine, f.normRatio) + "\n" }
            let g = Self.mean(fit.map(\.generated)), c = Self.mean(fit.map(\.checkpoint))
            s += p("mean", 18) + lpad(pct(g), 11) + lpad(pct(c), 12) + String(format: "%8.3f", Self.mean(fit.map(\.cosine)))
            s += (c > 0 ? String(format: "   (the generator reaches %.0f%% of its checkpoints' accuracy)", 100 * g / c) : "") + "\n"
        }
        let short = shortfalls
        s += "\n" + (short.isEmpty ? "DnD beats the base model, the mean LoRA and the nearest LoRA on every held-out dataset, the oracle LoRA on the mean, and reaches the fine-tuned upper bound.\n"
            : "Where DnD falls short:\n" + short.map { "  - \($0)\n" }.joined())
        return s
    }

    /// The overhead sentence: full fine-tune and at equal accuracy.
    public var overheadText: String {
        var s = String(format: "Fine-tuning a LoRA (%d steps) takes %@ the time DnD takes to generate one (total %.2f s vs %.3f s).",
                       rows.first?.fineTuneSteps ?? 0, ratio(overallOverhead), rows.map(\.fineTuneSeconds).reduce(0, +), rows.map(\.dndSeconds).reduce(0, +))
        if let eq = overallOverheadAtEqualAccuracy {
            let n = rows.filter { $0.fineTuneSecondsToDnD != nil }.count
            s += String(format: " At equal accuracy (fine-tuning stopped at the first saved step that matches DnD, %d of %d datasets): %@.", n, rows.count, ratio(eq))
        } else {
            s += " The fine-tune never matched DnD's accuracy at a saved step."
        }
        return s
    }

    func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }

    /// A ratio with two significant digits or more ("0.42×", "3.1×", "120×").
    func ratio(_ x: Double) -> String { String(format: x < 1 ? "%.2f×" : x < 10 ? "%.1f×" : "%.0f×", x) }

    /// `s` right-aligned in `n` columns.
    func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }

    // MARK: - HTML

    /// One self-contained page: the tables, one bar chart per dataset (accuracy) and one of NLL, the times, the
    /// weight-space figures, the fit, the shortfalls.
    public var html: String {
        func e(_ s: String) -> String { ReportHTML.escape(s) }
        var h = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dnd bench dnd</title><style>"
        h += "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        h += "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:right}"
        h += "th{background:#f4f4f4}td:first-child,td:nth-child(2){text-align:left}.muted{color:#777}"
        h += ".warn{background:#fff4d6;padding:.3em .8em;border-left:4px solid #e0a800;margin:.2em 0}</style></head><body>"
        h += "<h1>DnD against its baselines on held-out datasets</h1>"
        h += "<p class=\"muted\">\(e(created)) · dnd \(e(dndVersion)) · root \(e(root)) · generator \(e(generator)) trained on \(trainedOn.count) datasets (\(e(trainedOn.joined(separator: ", ")))) · metric: \(e(metric))</p>"
        h += "<table><tr><th>dataset</th><th>role</th>" + Self.columns.map { "<th>\(e($0))</th>" }.joined() + "</tr>"
        for r in rows {
            h += "<tr><td>\(e(r.dataset))</td><td>\(e(r.role))</td>"
            for (i, sc) in scores(r).enumerated() {
                let cell = pct(sc.accuracy) + (sc.name.map { " <span class=\"muted\">\(e($0))</span>" } ?? "")
                    + (sc.nll.map { String(format: "<br><span class=\"muted\">NLL %.3f</span>", $0) } ?? "")
                h += i == 4 ? "<td><b>\(cell)</b></td>" : "<td>\(cell)</td>"
            }
            h += "</tr>"
        }
        h += "<tr><td><b>mean</b></td><td></td>" + (0..<Self.columns.count).map { i in "<td>\(pct(mean { scores($0)[i].accuracy }))</td>" }.joined() + "</tr></table>"
        h += "<table><tr><th>dataset</th><th>DnD s</th><th>fine-tune s</th><th>ratio</th><th>ratio at equal accuracy</th><th>recovered gain</th></tr>"
        for r in rows {
            h += "<tr><td>\(e(r.dataset))</td><td>\(String(format: "%.3f", r.dndSeconds))</td><td>\(String(format: "%.2f", r.fineTuneSeconds))</td><td>\(ratio(r.overhead))</td>"
            h += "<td>\(r.overheadAtEqualAccuracy.map { String(format: "%@ (step %d)", ratio($0), r.fineTuneStepsToDnD!) } ?? "not matched")</td>"
            h += "<td>\(r.recovered.map(pct) ?? "-")</td></tr>"
        }
        h += "</table><p>\(e(overheadText))</p>"
        let short = shortfalls
        if short.isEmpty { h += "<p>DnD beats every baseline and matches the upper bound on every held-out dataset.</p>" }
        for s in short { h += "<p class=\"warn\">\(e(s))</p>" }
        h += "<h2>Accuracy per held-out dataset</h2>"
        for r in rows {
            h += "<h3>\(e(r.dataset)) <span class=\"muted\">(\(e(r.role)), \(r.records) records)</span></h3>"
            let labels = ["base", "mean LoRA", "nearest: \(r.nearest.name ?? "?")", "oracle: \(r.oracle.name ?? "?")", "DnD", "fine-tuned (upper bound)"]
            h += ReportHTML.barChart(zip(labels, scores(r)).map { ($0, 100 * $1.accuracy) }, maxValue: 100, format: "%.1f%%", color: "#2f8a4c")
        }
        h += "<h2>Mean response NLL (lower is better)</h2>"
        h += ReportHTML.barChart(rows.flatMap { r in zip(Self.columns, scores(r)).compactMap { c, sc in sc.nll.map { ("\(r.dataset) \(c)", $0) } } }, format: "%.3f")
        h += "<h2>Seconds to obtain the adapter</h2><p class=\"muted\">DnD: encode the prompts, generate, write; fine-tuned: the whole LoRA run with the zoo's recipe</p>"
        h += ReportHTML.barChart(rows.flatMap { [("\($0.dataset) DnD", $0.dndSeconds), ("\($0.dataset) fine-tune", $0.fineTuneSeconds)] }, format: "%.3f s")
        h += "<h2>Weight space</h2><table><tr><th>dataset</th><th>|ΔW DnD| / |ΔW fine-tuned|</th><th>cos(DnD, fine-tuned)</th><th>cos(DnD, mean LoRA)</th><th>cos(DnD, nearest)</th></tr>"
        for r in rows {
            let g = r.geometry
            h += "<tr><td>\(e(r.dataset))</td><td>\(String(format: "%.2f", g.normRatio))</td><td>\(String(format: "%.3f", g.cosineFineTuned))</td><td>\(String(format: "%.3f", g.cosineMeanLoRA))</td><td>\(String(format: "%.3f", g.cosineNearest))</td></tr>"
        }
        h += "</table>"
        if !generatedPairwise.isEmpty {
            h += String(format: "<p>Pairwise cosine among the held-out DnD adapters: mean %.3f (min %.3f, max %.3f); among the training checkpoints: mean %.3f.</p>",
                        Self.mean(generatedPairwise), generatedPairwise.min()!, generatedPairwise.max()!, Self.mean(zooPairwise))
        }
        if !fit.isEmpty {
            h += "<h2>Fit on the training datasets</h2><table><tr><th>dataset</th><th>generated</th><th>checkpoint</th><th>cos</th><th>|gen|/|ckpt|</th></tr>"
            for f in fit {
                h += "<tr><td>\(e(f.dataset))</td><td>\(pct(f.generated))</td><td>\(pct(f.checkpoint))</td><td>\(String(format: "%.3f", f.cosine))</td><td>\(String(format: "%.2f", f.normRatio))</td></tr>"
            }
            h += "</table>"
        }
        return h + "</body></html>\n"
    }

    /// Reads the `bench.json` that `write(to:)` left in `folder`.
    public static func read(from folder: URL) throws -> BenchReport {
        let url = folder.appendingPathComponent("bench.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DNDError("\(url.path): no bench report; run `dnd bench dnd` on that root first (without --aggregate-only)")
        }
        do { return try JSONDecoder().decode(BenchReport.self, from: data) } catch {
            throw DNDError("\(url.path): not a bench report this dnd reads (\(error)); rerun `dnd bench dnd` on that root")
        }
    }

    /// Writes `bench.json` and `bench.html` into `folder`.
    public func write(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(self), to: folder.appendingPathComponent("bench.json"))
        try AtomicFile.write(Data(html.utf8), to: folder.appendingPathComponent("bench.html"))
    }
}
