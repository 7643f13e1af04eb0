import CInotifyTools
import Foundation
import TensorCore
import Workspace

/// inotify (libinotifytools) on inbox/ and, recursively, checkpoints/. It only wakes the scanner: the folders are the
/// truth, and a periodic rescan backs it up (queue overflow, a folder replaced, a watch limit reached).
///
/// inbox/ is watched for `IN_CLOSE_WRITE` and `IN_MOVED_TO` only: those say a file is complete. checkpoints/ is also
/// watched for creations, deletions and moves out, since any change there is a reason to retrain (debounced), and new
/// sub-folders get their own watches.
public final class Watcher: @unchecked Sendable {
    /// What woke the scanner.
    public enum Wake: Sendable, Equatable {
        /// A file named `name` was completed in inbox/ (closed after writing, or moved in).
        case inbox(name: String)
        /// Something changed under checkpoints/.
        case checkpoints
        /// The kernel dropped events: rescan everything.
        case overflow
    }

    private let inbox: URL
    private let checkpoints: URL
    private let onWake: @Sendable (Wake) -> Void
    private let lock = NSLock()
    private var stopped = false
    private var thread: Thread?

    /// libinotifytools keeps global state: one watcher per process.
    private static let claimed = NSLock()
    private static var inUse = false

    static let inboxEvents = Int32(IN_CLOSE_WRITE | IN_MOVED_TO)
    static let checkpointEvents = Int32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)

    public init(inbox: URL, checkpoints: URL, onWake: @escaping @Sendable (Wake) -> Void) {
        self.inbox = inbox; self.checkpoints = checkpoints; self.onWake = onWake
    }

    /// Sets up the watches (before the first scan, so nothing that lands after the scan is missed) and starts the
    /// thread that reads events.
    public func start() throws {
        Watcher.claimed.lock()
        defer { Watcher.claimed.unlock() }
        guard !Watcher.inUse else { throw DNDError("a dnd watcher is already running in this process; stop it first") }
        guard inotifytools_initialize() != 0 else {
            throw DNDError("inotify is not available (\(String(cString: strerror(inotifytools_error())))); raise fs.inotify.max_user_instances")
        }
        guard inotifytools_watch_file(inbox.path, Watcher.inboxEvents) != 0 else {
            let e = inotifytools_error()
            inotifytools_cleanup()
            throw DNDError("\(inbox.path): cannot watch (\(String(cString: strerror(e)))); raise fs.inotify.max_user_watches or check the folder")
        }
        if inotifytools_watch_recursively(checkpoints.path, Watcher.checkpointEvents) == 0 {
            // Not fatal: the periodic rescan still sees every change, only later.
            FileHandle.standardError.write(Data("warning: \(checkpoints.path): cannot watch every folder (\(String(cString: strerror(inotifytools_error())))); changes are found by the periodic rescan\n".utf8))
        }
        Watcher.inUse = true
        let t = Thread { [self] in loop() }
        t.name = "dnd-inotify"
        thread = t
        t.start()
    }

    /// Stops the event thread (within a second) and releases the watches.
    public func stop() {
        lock.lock(); stopped = true; lock.unlock()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func loop() {
        let inboxPath = inbox.standardizedFileURL.path
        while !isStopped {
            // One-second timeout, so `stop()` is noticed promptly. A nil well before the timeout is an error: back off
            // instead of spinning (the periodic rescan still runs).
            let asked = Date()
            guard let ev = inotifytools_next_event(1) else {
                if Date().timeIntervalSince(asked) < 0.5 { Thread.sleep(forTimeInterval: 0.5) }
                continue
            }
            let mask = Int32(bitPattern: ev.pointee.mask)
            if mask & Int32(IN_Q_OVERFLOW) != 0 { onWake(.overflow); continue }
            if mask & Int32(IN_IGNORED) != 0 { continue }
            var namePtr: UnsafePointer<CChar>?
            var dirLen = 0
            guard let dirPtr = inotifytools_filename_from_event(ev, &namePtr, &dirLen) else { continue }
            var dir = String(cString: dirPtr)
            if dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
            let name = namePtr.map { String(cString: $0) } ?? ""
            if dir == inboxPath {
                if !name.isEmpty { onWake(.inbox(name: name)) }
            } else {
                if mask & Int32(IN_ISDIR) != 0, mask & Int32(IN_CREATE | IN_MOVED_TO) != 0, !name.isEmpty {
                    _ = inotifytools_watch_recursively(dir + "/" + name, Watcher.checkpointEvents)
                }
                onWake(.checkpoints)
            }
        }
        inotifytools_cleanup()
        Watcher.claimed.lock(); Watcher.inUse = false; Watcher.claimed.unlock()
    }
}

