import Foundation

/// Progress for long work: a line rewritten in place on a terminal, a log line every `interval` seconds otherwise.
final class ProgressLine {
    let label: String
    let isTerminal = isatty(STDERR_FILENO) != 0
    let interval: Double
    let start = Date()
    private var lastPrint = Date.distantPast
    private var width = 0

    init(_ label: String, interval: Double = 5) { self.label = label; self.interval = interval }

    var elapsed: Double { Date().timeIntervalSince(start) }

    /// Reports `done` of `total` with a free-form detail; the ETA assumes a constant rate.
    func update(_ done: Int, of total: Int, _ detail: String = "") {
        let now = Date()
        let final = done >= total
        guard final || now.timeIntervalSince(lastPrint) >= (isTerminal ? 0.1 : interval) else { return }
        lastPrint = now
        let t = elapsed
        let eta = done > 0 ? t * Double(total - done) / Double(done) : 0
        let pct = total > 0 ? 100 * Double(done) / Double(total) : 100
        var line = String(format: "%@ %5.1f%% %d/%d %@ elapsed %@ eta %@", label, pct, done, total, detail,
                          ProgressLine.duration(t), ProgressLine.duration(eta))
        if isTerminal {
            let pad = max(0, width - line.count)
            width = line.count
            line = "\r" + line + String(repeating: " ", count: pad) + (final ? "\n" : "")
        } else {
            line += "\n"
        }
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// A one-off status line (ends an in-place line first).
    func note(_ s: String) {
        FileHandle.standardError.write(Data(((isTerminal && width > 0 ? "\n" : "") + s + "\n").utf8))
        width = 0
    }

    static func duration(_ s: Double) -> String {
        s < 60 ? String(format: "%.1fs", s) : String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60)
    }
}
