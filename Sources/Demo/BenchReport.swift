import Foundation
import Pipeline
import TensorCore

/// What `dnd bench dnd` measured on a demo root: per held-out dataset, the accuracy of the five contenders and the
/// time to obtain each adapter; saved as `bench.json`, printed as a table, rendered as one self-contained HTML page.
public struct BenchReport: Codable, Sendable {
    /// The nearest training LoRA by prompt-embedding similarity.
    public struct Nearest: Codable, Sendable, Equatable {
        public var dataset: String
        public var cosine: Double
        public var accuracy: Double
        /// Seconds to pick it (encode the prompts, compare with every training dataset's mean embedding).
        public var seconds: Double
        public init(dataset: String, cosine: Double, accuracy: Double, seconds: Double) {
            self.dataset = dataset; self.cosine = cosine; self.accuracy = accuracy; self.seconds = seconds
        }
    }

    /// One held-out dataset.
    public struct Row: Codable, Sendable, Equatable {
        public var dataset: String
        public var role: String
        public var records: Int
        /// (1) the base model alone.
        public var base: Double
        /// (2) the mean accuracy of the training LoRAs (final checkpoints), and each of them.
        public var meanLoRA: Double
        public var trainingLoRAs: [String: Double]
        /// (3) the nearest training LoRA.
        public var nearest: Nearest
        /// (4) the DnD adapter generated from the test prompts, and the seconds it took (encode, generate, write).
        public var dnd: Double
        public var dndSeconds: Double
        /// (5) a LoRA fine-tuned on the dataset's own training split with the zoo's recipe (the upper bound).
        public var fineTuned: Double
        public var fineTuneSeconds: Double
        public var fineTuneSteps: Int
        /// The first saved step at which the fine-tune matched the DnD adapter's accuracy (nil: never), and its time.
        public var fineTuneStepsToDnD: Int?
        public var fineTuneSecondsToDnD: Double?

        public init(dataset: String, role: String, records: Int, base: Double, meanLoRA: Double, trainingLoRAs: [String: Double],
                    nearest: Nearest, dnd: Double, dndSeconds: Double, fineTuned: Double, fineTuneSeconds: Double, fineTuneSteps: Int,
                    fineTuneStepsToDnD: Int?, fineTuneSecondsToDnD: Double?) {
            self.dataset = dataset; self.role = role; self.records = records; self.base = base; self.meanLoRA = meanLoRA
            self.trainingLoRAs = trainingLoRAs; self.nearest = nearest; self.dnd = dnd; self.dndSeconds = dndSeconds
            self.fineTuned = fineTuned; self.fineTuneSeconds = fineTuneSeconds; self.fineTuneSteps = fineTuneSteps
            self.fineTuneStepsToDnD = fineTuneStepsToDnD; self.fineTuneSecondsToDnD = fineTuneSecondsToDnD
        }

        /// Fine-tuning time over DnD generation time (full fine-tune).
        public var overhead: Double { fineTuneSeconds / max(dndSeconds, 1e-9) }
        /// The same at equal accuracy: the fine-tune's time until it first matched DnD.
        public var overheadAtEqualAccuracy: Double? { fineTuneSecondsToDnD.map { $0 / max(dndSeconds, 1e-9) } }

        enum CodingKeys: String, CodingKey {
            case dataset, role, records, base, meanLoRA = "mean_lora", trainingLoRAs = "training_loras", nearest, dnd
            case dndSeconds = "dnd_seconds", fineTuned = "fine_tuned", fineTuneSeconds = "fine_tune_seconds", fineTuneSteps = "fine_tune_steps"
            case fineTuneStepsToDnD = "fine_tune_steps_to_dnd", fineTuneSecondsToDnD = "fine_tune_seconds_to_dnd"
        }
    }

    public var created: String
    public var root: String
    public var generator: String
    public var trainedOn: [String]
    public var metric: String
    public var rows: [Row]
    public var dndVersion: String

