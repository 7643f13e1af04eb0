import Foundation

/// The demo's terminal output: the daemon's evaluation per held-out dataset, and the time of every stage.
public enum DemoReportText {
    /// One line per held-out dataset: base and base + DnD adapter accuracy from the daemon's report.
    public static func results(_ results: [DemoRunner.HeldOutResult]) -> String {
        var s = "Held-out datasets (never seen by the generator), evaluated by the daemon (exact match of the greedy answer):\n"
        s += "  dataset          role           records   base    base + DnD   generation\n"
        for r in results {
            s += "  " + pad(r.dataset, 17) + pad(r.role, 15) + String(format: "%7d  %5.1f%%    %6.1f%%    %7.3f s\n", r.records,
                                                                        100 * r.baseAccuracy, 100 * r.dndAccuracy, r.generationSeconds)
        }
        if !results.isEmpty {
            let n = Double(results.count)
            s += "  " + pad("mean", 32) + String(format: "         %5.1f%%    %6.1f%%\n", 100 * results.map(\.baseAccuracy).reduce(0, +) / n,
                                                 100 * results.map(\.dndAccuracy).reduce(0, +) / n)
        }
        return s
    }

    /// The stages with their times (and whether they were cached), and the total.
    public static func stages(_ summary: DemoRunner.Summary) -> String {
        var s = "Stages:\n"
        for st in summary.stages {
            s += "  " + pad(st.name, 13) + String(format: "%8.1f s", st.seconds) + (st.cached ? "  (cached)" : "") + "\n"
        }
        s += "  " + pad("total", 13) + String(format: "%8.1f s", summary.totalSeconds)
        return s
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s.padding(toLength: n, withPad: " ", startingAt: 0) }
}
