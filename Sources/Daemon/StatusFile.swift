import Foundation
import TensorCore
import Workspace

/// `state/status.json`, written by the daemon (atomically) whenever something changes, read by `dnd status`: queue
/// lengths, the running job, the generator in use, the retraining state and the last errors.
public struct DaemonStatus: Codable, Sendable, Equatable {
    /// Where the daemon is in its life.
    public enum State: String, Codable, Sendable, Equatable {
        case starting, running, stopping, stopped
        /// It did not start: a piece it needs is missing (`problems` says which, and how to fix it).
        case unusable
    }

    public var state: State
    public var pid: Int32
    public var root: String
    public var startedAt: Date
    public var updatedAt: Date
    /// Files per place: inbox (waiting to be claimed), queued, running, done, failed, outbox.
    public var queue: [String: Int]
    public var runningJob: RunningJob?
    public var generator: Generator?
    public var retraining: Retraining
    /// Jobs delivered and failed since this daemon started.
    public var delivered: Int
    public var failed: Int
    /// The most recent errors, newest last (at most `maxErrors`).
    public var lastErrors: [ErrorEntry]
    /// What keeps the daemon from serving (state `unusable`), each with its fix; absent otherwise.
    public var problems: [String]?

    public static let maxErrors = 10

    public init(state: State, pid: Int32, root: String, startedAt: Date, updatedAt: Date, queue: [String: Int], runningJob: RunningJob?,
                generator: Generator?, retraining: Retraining, delivered: Int, failed: Int, lastErrors: [ErrorEntry]) {
        self.state = state; self.pid = pid; self.root = root; self.startedAt = startedAt; self.updatedAt = updatedAt; self.queue = queue
        self.runningJob = runningJob; self.generator = generator; self.retraining = retraining; self.delivered = delivered
        self.failed = failed; self.lastErrors = lastErrors
    }

    /// The job being processed.
    public struct RunningJob: Codable, Sendable, Equatable {
        public var job: String, file: String, startedAt: Date, generator: String
        enum CodingKeys: String, CodingKey { case job, file, startedAt = "started_at", generator }
        public init(job: String, file: String, startedAt: Date, generator: String) {
            self.job = job; self.file = file; self.startedAt = startedAt; self.generator = generator
        }
    }

    /// The generator in use.
    public struct Generator: Codable, Sendable, Equatable {
        public var identity: String, id: String, datasets: [String], trainedAt: Date?
        enum CodingKeys: String, CodingKey { case identity, id, datasets, trainedAt = "trained_at" }
        public init(identity: String, id: String, datasets: [String], trainedAt: Date?) {
            self.identity = identity; self.id = id; self.datasets = datasets; self.trainedAt = trainedAt
        }
    }

    /// Where retraining stands.
    public struct Retraining: Codable, Sendable, Equatable {
        /// Where retraining stands.
        public enum State: String, Codable, Sendable, Equatable {
            /// Nothing to do (the zoo matches the generator).
            case idle
            /// A change was seen; debouncing.
            case waiting
            case running
            /// `retrain = false` in config.toml.
            case disabled
        }

        public var state: State
        public var since: Date?
        /// Retrainings finished and installed (over the root's life).
        public var completed: Int
        public var succeeded: Int
        public var lastOK: Bool?
        public var lastError: String?
        public var lastFinishedAt: Date?
        enum CodingKeys: String, CodingKey {
            case state, since, completed, succeeded, lastOK = "last_ok", lastError = "last_error", lastFinishedAt = "last_finished_at"
        }
        public init(state: State, since: Date?, completed: Int, succeeded: Int, lastOK: Bool?, lastError: String?, lastFinishedAt: Date?) {
            self.state = state; self.since = since; self.completed = completed; self.succeeded = succeeded
            self.lastOK = lastOK; self.lastError = lastError; self.lastFinishedAt = lastFinishedAt
        }
    }

    /// One error, with the job it concerns when there is one.
    public struct ErrorEntry: Codable, Sendable, Equatable {
        public var time: Date, job: String?, message: String
        public init(time: Date, job: String?, message: String) { self.time = time; self.job = job; self.message = message }
    }

    enum CodingKeys: String, CodingKey {
        case state, pid, root, startedAt = "started_at", updatedAt = "updated_at", queue, runningJob = "running_job"
        case generator, retraining, delivered, failed, lastErrors = "last_errors", problems
    }

    public mutating func recordError(_ message: String, job: String?, now: Date = Date()) {
        lastErrors.append(ErrorEntry(time: now, job: job, message: message))
        if lastErrors.count > DaemonStatus.maxErrors { lastErrors.removeFirst(lastErrors.count - DaemonStatus.maxErrors) }
    }
}

