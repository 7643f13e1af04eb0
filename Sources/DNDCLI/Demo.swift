import ArgumentParser
import Demo
import Foundation
import TensorCore

/// `dnd demo`: DnD end to end on a model, a zoo and a generator built on this machine, served by the real daemon.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a demo root (base model, LoRA zoo, generator; cached) and let `dnd serve` generate adapters for held-out datasets.",
        discussion: """
        Stages: data (a synthetic suite of task × answer-format datasets), base model (pretrained here, in base/),
        checkpoints (a LoRA per training dataset, one seed, in checkpoints/), generator (trained without the
        held-out datasets, installed in state/), serve (starts `dnd serve` on the root, drops each held-out
        dataset's test records into inbox/, waits for outbox/, prints the daemon's evaluation, stops it).
        Complete stages are skipped on a rerun. Afterwards the root is an ordinary dnd root: `dnd serve --root DIR`.
        `dnd bench dnd --root DIR` compares DnD with the baselines on it.
        """
    )

    @OptionGroup var root: DemoRootOptions
    @Option(name: .long, help: "full (what `make demo` runs, minutes) or small (the same path at toy scale, seconds).") var size = "full"
    @Option(name: .long, help: "A JSON file of demo settings instead of --size (snake_case; start from <root>/demo/settings.json, which has every key).") var settings: String?
    @OptionGroup var encoder: EncoderOptions

    func validate() throws {
        guard DemoSettings.Size(rawValue: size) != nil else { throw ValidationError("--size must be full or small") }
    }

    func run() throws {
        var s = DemoSettings.preset(DemoSettings.Size(rawValue: size)!)
        if let settings {
            guard let data = FileManager.default.contents(atPath: settings) else { throw DNDError("\(settings): cannot read the settings file") }
            do { s = try JSONDecoder().decode(DemoSettings.self, from: data) } catch let e as DNDError {
                throw DNDError("\(settings): \(e.message)")
            } catch {
                throw DNDError("\(settings): not valid demo settings (a JSON object of snake_case keys): \(error.localizedDescription)")
            }
        }
        let rootURL = root.url
        var bars: [String: ProgressLine] = [:]
        let events = DemoRunner.Events(
            line: { line in
                print(line)
                fflush(stdout)
            },
            progress: { label, done, total, detail in
                let bar = bars[label] ?? ProgressLine("      " + label)
                bars[label] = bar
                bar.update(done, of: total, detail)
            })
        print("dnd demo on \(rootURL.path) (\(settings.map { "settings \($0)" } ?? "size \(size)"))")
        let runner = DemoRunner(options: .init(root: rootURL, settings: s, dndExecutable: DemoCommand.selfExecutable(),
                                               encoderFolder: encoder.folder),
                                events: events)
        let summary = try runner.run()
        print("")
        print(DemoReportText.results(summary.results))
        print(DemoReportText.stages(summary))
        print("""

        The root is ready for your own files:
          dnd serve --root \(rootURL.path)          # the daemon, as the demo ran it
          cp prompts.jsonl \(rootURL.path)/inbox/    # → outbox/prompts/: adapter + report.json, report.html
          dnd bench dnd --root \(rootURL.path)      # DnD against base, mean LoRA, nearest LoRA and a fine-tuned LoRA
        """)
    }

    /// The running binary (to start `dnd serve` with the same build).
    static func selfExecutable() -> URL {
        let proc = URL(fileURLWithPath: "/proc/self/exe")
        if let dest = try? FileManager.default.destinationOfSymbolicLink(atPath: proc.path) { return URL(fileURLWithPath: dest) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    }
}
