import Foundation

/// Between the inotify thread and the daemon's loop: wakes are collected here, and only the first one since the loop
/// last drained them posts an event. A burst of 1,000 inotify events is then a handful of loop iterations, not 1,000
/// queued events, each of which the watchdog tick and every job completion would have to wait behind.
public final class WakeCoalescer: @unchecked Sendable {
    /// What arrived since the last drain.
    public struct Batch: Sendable, Equatable {
        /// Inbox names reported complete, in arrival order (a name reported twice appears twice).
        public var names: [String] = []
        /// Something changed under checkpoints/.
        public var checkpoints = false
        /// The kernel dropped events: rescan everything.
        public var overflow = false

        public init(names: [String] = [], checkpoints: Bool = false, overflow: Bool = false) {
            self.names = names; self.checkpoints = checkpoints; self.overflow = overflow
        }
    }

    private let lock = NSLock()
    private var batch = Batch()
    private var posted = false
    private var addedCount = 0
    private var postedCount = 0

    public init() {}

    /// Adds a wake (from the inotify thread); returns true when the caller must post one event to the loop, false
    /// when one is already on its way.
    public func add(_ wake: Watcher.Wake) -> Bool {
        lock.lock(); defer { lock.unlock() }
        switch wake {
        case .inbox(let name): batch.names.append(name)
        case .checkpoints: batch.checkpoints = true
        case .overflow: batch.overflow = true
        }
        addedCount += 1
        guard !posted else { return false }
        posted = true
        postedCount += 1
        return true
    }

    /// Takes everything collected (on the loop); the next `add` posts again.
    public func drain() -> Batch {
        lock.lock(); defer { lock.unlock() }
        let b = batch
        batch = Batch()
        posted = false
        return b
    }

    /// Wakes added and events posted so far (for tests and the bench).
    public var counts: (added: Int, posted: Int) { lock.lock(); defer { lock.unlock() }; return (addedCount, postedCount) }
}