/// Reading and writing `state/status.json`, and rendering it for people.
public enum StatusFile {
    static func encoder() -> JSONEncoder {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        enc.dateEncodingStrategy = .iso8601
        return enc
    }

    public static func write(_ status: DaemonStatus, layout: RootLayout) throws {
        try AtomicFile.write(encoder().encode(status), to: layout.statusFile)
    }

    /// The last status the daemon wrote, or nil when it never ran on this root.
    public static func read(layout: RootLayout) throws -> DaemonStatus? {
        guard let data = FileManager.default.contents(atPath: layout.statusFile.path) else { return nil }
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = .iso8601
        do { return try dec.decode(DaemonStatus.self, from: data) } catch {
            throw DNDError("\(layout.statusFile.path): not a dnd status file (\(error.localizedDescription)); it is rewritten when the daemon runs")
        }
    }

    /// Live counts from the folders (the truth), for `dnd status` even when no daemon runs.
    public static func liveCounts(layout: RootLayout) -> [String: Int] {
        var c = JobQueue(layout: layout).counts()
        c["inbox"] = FolderCount.entries(layout.inbox) { !JobName.isIgnoredInboxName($0) }
        return c
    }

    /// The human-readable report of `dnd status`.
    /// `problems`: what a check made now says is missing (`dnd status` asks the worker when no daemon runs); shown
    /// with those of a start that failed on them.
    public static func render(_ status: DaemonStatus?, live: [String: Int], running: Bool, layout: RootLayout, problems: [String] = [],
                              now: Date = Date()) -> String {
        let iso = ISO8601DateFormatter()
        func ago(_ d: Date) -> String {
            let s = Int(now.timeIntervalSince(d))
            return s < 120 ? "\(s) s ago" : s < 7200 ? "\(s / 60) min ago" : s < 172_800 ? "\(s / 3600) h ago" : "\(s / 86_400) days ago"
        }
        var out = "root: \(layout.root.path)\n"
        if running, let status {
            out += "daemon: \(status.state.rawValue), pid \(status.pid), up since \(iso.string(from: status.startedAt)) (status \(ago(status.updatedAt)))\n"
        } else if let status {
            out += "daemon: not running (last seen \(status.state.rawValue) at \(iso.string(from: status.updatedAt)))\n"
        } else {
            out += "daemon: not running, never ran on this root\n"
        }
        var missing = running ? [] : (status?.state == .unusable ? status?.problems ?? [] : [])
        for p in problems where !missing.contains(p) { missing.append(p) }
        for p in missing { out += "CANNOT SERVE: \(DaemonLogHandler.printable(p))\n" }
        let keys = ["inbox", "queued", "running", "done", "failed", "outbox"]
        out += "queue: " + keys.map { "\($0) \(live[$0] ?? 0)" }.joined(separator: ", ") + "\n"
        guard let status else { return out }
        if running, let j = status.runningJob {
            out += "running job: \(j.job) (\(DaemonLogHandler.printable(j.file))), started \(ago(j.startedAt)), generator \(j.generator)\n"
        } else {
            out += "running job: none\n"
        }
        if let g = status.generator {
            let when = g.trainedAt.map { " at \(iso.string(from: $0))" } ?? ""
            let on = g.datasets.isEmpty ? "unknown datasets" : g.datasets.joined(separator: ", ")
            out += "generator: \(g.identity), trained on \(on)\(when)\n"
        } else {
            out += "generator: none (add checkpoints to \(layout.checkpoints.path) or run `dnd train`); jobs wait in the queue\n"
        }
        let r = status.retraining
        var line = "retraining: \(r.state.rawValue)"
        if let since = r.since { line += " since \(ago(since))" }
        line += ", \(r.completed) finished (\(r.succeeded) installed)"
        if let ok = r.lastOK, let at = r.lastFinishedAt {
            line += ok ? "; last succeeded \(ago(at))" : "; last FAILED \(ago(at)): \(r.lastError ?? "unknown error") (old generator kept)"
        }
        out += line + "\n"
        out += "since start: \(status.delivered) delivered, \(status.failed) failed\n"
        if status.lastErrors.isEmpty {
            out += "last errors: none\n"
        } else {
            out += "last errors:\n"
            for e in status.lastErrors.suffix(5) {
                out += "  \(iso.string(from: e.time))\(e.job.map { " [\($0)]" } ?? "") \(DaemonLogHandler.printable(e.message))\n"
            }
        }
        return out
    }
}
