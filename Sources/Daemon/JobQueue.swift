import Foundation
import TensorCore
import Workspace

/// The crash-safe job queue: the folder a job sits in IS its state, and `perform` is the one function that moves a job
/// between states, always by one atomic, non-replacing rename on one file system.
///
/// ```
/// inbox/<file> ──claim──► queued/<job>/<file> ──start──► running/<job>/<file> ──complete──► done/<job>/<file>
///                              ▲                              │    │                                  (commit)
///                              └──────────requeue─────────────┘    └──fail──► failed/<job>/{<file>, error.json}
/// tmp/<job>/ (results, written while running) ──publish──► outbox/<job>/   (after complete: the last step)
/// ```
///
/// Crash safety (`kill -9` at any instant; `recover()` runs at every start):
/// - claim is `mkdir queued/<job>` then `rename(inbox/<file>, queued/<job>/<file>)`: a crash between the two leaves
///   an empty job folder (removed at recovery; the file is still in inbox/ and is claimed again). Claims come in
///   batches made durable together (`syncClaims`: one fsync of inbox/ and of queued/), and a job's folder is fsync'ed
///   before it starts, so nothing that follows a claim (start, complete, publish) can reach the disk before it.
/// - start, requeue, fail and complete are single renames of the job folder: before, the job is in the old state;
///   after, in the new one.
/// - results go to `tmp/<job>/`, are checked and fsync'ed, and only then is the job completed. A crash while the job
///   is running (results partial or complete but not committed) sends it back to queued and removes `tmp/<job>/`: it
///   runs again, nothing was visible.
/// - complete (running → done) is the commit point: from then on the job never runs again. A crash after it and
///   before publish leaves `done/<job>` with `tmp/<job>/`; recovery publishes it. So each job is delivered exactly
///   once, and `outbox/` only ever gains whole result folders (no temporary name ever appears there).
/// - fail writes `error.json` into the running job folder (atomically) and renames the folder to `failed/<job>`: a
///   crash before the rename re-queues the job (the stale error.json is removed) and it fails again the same way.
/// - every rename refuses to replace (RENAME_NOREPLACE) and job names are unique across all these folders, so no
///   move can clobber another job's files.
public struct JobQueue: Sendable {
    public let layout: RootLayout

    public init(layout: RootLayout) { self.layout = layout }

    /// The states a job can be in (its folder).
    public enum State: String, CaseIterable, Sendable { case queued, running, done, failed }

    /// Every move between states; `perform` is the only code that renames job files and folders.
    public enum Transition: Sendable, Equatable {
        /// inbox/<file> → queued/<job>/<stored name>.
        case claim(file: String)
        /// queued → running.
        case start
        /// running → queued (recovery, shutdown).
        case requeue
        /// running → done: the commit point; the results wait in tmp/<job>/.
        case complete
        /// tmp/<job>/ → outbox/<job>/ (only for a done job; the last step).
        case publish
        /// running → failed/<job>/ (error.json already written into the job folder).
        case fail
    }

    /// The file name our own error report takes inside a failed job's folder.
    public static let errorFile = "error.json"

    public func folder(_ state: State) -> URL {
        switch state {
        case .queued: layout.queued
        case .running: layout.running
        case .done: layout.done
        case .failed: layout.failed
        }
    }

    public func jobFolder(_ job: String, _ state: State) -> URL { folder(state).appendingPathComponent(job) }
    public func output(_ job: String) -> URL { layout.tmp.appendingPathComponent(job) }
    public func delivered(_ job: String) -> URL { layout.outbox.appendingPathComponent(job) }

    /// The name a dropped file is stored under in its job folder: its own, unless that is our `error.json`.
    public static func storedName(_ file: String) -> String { file == errorFile ? "original-" + file : file }

    // MARK: - The one transition function

    /// Moves `job` by `transition`; throws (naming both paths) when the rename fails. Never replaces anything. A claim
    /// with `sync: false` leaves the fsyncs to `syncClaims` (once for a batch of claims).
    public func perform(_ transition: Transition, job: String, sync: Bool = true) throws {
        switch transition {
        case .claim(let file):
            let dir = jobFolder(job, .queued)
            guard mkdir(dir.path, 0o755) == 0 else {
                throw DNDError("\(dir.path): cannot create the job folder (\(String(cString: strerror(errno))))")
            }
            if sync { AtomicFile.syncDirectory(layout.queued) }
            do {
                try Rename.move(layout.inbox.appendingPathComponent(file), to: dir.appendingPathComponent(JobQueue.storedName(file)), sync: sync)
            } catch {
                rmdir(dir.path)
                throw error
            }
        case .start:
            AtomicFile.syncDirectory(jobFolder(job, .queued))  // the claim's rename into it is durable before the start
            try Rename.move(jobFolder(job, .queued), to: jobFolder(job, .running))
        case .requeue: try Rename.move(jobFolder(job, .running), to: jobFolder(job, .queued))
        case .complete: try Rename.move(jobFolder(job, .running), to: jobFolder(job, .done))
        case .publish:
            guard Rename.kind(jobFolder(job, .done)) == .directory else {
                throw DNDError("\(job): publish before complete (no \(jobFolder(job, .done).path)); this is a bug in dnd")
            }
            try Rename.move(output(job), to: delivered(job))
        case .fail: try Rename.move(jobFolder(job, .running), to: jobFolder(job, .failed))
        }
    }

    // MARK: - Names and listings

    /// True when `name` is used by any job folder, result folder or pending output.
    public func isTaken(_ name: String) -> Bool {
        [layout.queued, layout.running, layout.done, layout.tmp, layout.outbox, layout.failed]
            .contains { Rename.exists($0.appendingPathComponent(name)) }
    }

