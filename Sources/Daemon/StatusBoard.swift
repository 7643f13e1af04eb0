import Foundation
import Logging
import TensorCore
import Workspace

/// The status part of the daemon's loop: the `DaemonStatus` it keeps, written to `state/status.json` (for `dnd status`)
/// and sent as systemd's one-line STATUS=. A flood changes the counts hundreds of times a second, so writes are
/// throttled to one per `minInterval` (the loop's tick writes what is left); a change of state is written at once.
struct StatusBoard {
    var status: DaemonStatus
    /// The shortest time between two writes of status.json.
    let minInterval: Double
    /// Something changed since the last write.
    private(set) var dirty = true
    private var lastWrite = Date.distantPast
    private var lastSystemdLine = ""

    init(root: URL, minInterval: Double, now: Date = Date()) {
        self.minInterval = minInterval
        status = DaemonStatus(state: .starting, pid: getpid(), root: root.path, startedAt: now, updatedAt: now, queue: [:],
                              runningJob: nil, generator: nil,
                              retraining: .init(state: .idle, since: nil, completed: 0, succeeded: 0, lastOK: nil, lastError: nil, lastFinishedAt: nil),
                              delivered: 0, failed: 0, lastErrors: [])
    }

    mutating func changed() { dirty = true }

    /// True when a write is due: something changed and the last write is at least `minInterval` old.
    func isDue(now: Date) -> Bool { dirty && now.timeIntervalSince(lastWrite) >= minInterval }

    mutating func recordError(_ message: String, job: String?) {
        status.recordError(message, job: job)
        dirty = true
    }

    /// Writes status.json (atomically) and sends STATUS= when its line changed. `status` is filled in by the caller.
    mutating func publish(layout: RootLayout, notify: SystemdNotify, logger: Logger, systemdLine: String, now: Date = Date()) {
        status.updatedAt = now
        do { try StatusFile.write(status, layout: layout) } catch {
            logger.error("cannot write \(layout.statusFile.path): \((error as? DNDError)?.message ?? String(describing: error))")
        }
        dirty = false
        lastWrite = now
        if systemdLine != lastSystemdLine { notify.status(systemdLine); lastSystemdLine = systemdLine }
    }
}
