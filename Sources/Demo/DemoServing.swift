import Daemon
import Foundation
import Pipeline
import Prompts
import TensorCore
import Workspace

/// The demo's side of talking to a running daemon through its folders: drop files into inbox/ atomically, wait for
/// their results in outbox/ (or their failure in failed/), and clean up the previous run's results.
struct DemoServing {
    let layout: RootLayout
    let paths: DemoPaths
    let book: StageBook

    /// The jobs the last demo run delivered (so the next run can remove exactly those).
    static let resultsStage = "serve-results"

    /// The demo's config.toml, written only when the root has none: finished inputs are not kept in state/jobs/done/,
    /// so that a rerun's drops get the same job names (outbox/<dataset>/).
    static func writeDefaultConfig(_ layout: RootLayout) throws {
        guard !FileManager.default.fileExists(atPath: layout.configFile.path) else { return }
        let text = """
        # Written by `dnd demo`; every key is optional (see `dnd config`).
        # Finished inputs are removed at once, so that rerunning the demo reuses the job names outbox/<dataset>/.
        keep_done_days = 0

        """
        try AtomicFile.write(Data(text.utf8), to: layout.configFile)
    }

    /// Removes outbox/ and failed/ folders of the previous demo run's jobs and of `names` (the jobs this run is about
    /// to create), and nothing else: the user's own jobs on the root stay.
    func removePreviousResults(names: [String]) throws {
        let previous = book.record(DemoServing.resultsStage)?.detail["jobs"]?.split(separator: ",").map(String.init) ?? []
        for name in Set(previous + names) where !name.isEmpty {
            for folder in [layout.outbox, layout.failed] {
                let u = folder.appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: u.path) { try FileManager.default.removeItem(at: u) }
            }
        }
    }

    /// Remembers the jobs this run delivered.
    func recordResults(_ jobs: [String]) throws {
        try book.finish(.init(stage: DemoServing.resultsStage, key: "", seconds: 0, detail: ["jobs": jobs.joined(separator: ",")]))
    }

    /// Writes each dataset's test records into inbox/ atomically (`AtomicFile`: a hidden temporary name, then one rename,
    /// so the daemon sees only complete files). Returns dataset → dropped file name (`<dataset>.eval.jsonl`: evaluate
    /// even if the config says off).
    func drop(_ datasets: [TaskSuite.Dataset]) throws -> [String: String] {
        var files: [String: String] = [:]
        for d in datasets {
            let name = "\(d.name).eval.jsonl"
            try PromptFile.write(d.test, to: layout.inbox.appendingPathComponent(name))
            files[d.name] = name
        }
        return files
    }

    /// Waits until every dropped file has a report in outbox/ (matched by the report's input file name, so a job
    /// renamed `-2` is still found). Throws when one lands in failed/, the daemon exits, or `timeout` passes.
    func wait(for files: [String: String], daemon: DaemonChild, timeout: Double,
              progress: (Int, Int) -> Void) throws -> [String: GenerationReport] {
        try wait(for: files, alive: { daemon.isRunning ? nil : daemon.process.terminationStatus }, logTail: { daemon.logTail() },
                 timeout: timeout, progress: progress)
    }

    /// `wait(for:daemon:…)` with the daemon behind two closures: `alive` returns nil while it runs, else its exit status.
    func wait(for files: [String: String], alive: () -> Int32?, logTail: () -> String, timeout: Double,
              progress: (Int, Int) -> Void) throws -> [String: GenerationReport] {
        let fm = FileManager.default
        let byFile = Dictionary(uniqueKeysWithValues: files.map { ($0.value, $0.key) })
        var found: [String: GenerationReport] = [:]
        let deadline = Date().addingTimeInterval(timeout)
        progress(0, files.count)
        while found.count < files.count {
            for job in (try? fm.contentsOfDirectory(atPath: layout.outbox.path)) ?? [] where !job.hasPrefix(".") {
                let url = layout.outbox.appendingPathComponent(job).appendingPathComponent("report.json")
                guard let data = fm.contents(atPath: url.path),
                      let report = try? JSONDecoder().decode(GenerationReport.self, from: data),
                      let dataset = byFile[report.input.file], found[dataset] == nil else { continue }
                found[dataset] = report
                progress(found.count, files.count)
            }
            for job in (try? fm.contentsOfDirectory(atPath: layout.failed.path)) ?? [] where !job.hasPrefix(".") {
                let url = layout.failed.appendingPathComponent(job).appendingPathComponent("error.json")
                let dec = JSONDecoder()
                dec.dateDecodingStrategy = .iso8601
                guard let data = fm.contents(atPath: url.path), let err = try? dec.decode(FailedJob.Report.self, from: data),
                      byFile[err.file] != nil else { continue }
                throw DNDError("the daemon put \(err.file) into \(layout.failed.appendingPathComponent(job).path): \(err.summary); its log: \(paths.daemonLog.path)")
            }
            if found.count == files.count { break }
            if let status = alive() {
                throw DNDError("`dnd serve` exited (status \(status)) before delivering every report; its log (\(paths.daemonLog.path)) ends with:\n\(logTail())")
            }
            if Date() > deadline {
                let missing = files.filter { found[$0.key] == nil }.map(\.value).sorted()
                throw DNDError("no report for \(missing.joined(separator: ", ")) after \(Int(timeout)) s; look in \(layout.failed.path) and in the daemon log \(paths.daemonLog.path) (`dnd status --root \(layout.root.path)` tells what it is doing):\n\(logTail())")
            }
            usleep(100_000)
        }
        return found
    }
}