/// Which inbox entries are complete and may be claimed, in the order to claim them: the scanner's rules, kept apart
/// from inotify so they are testable. A regular file is ready when inotify said so, when it was there at start-up, or
/// when a rescan has seen it unchanged for `settleSeconds` (the safety net for missed events). Links, FIFOs, sockets
/// and devices are ready at once (they cannot be half-written, and they are refused anyway); folders must settle like
/// files.
///
/// Ready names wait in a first-in, first-out list: an inotify report is queued in O(1) and `next()` takes the oldest,
/// so claiming a flood never lists the inbox; only `rescan` (start-up, and every rescan_seconds) does.
public struct InboxReadiness: Sendable {
    public var settleSeconds: Double
    private var ready: Set<String> = []
    private var seen: [String: (signature: String, since: Date)] = [:]
    private var startupDone = false
    /// Names to claim, oldest first (`head` is the next); `waiting` holds the same names, for O(1) membership.
    private var order: [String] = []
    private var head = 0
    private var waiting: Set<String> = []

    public init(settleSeconds: Double) { self.settleSeconds = settleSeconds }

    /// inotify reported `name` complete: it waits to be claimed (unless it is a name dnd leaves alone).
    public mutating func markReady(_ name: String) {
        guard !JobName.isIgnoredInboxName(name) else { return }
        ready.insert(name)
        enqueue(name)
    }

    /// Forgets `name` (claimed or gone).
    public mutating func forget(_ name: String) { ready.remove(name); seen[name] = nil; waiting.remove(name) }

    /// True when a name waits to be claimed.
    public var hasWaiting: Bool { !waiting.isEmpty }

    /// How many names wait to be claimed.
    public var waitingCount: Int { waiting.count }

    /// The oldest name waiting to be claimed (it stays known as ready until `forget`), or nil.
    public mutating func next() -> String? {
        while head < order.count {
            let name = order[head]
            head += 1
            if head > 1024 && head * 2 > order.count { order.removeFirst(head); head = 0 }
            if waiting.remove(name) != nil { return name }
        }
        return nil
    }

    /// Lists the inbox (start-up and the periodic rescan): every entry that may be claimed now joins the names
    /// waiting, in arrival order. Returns how many joined.
    @discardableResult
    public mutating func rescan(_ inbox: URL, now: Date = Date()) -> Int {
        var n = 0
        for name in candidates(in: inbox, now: now) where !waiting.contains(name) { enqueue(name); n += 1 }
        return n
    }

    private mutating func enqueue(_ name: String) {
        if waiting.insert(name).inserted { order.append(name) }
    }

    /// The entries of `inbox` that may be claimed now, in arrival order (mtime, then name). The first call marks
    /// everything present as ready (files there at start-up are taken).
    public mutating func candidates(in inbox: URL, now: Date = Date()) -> [String] {
        let names = Rename.names(inbox).filter { !JobName.isIgnoredInboxName($0) }
        let present = Set(names)
        if !startupDone { ready.formUnion(names); startupDone = true }
        ready.formIntersection(present)
        seen = seen.filter { present.contains($0.key) }
        var out: [(String, Int)] = []
        for name in names {
            let url = inbox.appendingPathComponent(name)
            guard let sig = Rename.signature(url) else { continue }
            let kind = Rename.kind(url)
            var ok = ready.contains(name) && (kind == .regular || kind == .directory)
            if kind != .regular && kind != .directory && kind != .missing { ok = true }
            if !ok {
                let s = "\(sig.size)/\(sig.mtimeNs)/\(sig.inode)"
                if let prev = seen[name], prev.signature == s {
                    ok = now.timeIntervalSince(prev.since) >= settleSeconds
                } else {
                    seen[name] = (s, now)
                    ok = settleSeconds == 0
                }
            }
            if ok { out.append((name, sig.mtimeNs)) }
        }
        return out.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
    }
}
