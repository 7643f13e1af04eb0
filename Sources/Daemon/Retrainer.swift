import Foundation
import Pipeline
import TensorCore

/// When to retrain the generator: changes under checkpoints/ are debounced into exactly one retraining, never two at
/// once. The daemon's loop owns one `Retrainer`, asks it on every tick, and runs the retraining itself (on its own
/// thread, while jobs go on with the current generator); the new generator replaces the current one only once it is
/// complete and validated, and a failed retraining keeps the old one and is recorded with its reason.
///
/// "Changed" means the zoo's fingerprint (`Zoo.fingerprint`: every non-hidden file under checkpoints/ with its size
/// and mtime) differs
/// from the one the current generator was trained on, and from the one whose retraining last failed (so a broken zoo
/// is not retried until it changes again). A generator the daemon did not train itself (first seen at start-up,
/// installed by hand or by `dnd train`) is taken to match the zoo present when it is first seen.
public struct Retrainer: Sendable {
    /// Where the retraining machine stands.
    public enum Phase: Sendable, Equatable {
        /// Nothing to do: the zoo matches the generator (or retraining is turned off, see `enabled`).
        case idle
        /// A change was seen; retraining starts once the fingerprint stays the same for the debounce time.
        case waiting(fingerprint: String, since: Date)
        /// A retraining runs, on the zoo as it was at `fingerprint`.
        case running(fingerprint: String, since: Date)
    }

    public private(set) var phase: Phase = .idle
    public private(set) var record: RetrainRecord
    public var debounceSeconds: Double
    public var enabled: Bool
    private var dirty = true

    public init(record: RetrainRecord, debounceSeconds: Double, enabled: Bool) {
        self.record = record; self.debounceSeconds = debounceSeconds; self.enabled = enabled
    }

    /// The fingerprint of an empty zoo: nothing to train on, never a reason to retrain.
    public static let emptyFingerprint = Zoo.emptyFingerprint

    /// inotify saw something change under checkpoints/: look again at the next tick.
    public mutating func noteChange() { dirty = true }

    /// Start-up: `generator` is the id in use (nil: none). A generator the record does not know gets `fingerprint`
    /// as its baseline.
    public mutating func adopt(generator: String?, fingerprint: String) {
        // A record from before the fingerprint was unified (64-bit FNV-1a, 16 hex digits) cannot be compared: the
        // generator is taken to match the zoo present now, as any generator the record does not know.
        let stale = record.trainedFingerprint.map { $0.count == 16 } ?? false
        if generator != record.generator || stale {
            record.generator = generator
            record.trainedFingerprint = generator == nil ? nil : fingerprint
        }
        dirty = true
    }

    /// Decides at time `now`; returns the fingerprint to retrain on when a retraining must start now (the caller
    /// then calls `started`). `fingerprint` computes the zoo's current fingerprint (called only when needed);
    /// `rescan` forces a look even without a change notice.
    public mutating func tick(now: Date, rescan: Bool, fingerprint: () -> String) -> String? {
        if case .running = phase { return nil }
        guard enabled else { phase = .idle; return nil }
        var due = dirty || rescan
        if case .waiting(_, let since) = phase, now.timeIntervalSince(since) >= debounceSeconds { due = true }
        guard due else { return nil }
        dirty = false
        let fp = fingerprint()
        let failedBefore = record.last.map { $0.ok == false && $0.fingerprint == fp } ?? false
        if fp == Retrainer.emptyFingerprint || fp == record.trainedFingerprint || failedBefore {
            phase = .idle
            return nil
        }
        if case .waiting(let seen, let since) = phase, seen == fp {
            return now.timeIntervalSince(since) >= debounceSeconds ? fp : nil
        }
        phase = .waiting(fingerprint: fp, since: now)
        return debounceSeconds == 0 ? fp : nil
    }

