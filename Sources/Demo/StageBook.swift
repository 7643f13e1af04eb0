import Foundation
import Pipeline
import TensorCore

/// What `dnd demo` remembers about its finished stages: `demo/stages/<stage>.json`, one record per stage (and per
/// dataset for the checkpoints), each with the key of the inputs it was built from.
///
/// A stage is skipped when its record's key equals the key of the current inputs and its outputs are still on
/// disk; anything else (no record, other settings, a deleted output, an interrupted run) builds it again. Keys chain:
/// the base model's key includes the data's, each dataset's checkpoints include the base model's, so changing a
/// setting rebuilds exactly what depends on it.
public struct StageBook: Sendable {
    /// One finished stage.
    public struct Record: Codable, Sendable, Equatable {
        public var stage: String
        /// Hash of everything the stage's output depends on.
        public var key: String
        public var seconds: Double
        public var finishedAt: String
        /// Free-form facts about the output (parameter counts, identities…).
        public var detail: [String: String]

        public init(stage: String, key: String, seconds: Double, detail: [String: String] = [:]) {
            self.stage = stage; self.key = key; self.seconds = seconds; self.detail = detail
            finishedAt = ISO8601DateFormatter().string(from: Date())
        }

        enum CodingKeys: String, CodingKey { case stage, key, seconds, finishedAt = "finished_at", detail }
    }

    public let folder: URL

    public init(folder: URL) { self.folder = folder }

    func url(_ stage: String) -> URL { folder.appendingPathComponent("\(stage).json") }

    /// The record of `stage`, or nil when there is none or it cannot be read (then the stage simply runs again).
    public func record(_ stage: String) -> Record? {
        guard let data = FileManager.default.contents(atPath: url(stage).path) else { return nil }
        return try? JSONDecoder().decode(Record.self, from: data)
    }

    /// The record of `stage` when it was built from `key` and `outputsPresent` says its outputs are still there.
    public func current(_ stage: String, key: String, outputsPresent: () -> Bool) -> Record? {
        guard let r = record(stage), r.key == key, outputsPresent() else { return nil }
        return r
    }

    /// Records `stage` as finished (atomically: a half-written record never reads as finished).
    public func finish(_ record: Record) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(record), to: url(record.stage))
    }

    /// Forgets `stage` (before rebuilding it, so that an interrupted rebuild is never taken as finished).
    public func forget(_ stage: String) throws {
        let u = url(stage)
        if FileManager.default.fileExists(atPath: u.path) { try FileManager.default.removeItem(at: u) }
    }

    /// The stages that have a record.
    public func stages() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// A stage key: SHA-256 of the parts (JSON of settings, upstream keys, names).
    public static func key(_ parts: [String]) -> String { Hashing.sha256Hex(parts: parts) }

    /// Canonical JSON of a settings value (sorted keys), for keys.
    public static func json<T: Encodable>(_ value: T) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return (try? enc.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