    /// Claims `file` from inbox/ under a fresh unique job name and returns that name; `sync: false` for a claim in a
    /// batch that `syncClaims` ends.
    @discardableResult
    public func claim(_ file: String, sync: Bool = true) throws -> String {
        let job = JobName.unique(for: file, isTaken: isTaken)
        try perform(.claim(file: file), job: job, sync: sync)
        return job
    }

    /// Makes a batch of claims durable: one fsync of inbox/ and one of queued/.
    public func syncClaims() {
        AtomicFile.syncDirectory(layout.queued)
        AtomicFile.syncDirectory(layout.inbox)
    }

    /// Job names in `state`, oldest first (folder time, then name); the names `known` accepts come first, unsorted
    /// and without a stat each (the daemon's rescan already has them in order).
    public func jobs(_ state: State, except known: (String) -> Bool = { _ in false }) -> [String] {
        let dir = folder(state)
        let names = Rename.names(dir).filter { !$0.hasPrefix(".") }
        return names.filter(known) + names.filter { !known($0) }
            .map { ($0, Rename.signature(dir.appendingPathComponent($0))?.mtimeNs ?? 0) }
            .sorted { ($0.1, $0.0) < ($1.1, $1.0) }
            .map(\.0)
    }

    /// The dropped file inside a job folder (the one entry that is neither error.json nor a dot-temp), or nil.
    public func input(_ job: String, _ state: State) -> URL? {
        let dir = jobFolder(job, state)
        let names = Rename.names(dir).filter { $0 != JobQueue.errorFile && !$0.hasPrefix(".") }
        return names.count == 1 ? dir.appendingPathComponent(names[0]) : nil
    }

    /// The file name the user dropped (undoing `storedName`).
    public static func originalName(_ stored: String) -> String {
        stored == "original-" + errorFile ? errorFile : stored
    }

    /// A fresh, empty `tmp/<job>/` for the worker (a stale one from an earlier attempt is removed).
    public func prepareOutput(_ job: String) throws -> URL {
        let out = output(job)
        try Rename.remove(out)
        try Rename.makeFolder(out)
        return out
    }

    // MARK: - Recovery

    /// What `recover` did, for the log.
    public struct Recovery: Sendable, Equatable {
        public var requeued: [String] = []
        public var published: [String] = []
        public var removedOutputs: [String] = []
        public var removedEmpty: [String] = []
        public init() {}
    }

    /// Brings the folders back to a consistent state after any stop, clean or not (see the type's doc). Run before
    /// anything else touches the queue, with the root's lock held.
    public func recover() throws -> Recovery {
        var r = Recovery()
        // 1. Pending outputs: a done job's results are published; any other is discarded (its job runs again).
        for job in Rename.names(layout.tmp) {
            if Rename.kind(jobFolder(job, .done)) == .directory && !job.hasPrefix(".") {
                if Rename.exists(delivered(job)) {
                    // Not ours (outbox/<job> was made by hand while the daemon was down): publish beside it.
                    let alt = JobName.unique(stem: job) { Rename.exists(delivered($0)) }
                    try Rename.move(output(job), to: delivered(alt))
                } else {
                    try perform(.publish, job: job)
                }
                r.published.append(job)
            } else {
                try Rename.remove(output(job))
                r.removedOutputs.append(job)
            }
        }
        // 2. Running jobs go back to the queue, without the stale error report or temp files of the attempt.
        for job in Rename.names(layout.running) {
            let dir = jobFolder(job, .running)
            for name in Rename.names(dir) where name == JobQueue.errorFile || name.hasPrefix(".") {
                try Rename.remove(dir.appendingPathComponent(name))
            }
            if Rename.names(dir).isEmpty {
                try Rename.remove(dir); r.removedEmpty.append(job); continue
            }
            try perform(.requeue, job: job)
            r.requeued.append(job)
        }
        // 3. A claim cut between its mkdir and its rename leaves an empty job folder; the file is still in inbox/.
        for job in Rename.names(layout.queued) where Rename.names(jobFolder(job, .queued)).isEmpty {
            try Rename.remove(jobFolder(job, .queued))
            r.removedEmpty.append(job)
        }
        return r
    }

    /// Removes done jobs whose folder is older than `days` (by its last status change); returns how many.
    @discardableResult
    public func pruneDone(olderThanDays days: Double, now: Date = Date()) -> Int {
        var n = 0
        for job in Rename.names(layout.done) where !Rename.exists(output(job)) {
            var st = stat()
            let u = jobFolder(job, .done)
            guard lstat(u.path, &st) == 0 else { continue }
            let changed = Double(max(st.st_ctim.tv_sec, st.st_mtim.tv_sec))
            if now.timeIntervalSince1970 - changed >= days * 86_400 {
                if (try? Rename.remove(u)) != nil { n += 1 }
            }
        }
        return n
    }

    /// Counts per state, plus results in outbox/ (folder entries, read without sorting or stat).
    public func counts() -> [String: Int] {
        var c: [String: Int] = [:]
        for s in State.allCases { c[s.rawValue] = FolderCount.entries(folder(s)) { !$0.hasPrefix(".") } }
        c["outbox"] = FolderCount.entries(layout.outbox) { !$0.hasPrefix(".") }
        return c
    }
}

/// Counting a folder's entries with readdir alone: no sort, no stat, no Foundation.
enum FolderCount {
    /// Entries of `dir` (not `.` or `..`) whose name passes `include`; 0 when the folder is missing.
    static func entries(_ dir: URL, where include: (String) -> Bool) -> Int {
        guard let d = opendir(dir.path) else { return 0 }
        defer { closedir(d) }
        var n = 0
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name != "." && name != "..", include(name) { n += 1 }
        }
        return n
    }
}