    public init(root: String, generator: String, trainedOn: [String], metric: String, rows: [Row], dndVersion: String) {
        created = ISO8601DateFormatter().string(from: Date())
        self.root = root; self.generator = generator; self.trainedOn = trainedOn; self.metric = metric; self.rows = rows
        self.dndVersion = dndVersion
    }

    enum CodingKeys: String, CodingKey { case created, root, generator, trainedOn = "trained_on", metric, rows, dndVersion = "dnd_version" }

    // MARK: - Aggregates

    func mean(_ f: (Row) -> Double) -> Double { rows.isEmpty ? 0 : rows.map(f).reduce(0, +) / Double(rows.count) }

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

    /// Where DnD does not reach a baseline, in words (the honest part of the table).
    public var shortfalls: [String] {
        var out: [String] = []
        for r in rows {
            if r.dnd <= r.base { out.append("\(r.dataset): DnD (\(pct(r.dnd))) does not beat the base model (\(pct(r.base)))") }
            if r.dnd <= r.meanLoRA { out.append("\(r.dataset): DnD (\(pct(r.dnd))) does not beat the mean training LoRA (\(pct(r.meanLoRA)))") }
            if r.dnd <= r.nearest.accuracy {
                out.append("\(r.dataset): DnD (\(pct(r.dnd))) does not beat the nearest training LoRA \(r.nearest.dataset) (\(pct(r.nearest.accuracy)))")
            }
            if r.dnd < r.fineTuned { out.append("\(r.dataset): DnD (\(pct(r.dnd))) falls short of the fine-tuned upper bound (\(pct(r.fineTuned)))") }
        }
        return out
    }

    // MARK: - Text

