import Foundation

/// Renders a report as one self-contained HTML file (inline CSS and SVG charts, no scripts, no server).
public enum ReportHTML {
    public static func escape(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&#39;"
            default: o.append(c)
            }
        }
        return o
    }

    /// A horizontal bar chart: one labelled bar per value, scaled to the largest magnitude (or `maxValue`).
    public static func barChart(_ bars: [(label: String, value: Double)], maxValue: Double? = nil, format: String = "%.3f",
                                color: String = "#3b6ea8") -> String {
        guard !bars.isEmpty else { return "<p class=\"muted\">no data</p>" }
        let labelW = 12 * min(28, max(6, bars.map(\.label.count).max() ?? 6)) / 2 + 16
        let barW = 360, rowH = 22, width = labelW + barW + 80
        let top = maxValue ?? max(1e-12, bars.map { abs($0.value) }.max() ?? 1)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(bars.count * rowH + 8)\" role=\"img\">"
        for (i, b) in bars.enumerated() {
            let y = 4 + i * rowH
            let w = Int((Double(barW) * max(0, min(1, abs(b.value) / top))).rounded())
            let fill = b.value < 0 ? "#a83b3b" : color
            svg += "<text x=\"\(labelW - 6)\" y=\"\(y + 15)\" text-anchor=\"end\" font-size=\"12\">\(escape(String(b.label.prefix(28))))</text>"
            svg += "<rect x=\"\(labelW)\" y=\"\(y + 3)\" width=\"\(w)\" height=\"\(rowH - 8)\" fill=\"\(fill)\"/>"
            svg += "<text x=\"\(labelW + w + 4)\" y=\"\(y + 15)\" font-size=\"12\">\(String(format: format, b.value))</text>"
        }
        return svg + "</svg>"
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var s = "<table><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
        for r in rows { s += "<tr>" + r.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }
        return s + "</table>"
    }

    static let style = """
    body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
    h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
    table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}
    th{background:#f4f4f4}.muted{color:#777}.warn{background:#fff4d6;padding:.4em .8em;border-left:4px solid #e0a800}
    code{background:#f4f4f4;padding:0 3px}h3{font-size:1em;margin:.8em 0 .2em}
    pre{background:#f4f4f4;padding:.5em .8em;overflow-x:auto;font-size:12px}pre code{padding:0}
    """

    public static func render(_ r: GenerationReport) -> String {
        var h = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dnd report: \(escape(r.job))</title>"
        h += "<style>\(style)</style></head><body>"
        h += "<h1>dnd report: \(escape(r.job))</h1><p class=\"muted\">\(escape(r.created)) · dnd \(escape(r.dndVersion)) · seed \(r.seed)</p>"
        for w in r.warnings { h += "<p class=\"warn\">\(escape(w))</p>" }

        h += "<h2>Input</h2>"
        h += table(["file", "records", "prompts used", "sampled", "chars (min/mean/max)", "evaluable", "extra fields"], [[
            r.input.file, "\(r.input.records)", r.input.headPrompts.map { "\(r.input.promptsUsed) (prompt head: \($0))" } ?? "\(r.input.promptsUsed)", r.input.sampled ? "yes" : "no",
            "\(r.input.minChars) / \(String(format: "%.1f", r.input.meanChars)) / \(r.input.maxChars)",
            "\(r.input.evaluableRecords)", r.input.extraFields.joined(separator: ", "),
        ]])

        h += "<h2>Evaluation</h2>"
        if let e = r.evaluation {
            h += "<p>Base model <code>\(escape(e.baseModel))</code>, metric: \(escape(e.metric)).</p>"
            h += table(["model", "accuracy", "correct", "mean NLL", "seconds"], e.rows.map {
                [$0.name, String(format: "%.1f%%", 100 * $0.accuracy), "\($0.correct)/\($0.records)",
                 $0.meanNLL.map { String(format: "%.3f", $0) } ?? "-", String(format: "%.2f", $0.seconds)]
            })
            h += barChart(e.rows.map { ($0.name, 100 * $0.accuracy) }, maxValue: 100, format: "%.1f%%", color: "#2f8a4c")
        } else {
            h += "<p class=\"muted\">Skipped: \(escape(r.evaluationSkipped ?? "not requested"))</p>"
        }

        h += "<h2>Similarity to the training datasets</h2><p class=\"muted\">cosine of the mean prompt embeddings</p>"
        h += barChart(r.similarity.map { ($0.dataset, $0.cosine) }, maxValue: 1)

        h += "<h2>Adapter</h2>"
        h += "<p>rank \(r.adapter.rank), alpha \(String(format: "%g", r.adapter.alpha)), \(r.adapter.layers) layers, modules \(escape(r.adapter.modules.joined(separator: ", "))), \(r.adapter.tokens) weight tokens</p>"
        h += table(["module", "layers", "‖A‖", "‖B‖", "‖ΔW‖ = ‖s·B·A‖"], r.adapter.norms.map {
            [$0.module, "\($0.layers)", String(format: "%.4g", $0.normA), String(format: "%.4g", $0.normB), String(format: "%.4g", $0.normDelta)]
        })
        h += barChart(r.adapter.norms.map { ($0.module, $0.normDelta) }, format: "%.4g")

        if let b = r.baseModel {
            h += "<h2>Base model</h2>"
            h += "<p><code>base_model_name_or_path</code> = <code>\(escape(b.name.map { "\"\($0)\"" } ?? "null"))</code> (\(escape(b.rule.rawValue))): \(escape(b.reason))</p>"
        }
        if let g = r.gguf {
            if let file = g.file {
                let alpha = g.alpha.map { String(format: "%g", $0) } ?? "-"
                h += "<p><code>\(escape(file))</code>: llama.cpp's LoRA layout for <code>\(escape(g.architecture ?? "?"))</code>, adapter.lora.alpha \(alpha)\(g.permutedQK ? ", q/k <code>lora_b</code> rows permuted like the base weights" : "")</p>"
            } else {
                h += "<p class=\"muted\">adapter.gguf not written: \(escape(g.skipped ?? "no reason given"))</p>"
            }
        }
        if let u = r.usage {
            h += "<h2>Use it</h2>"
            for (title, lines) in u.sections {
                h += "<h3>\(escape(title))</h3><pre><code>\(escape(lines.joined(separator: "\n")))</code></pre>"
            }
        }

        h += "<h2>Generator</h2>"
        let g = r.generator
        h += table(["identity", "trained on", "trained at", "steps", "final loss", "kernel", "parameters"], [[
            g.identity, g.trainedOn.joined(separator: ", "), g.trainedAt ?? "-", g.steps.map(String.init) ?? "-",
            g.finalLoss.map { String(format: "%.5g", $0) } ?? "-", "\(g.kernel)", "\(g.parameters)",
        ]])
        h += "<p class=\"muted\">chain (N, H, W): " + escape(g.chain.map { "(\($0.map(String.init).joined(separator: ", ")))" }.joined(separator: " → ")) + "</p>"

        h += "<h2>Time per stage</h2>"
        let total = r.timings.reduce(0) { $0 + $1.seconds }
        h += barChart(r.timings.map { ($0.stage.rawValue, $0.seconds) }, format: "%.3f s")
        h += "<p class=\"muted\">total \(String(format: "%.3f", total)) s</p>"
        return h + "</body></html>\n"
    }
}
