import ArgumentParser
import Demo
import Foundation

/// `dnd bench dnd`: DnD against the base model, the training LoRAs and a fine-tuned LoRA on a demo root.
struct BenchDND: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnd",
        abstract: "On a root built by `dnd demo`: accuracy and time-to-adapter of DnD against its baselines, per held-out dataset.",
        discussion: """
        Columns: (1) the base model; (2) the mean accuracy of the training LoRAs (final checkpoints); (3) the training
        LoRA nearest by prompt-embedding similarity (cosine of mean pooled embeddings); (4) the DnD adapter generated
        from the test prompts; (5) a LoRA fine-tuned on the dataset's own training split with the zoo's recipe (the
        upper bound). Times: DnD generation (encode, generate, write) against that fine-tune, and their ratio, also at
        equal accuracy (the fine-tune stopped at the first of ten saved steps that matches DnD). Writes
        <root>/demo/bench/bench.json and bench.html (self-contained, charts inline).
        """
    )

    @OptionGroup var root: DemoRootOptions
    @OptionGroup var encoder: EncoderOptions

    func run() throws {
        let rootURL = root.url
        var bars: [String: ProgressLine] = [:]
        let events = DemoRunner.Events(
            line: { print($0); fflush(stdout) },
            progress: { label, done, total, detail in
                let bar = bars[label] ?? ProgressLine("  " + label)
                bars[label] = bar
                bar.update(done, of: total, detail)
            })
        let t0 = Date()
        let report = try DNDBench.run(root: rootURL, encoderFolder: encoder.folder, dndVersion: DND.version, events: events)
        print("")
        print(report.text, terminator: "")
        let bench = DemoPaths(root: rootURL).bench
        print(String(format: "wrote %@ and %@ (%.1f s)", bench.appendingPathComponent("bench.json").path,
                     bench.appendingPathComponent("bench.html").path, Date().timeIntervalSince(t0)))
    }
}