    /// A retraining on `fingerprint` started.
    public mutating func started(fingerprint: String, now: Date) {
        phase = .running(fingerprint: fingerprint, since: now)
        record.last = RetrainRecord.Attempt(fingerprint: fingerprint, startedAt: now, finishedAt: nil, ok: nil, error: nil, generator: nil)
    }

    /// The retraining ended: with the id and identity of the installed generator, or with an error (the old
    /// generator stays). Either way the zoo is looked at again (it may have changed meanwhile).
    public mutating func finished(now: Date, installed: (id: String, identity: String)?, error: String?) {
        guard case .running(let fp, _) = phase else { return }
        record.completed += 1
        record.last?.finishedAt = now
        record.last?.ok = installed != nil
        record.last?.error = error
        if let installed {
            record.succeeded += 1
            record.generator = installed.id
            record.trainedFingerprint = fp
            record.last?.generator = installed.identity
        }
        phase = .idle
        dirty = true
    }

    /// The retraining was abandoned (shutdown): nothing is recorded as tried, so it starts again after a restart.
    public mutating func abandoned() {
        if case .running = phase { phase = .idle; record.last = nil; dirty = true }
    }
}

/// `state/retrain.json`: what the current generator was trained on and how the last retraining went.
public struct RetrainRecord: Codable, Sendable, Equatable {
    /// The generator id (folder under state/generators/) the fingerprint belongs to.
    public var generator: String?
    /// The checkpoints/ fingerprint that generator corresponds to.
    public var trainedFingerprint: String?
    /// Retrainings finished since the root was created (succeeded or failed).
    public var completed: Int = 0
    /// Of those, the ones whose generator was installed.
    public var succeeded: Int = 0
    /// The last attempt.
    public var last: Attempt?

    /// One retraining attempt.
    public struct Attempt: Codable, Sendable, Equatable {
        public var fingerprint: String
        public var startedAt: Date
        public var finishedAt: Date?
        public var ok: Bool?
        public var error: String?
        /// The identity of the generator it produced.
        public var generator: String?
        enum CodingKeys: String, CodingKey { case fingerprint, startedAt = "started_at", finishedAt = "finished_at", ok, error, generator }
    }

    enum CodingKeys: String, CodingKey {
        case generator, trainedFingerprint = "trained_fingerprint", completed, succeeded, last
    }

    public init() {}

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        generator = try c.decodeIfPresent(String.self, forKey: .generator)
        trainedFingerprint = try c.decodeIfPresent(String.self, forKey: .trainedFingerprint)
        completed = try c.decodeIfPresent(Int.self, forKey: .completed) ?? 0
        succeeded = try c.decodeIfPresent(Int.self, forKey: .succeeded) ?? 0
        last = try c.decodeIfPresent(Attempt.self, forKey: .last)
    }

    /// Reads the record; a missing or unreadable one is a fresh record (it only tunes when to retrain).
    public static func load(_ url: URL) -> RetrainRecord {
        guard let data = FileManager.default.contents(atPath: url.path) else { return RetrainRecord() }
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = .iso8601
        return (try? dec.decode(RetrainRecord.self, from: data)) ?? RetrainRecord()
    }

    public func save(_ url: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        enc.dateEncodingStrategy = .iso8601
        try AtomicFile.write(enc.encode(self), to: url)
    }
}

/// The retraining part of the daemon's loop: the debounce machine and the one retraining that may run beside the
/// jobs (its stop flag), each run in a fresh `state/retrain/run-<n>/`.
struct RetrainSlot {
    var retrainer: Retrainer
    /// The running retraining's stop flag; nil when none runs.
    var control: WorkControl?
    /// Retrainings started by this daemon (names their work folders).
    var runs = 0

    /// Where retraining stands, for status.json.
    func state(enabled: Bool) -> (DaemonStatus.Retraining.State, since: Date?) {
        switch retrainer.phase {
        case .idle: (enabled ? .idle : .disabled, nil)
        case .waiting(_, let since): (.waiting, since)
        case .running(_, let since): (.running, since)
        }
    }
}
