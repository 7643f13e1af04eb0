import ArgumentParser
import Demo
import Foundation
import TensorCore

/// `dnd bench dnd`: DnD against the base model, the training LoRAs and a fine-tuned LoRA on a demo root.
struct BenchDND: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnd",
        abstract: "On a root built by `dnd demo`: accuracy, NLL and time-to-adapter of DnD against its baselines, per held-out dataset.",
        discussion: """
        Columns: the base model; the mean LoRA (element-wise mean of the training LoRAs' final checkpoints); the
        training LoRA nearest by prompt-embedding similarity; the oracle (the best training LoRA on that dataset,
        picked with hindsight); the DnD adapter generated from the test prompts; a LoRA fine-tuned on the dataset's own
        training split with the zoo's recipe (the upper bound). Accuracy and mean response NLL for each. Times: DnD
        generation (encode, generate, write) against that fine-tune, and their ratio, also at equal accuracy (the
        fine-tune stopped at the first of ten saved steps that matches DnD). Weight space: ‖ΔW‖ and cosines of the DnD
        adapters against the others and each other. Fit: the generator on its own training datasets. Writes
        <root>/demo/bench/bench.json and bench.html (self-contained, charts inline). With --seeds K, the demo is rebuilt
        for K-1 more seeds under <root>/demo/seeds/ (tens of minutes each on a real model) and mean ± std are reported
        (seeds.json). With --aggregate-only, seeds.json is rewritten from the bench.json files those runs left, without
        rerunning anything.
        """
    )

    @OptionGroup var root: DemoRootOptions
    @OptionGroup var encoder: EncoderOptions
    @Option(help: "Test records each training dataset's fit is measured on.") var fitRecords = DNDBench.defaultFitRecords
    @Option(help: "Suite/training seeds to run the demo and the bench over (1: the root as it is).") var seeds = 1
    @Flag(help: "Rebuild seeds.json from the seeds' existing bench.json files; run nothing.") var aggregateOnly = false

    func validate() throws {
        guard fitRecords >= 1, seeds >= 1 else { throw ValidationError("--fit-records and --seeds must be at least 1") }
        guard !aggregateOnly || seeds > 1 else { throw ValidationError("--aggregate-only needs --seeds of at least 2") }
    }

    func run() throws {
        let rootURL = root.url
        if aggregateOnly { return try aggregate(rootURL) }
        var bars: [String: ProgressLine] = [:]
        let events = DemoRunner.Events(
            line: { print($0); fflush(stdout) },
            progress: { label, done, total, detail in
                let bar = bars[label] ?? ProgressLine("  " + label)
                bars[label] = bar
                bar.update(done, of: total, detail)
            })
        let t0 = Date()
        let report = try DNDBench.run(root: rootURL, encoderFolder: encoder.folder, dndVersion: DND.version, fitRecords: fitRecords, events: events)
        print("")
        print(report.text, terminator: "")
        let bench = DemoPaths(root: rootURL).bench
        print(String(format: "wrote %@ and %@ (%.1f s)", bench.appendingPathComponent("bench.json").path,
                     bench.appendingPathComponent("bench.html").path, Date().timeIntervalSince(t0)))
        guard seeds > 1 else { return }
        let paths = DemoPaths(root: rootURL)
        let settings = try JSONDecoder().decode(DemoSettings.self, from: Data(contentsOf: paths.settings))
        var reports = [report], roots = [rootURL.path]
        for k in 1..<seeds {
            let seedRoot = paths.demo.appendingPathComponent("seeds/seed-\(k)")
            print("\nseed \(k) of \(seeds - 1) more: the demo on \(seedRoot.path)")
            let runner = DemoRunner(options: .init(root: seedRoot, settings: SeedBench.settings(settings, seed: UInt64(k)),
                                                   dndExecutable: DemoCommand.selfExecutable(), encoderFolder: encoder.folder),
                                    events: events)
            _ = try runner.run()
            let r = try DNDBench.run(root: seedRoot, encoderFolder: encoder.folder, dndVersion: DND.version, fitRecords: fitRecords, events: events)
            print(r.text, terminator: "")
            reports.append(r); roots.append(seedRoot.path)
        }
        try write(SeedBench(seeds: (0..<UInt64(seeds)).map { $0 }, roots: roots, reports: reports), rootURL, since: t0)
    }

    /// `--aggregate-only`: seeds.json from the bench.json of the root and of each seed root, as they are.
    private func aggregate(_ rootURL: URL) throws {
        let t0 = Date()
        let paths = DemoPaths(root: rootURL)
        let roots = [rootURL] + (1..<seeds).map { paths.demo.appendingPathComponent("seeds/seed-\($0)") }
        let reports = try roots.map { try BenchReport.read(from: DemoPaths(root: $0).bench) }
        try write(SeedBench(seeds: (0..<UInt64(seeds)).map { $0 }, roots: roots.map(\.path), reports: reports), rootURL, since: t0)
    }

    private func write(_ agg: SeedBench, _ rootURL: URL, since t0: Date) throws {
        let bench = DemoPaths(root: rootURL).bench
        try agg.write(to: bench)
        print("")
        print(agg.text, terminator: "")
        print(String(format: "wrote %@ (%.1f s in all)", bench.appendingPathComponent("seeds.json").path, Date().timeIntervalSince(t0)))
    }
}
