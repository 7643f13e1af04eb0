import Foundation
import FileKit

/// The generators on disk: complete, immutable folders under `state/generators/<id>/`, and the link
/// `state/generator → generators/<id>` naming the one in use. Replacing it is one atomic `rename` of a new link over
/// the old, so a reader sees the old generator or the new one, never a mix; a job keeps the folder it started with
/// even if the link moves under it (old folders are pruned only when no job uses them).
public struct GeneratorStore: Sendable {
    public let layout: RootLayout
    static let tempLink = ".generator.new"

    public init(layout: RootLayout) { self.layout = layout }

    /// The folder name (`<id>`) the link points at, or nil when there is no link.
    public func linkedID() -> String? {
        guard Rename.kind(layout.generatorLink) == .symlink,
              let target = try? FileManager.default.destinationOfSymbolicLink(atPath: layout.generatorLink.path) else { return nil }
        let id = (target as NSString).lastPathComponent
        return Rename.kind(layout.generators.appendingPathComponent(id)) == .directory ? id : nil
    }

    public func folder(_ id: String) -> URL { layout.generators.appendingPathComponent(id) }

    /// Makes `state/generator` a link (start-up, with the root's lock held): a plain folder there (written by hand or
    /// by an older `dnd train`) is adopted into generators/; a missing link after a crash mid-adoption points at the
    /// newest generator folder. Returns the id in use, or nil when there is no generator at all.
    public func settle(validate: (URL) throws -> GeneratorInfo) throws -> String? {
        try Rename.remove(layout.state.appendingPathComponent(GeneratorStore.tempLink))
        switch Rename.kind(layout.generatorLink) {
        case .directory:
            let info = try validate(layout.generatorLink)
            let id = uniqueID(for: info.identity)
            try Rename.move(layout.generatorLink, to: folder(id))
            try point(at: id)
            return id
        case .symlink:
            if let id = linkedID() { return id }
            try Rename.remove(layout.generatorLink)  // dangling: fall through to the newest folder
            return try settle(validate: validate)
        case .missing:
            let newest = Rename.names(layout.generators).filter { !$0.hasPrefix(".") }
                .filter { Rename.kind(folder($0)) == .directory }
                .max { (Rename.signature(folder($0))?.mtimeNs ?? 0, $0) < (Rename.signature(folder($1))?.mtimeNs ?? 0, $1) }
            guard let newest else { return nil }
            _ = try validate(folder(newest))
            try point(at: newest)
            return newest
        case let k:
            throw DNDError("\(layout.generatorLink.path): is \(k.rawValue); remove it (dnd keeps a link to the generator in use there)")
        }
    }

    /// Moves a complete, validated generator folder into the store and makes it the one in use, atomically.
    @discardableResult
    public func install(_ source: URL, info: GeneratorInfo) throws -> GeneratorHandle {
        let id = uniqueID(for: info.identity)
        Rename.syncTree(source)
        try Rename.move(source, to: folder(id))
        try point(at: id)
        return GeneratorHandle(folder: folder(id), info: info)
    }

    /// Atomically points `state/generator` at `generators/<id>`.
    func point(at id: String) throws {
        let tmp = layout.state.appendingPathComponent(GeneratorStore.tempLink)
        try Rename.remove(tmp)
        guard symlink("generators/" + id, tmp.path) == 0 else {
            throw DNDError("\(tmp.path): cannot create a link (\(String(cString: strerror(errno))))")
        }
        guard rename(tmp.path, layout.generatorLink.path) == 0 else {
            let e = String(cString: strerror(errno))
            unlink(tmp.path)
            throw DNDError("\(layout.generatorLink.path): cannot replace the generator link (\(e))")
        }
        AtomicFile.syncDirectory(layout.state)
    }

    /// Removes every generator folder except those named in `keep` (the one in use and any a running job holds).
    @discardableResult
    public func prune(keep: Set<String>) -> [String] {
        var removed: [String] = []
        for id in Rename.names(layout.generators) where !keep.contains(id) {
            if (try? Rename.remove(folder(id))) != nil { removed.append(id) }
        }
        return removed
    }

    /// A folder name for `identity`, free in generators/.
    func uniqueID(for identity: String) -> String {
        JobName.unique(stem: JobName.sanitize(identity)) { Rename.exists(folder($0)) }
    }
}

/// A generator folder together with its description.
public struct GeneratorHandle: Sendable, Equatable {
    /// The generator's folder: stable for as long as a job or retraining uses it (swaps never touch it).
    public var folder: URL
    public var info: GeneratorInfo
    public init(folder: URL, info: GeneratorInfo) { self.folder = folder; self.info = info }
}

/// Who a generator is, for reports and `dnd status`.
public struct GeneratorInfo: Sendable, Codable, Equatable {
    /// A stable identity (e.g. a hash of the weights), named in every report.
    public var identity: String
    /// The datasets it was trained on.
    public var datasets: [String]
    /// When training finished, if known.
    public var trainedAt: Date?

    enum CodingKeys: String, CodingKey { case identity, datasets, trainedAt = "trained_at" }

    public init(identity: String, datasets: [String], trainedAt: Date?) {
        self.identity = identity; self.datasets = datasets; self.trainedAt = trainedAt
    }
}
