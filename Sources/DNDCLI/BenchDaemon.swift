import ArgumentParser
import Daemon
import Foundation
import Workspace

/// `dnd bench daemon`: a flood of files through the daemon, end to end.
struct BenchDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "A flood through the daemon: files moved into inbox/ at once, time to the first adapter, files/s, longest watchdog gap.",
        discussion: """
        Runs the daemon in this process on a fresh root (under --work, default the temp folder: put it on the disk the
        real root lives on, fsync costs count), moves --files prompt files into inbox/ at once and measures: the time
        to the first adapter in outbox/, the time until all are delivered (files/s end to end), and the longest gap
        between two WATCHDOG=1 pings on a notify socket (the daemon is asked for one every --watchdog seconds). The
        worker writes the same tiny adapter for every job (the daemon's own cost), unless --generator names a
        generator folder: then the real pipeline worker runs (the encoder from --encoder or the default places).
        """)

    @Option(help: "Files moved into inbox/ at once.") var files = 1000
    @Option(help: "Prompts per file.") var prompts = 2
    @Option(name: .customLong("max-queue"), help: "max_queue of the daemon's config.") var maxQueue = 1000
    @Option(help: "Seconds between the watchdog pings the daemon is asked for.") var watchdog = 0.25
    @Option(help: "Folder for the temporary root (default: the system temp folder).") var work: String?
    @Option(help: "A generator folder (e.g. <root>/state/generator): run the real pipeline worker with it.") var generator: String?
    @OptionGroup var encoder: EncoderOptions  // for --generator
    @Flag(name: .customLong("no-memory"), help: "Skip the memory figures (three prompt files of max_file_bytes read under the default limits).") var noMemory = false

    func validate() throws {
        guard files >= 1 else { throw ValidationError("--files must be at least 1") }
        guard prompts >= 1 else { throw ValidationError("--prompts must be at least 1") }
        guard maxQueue >= 1 else { throw ValidationError("--max-queue must be at least 1") }
        guard watchdog > 0 else { throw ValidationError("--watchdog must be positive") }
    }

    func run() async throws {
        var o = FloodBench.Options()
        o.files = files; o.promptsPerFile = prompts; o.maxQueue = maxQueue; o.watchdogSeconds = watchdog
        o.workFolder = work.map { URL(fileURLWithPath: $0) }
        if let generator {
            o.generator = URL(fileURLWithPath: generator)
            let scratch = RootLayout(root: FileManager.default.temporaryDirectory.appendingPathComponent("dnd-bench-daemon-worker-\(getpid())"))
            o.worker = PipelineWorker(layout: scratch, encoderFolder: encoder.folder, version: DND.version)
        }
        let what = generator == nil ? "null worker (the daemon's own cost)" : "pipeline worker, generator \(generator!)"
        print("dnd bench daemon: \(files) files of \(prompts) prompts moved into inbox/ at once; max_queue \(maxQueue); \(what)")
        fflush(stdout)
        let r = try await FloodBench.run(o)
        print(String(format: "  moved in:             %8.3f s (%d renames)", r.moveSeconds, r.files))
        print(String(format: "  first adapter:        %8.3f s after the first rename", r.firstAdapterSeconds))
        print(String(format: "  all delivered:        %8.3f s: %.1f files/s end to end", r.allDeliveredSeconds, r.filesPerSecond))
        print(String(format: "  longest watchdog gap: %8.3f s (%d pings, one asked for every %.2f s)", r.longestWatchdogGap, r.watchdogPings, r.watchdogInterval))
        print(String(format: "  longest loop step:    %8.3f s (%@; what a tick can wait behind, machine load aside)", r.longestLoopStep, r.longestLoopStepEvent))
        let kinds = r.loopEvents.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("  loop events:          \(kinds); \(r.inotifyEvents) inotify events coalesced into the wakes")
        if !noMemory {
            let folder = (o.workFolder ?? FileManager.default.temporaryDirectory).appendingPathComponent("dnd-bench-reader-\(getpid())")
            defer { try? FileManager.default.removeItem(at: folder) }
            print("memory per file (peak resident set rise while the reader reads it, default limits):")
            for f in try ReaderMemoryBench.run(folder: folder) {
                let rise = f.peakRise.map { String(format: "%.1f MB", Double($0) / 1e6) } ?? "n/a"
                let label = (f.label + ":").padding(toLength: 32, withPad: " ", startingAt: 0)
                print("  \(label)" + String(format: "%5.1f MB file, peak +%@ (%@)", Double(f.bytes) / 1e6, rise, f.outcome))
            }
        }
    }
}