    /// The table as aligned text, with the means, the overhead ratios and the shortfalls.
    public var text: String {
        var s = DemoReportText.pad("held-out dataset", 18) + DemoReportText.pad("role", 13) + lpad("base", 6) + lpad("mean LoRA", 12) + "   "
        s += DemoReportText.pad("nearest LoRA (cosine)", 29) + lpad("DnD", 7) + lpad("fine-tuned", 13) + "  " + lpad("DnD s", 7) + "  "
        s += lpad("fine-tune s", 11) + "  " + lpad("ratio", 7) + "\n"
        for r in rows {
            let near = "\(pct(r.nearest.accuracy)) \(r.nearest.dataset) (\(String(format: "%.2f", r.nearest.cosine)))"
            s += DemoReportText.pad(r.dataset, 18) + DemoReportText.pad(r.role, 13)
            s += lpad(pct(r.base), 6) + lpad(pct(r.meanLoRA), 12) + "   " + DemoReportText.pad(near, 29)
            s += lpad(pct(r.dnd), 7) + lpad(pct(r.fineTuned), 13) + String(format: "  %7.3f  %11.2f  ", r.dndSeconds, r.fineTuneSeconds)
            s += lpad(ratio(r.overhead), 7) + "\n"
        }
        s += DemoReportText.pad("mean", 31) + lpad(pct(mean(\.base)), 6) + lpad(pct(mean(\.meanLoRA)), 12) + "   "
        s += DemoReportText.pad(pct(mean(\.nearest.accuracy)), 29)
        s += lpad(pct(mean(\.dnd)), 7) + lpad(pct(mean(\.fineTuned)), 13) + String(format: "  %7.3f  %11.2f  ", mean(\.dndSeconds), mean(\.fineTuneSeconds))
        s += lpad(ratio(overallOverhead), 7) + "\n"
        s += "\n" + overheadText + "\n"
        let short = shortfalls
        s += short.isEmpty ? "DnD beats the base model, the mean training LoRA and the nearest training LoRA, and reaches the fine-tuned upper bound, on every held-out dataset.\n"
            : "Where DnD falls short:\n" + short.map { "  - \($0)\n" }.joined()
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

    /// One self-contained page: the table, one bar chart per dataset, the times, the shortfalls.
    public var html: String {
        func e(_ s: String) -> String { ReportHTML.escape(s) }
        var h = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dnd bench dnd</title><style>"
        h += "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
        h += "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:right}"
        h += "th{background:#f4f4f4}td:first-child,td:nth-child(2){text-align:left}.muted{color:#777}"
        h += ".warn{background:#fff4d6;padding:.3em .8em;border-left:4px solid #e0a800;margin:.2em 0}</style></head><body>"
        h += "<h1>DnD against its baselines on held-out datasets</h1>"
        h += "<p class=\"muted\">\(e(created)) · dnd \(e(dndVersion)) · root \(e(root)) · generator \(e(generator)) trained on \(trainedOn.count) datasets (\(e(trainedOn.joined(separator: ", ")))) · metric: \(e(metric))</p>"
        h += "<table><tr><th>dataset</th><th>role</th><th>base</th><th>mean LoRA</th><th>nearest LoRA</th><th>DnD</th><th>fine-tuned</th><th>DnD s</th><th>fine-tune s</th><th>ratio</th><th>ratio at equal accuracy</th></tr>"
        for r in rows {
            h += "<tr><td>\(e(r.dataset))</td><td>\(e(r.role))</td><td>\(pct(r.base))</td><td>\(pct(r.meanLoRA))</td>"
            h += "<td>\(pct(r.nearest.accuracy)) \(e(r.nearest.dataset)) (\(String(format: "%.2f", r.nearest.cosine)))</td>"
            h += "<td><b>\(pct(r.dnd))</b></td><td>\(pct(r.fineTuned))</td><td>\(String(format: "%.3f", r.dndSeconds))</td>"
            h += "<td>\(String(format: "%.2f", r.fineTuneSeconds))</td><td>\(ratio(r.overhead))</td>"
            h += "<td>\(r.overheadAtEqualAccuracy.map { String(format: "%@ (step %d)", ratio($0), r.fineTuneStepsToDnD!) } ?? "not matched")</td></tr>"
        }
        h += "<tr><td><b>mean</b></td><td></td><td>\(pct(mean(\.base)))</td><td>\(pct(mean(\.meanLoRA)))</td><td>\(pct(mean(\.nearest.accuracy)))</td>"
        h += "<td><b>\(pct(mean(\.dnd)))</b></td><td>\(pct(mean(\.fineTuned)))</td><td></td><td></td><td>\(ratio(overallOverhead))</td>"
        h += "<td>\(overallOverheadAtEqualAccuracy.map(ratio) ?? "-")</td></tr></table>"
        h += "<p>\(e(overheadText))</p>"
        let short = shortfalls
        if short.isEmpty { h += "<p>DnD beats every baseline and matches the upper bound on every held-out dataset.</p>" }
        for s in short { h += "<p class=\"warn\">\(e(s))</p>" }
        h += "<h2>Accuracy per held-out dataset</h2>"
        for r in rows {
            h += "<h3>\(e(r.dataset)) <span class=\"muted\">(\(e(r.role)), \(r.records) records)</span></h3>"
            h += ReportHTML.barChart([("base", 100 * r.base), ("mean training LoRA", 100 * r.meanLoRA),
                                      ("nearest: \(r.nearest.dataset)", 100 * r.nearest.accuracy), ("DnD", 100 * r.dnd),
                                      ("fine-tuned (upper bound)", 100 * r.fineTuned)], maxValue: 100, format: "%.1f%%", color: "#2f8a4c")
        }
        h += "<h2>Seconds to obtain the adapter</h2><p class=\"muted\">DnD: encode the prompts, generate, write; fine-tuned: the whole LoRA run with the zoo's recipe</p>"
        h += ReportHTML.barChart(rows.flatMap { [("\($0.dataset) DnD", $0.dndSeconds), ("\($0.dataset) fine-tune", $0.fineTuneSeconds)] }, format: "%.3f s")
        return h + "</body></html>\n"
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
