import Foundation
import FileKit
import TOMLKit

/// The folders of a dnd root (DESIGN.md "On-disk contract") and of the daemon's own `state/`.
///
/// ```
/// <root>/inbox/ outbox/<job>/ failed/<job>/ checkpoints/ base/ config.toml
/// <root>/state/jobs/{queued,running,done}/<job>/<file>   the job's state is the folder it sits in
/// <root>/state/jobs/tmp/<job>/                           results being written (never visible in outbox/)
/// <root>/state/generator -> generators/<id>              the generator in use (a link swapped atomically)
/// <root>/state/retrain/                                  a retraining's output while it runs
/// <root>/state/embeddings/                               the pipeline's embedding cache (the worker's)
/// <root>/state/training/                                 a generator training's resumable checkpoints
/// <root>/state/status.json, retrain.json, lock           the daemon's status, retraining record, instance lock
/// ```
public struct RootLayout: Sendable, Equatable {
    public let root: URL

    public init(root: URL) { self.root = root.standardizedFileURL }

    public var inbox: URL { root.appendingPathComponent("inbox") }
    public var outbox: URL { root.appendingPathComponent("outbox") }
    public var failed: URL { root.appendingPathComponent("failed") }
    public var checkpoints: URL { root.appendingPathComponent("checkpoints") }
    public var base: URL { root.appendingPathComponent("base") }
    public var configFile: URL { root.appendingPathComponent("config.toml") }
    public var state: URL { root.appendingPathComponent("state") }

    public var jobs: URL { state.appendingPathComponent("jobs") }
    public var queued: URL { jobs.appendingPathComponent("queued") }
    public var running: URL { jobs.appendingPathComponent("running") }
    public var done: URL { jobs.appendingPathComponent("done") }
    public var tmp: URL { jobs.appendingPathComponent("tmp") }

    public var generatorLink: URL { state.appendingPathComponent("generator") }
    public var generators: URL { state.appendingPathComponent("generators") }
    public var retrainWork: URL { state.appendingPathComponent("retrain") }
    /// The pipeline's embedding cache (the worker owns what is inside).
    public var embeddings: URL { state.appendingPathComponent("embeddings") }
    /// Where a generator training on this root keeps its resumable checkpoints (created when one runs).
    public var training: URL { state.appendingPathComponent("training") }
    public var retrainRecord: URL { state.appendingPathComponent("retrain.json") }
    public var statusFile: URL { state.appendingPathComponent("status.json") }
    public var lockFile: URL { state.appendingPathComponent("lock") }

    /// Every folder the daemon needs, parents first.
    public var folders: [URL] { [inbox, outbox, failed, checkpoints, state, jobs, queued, running, done, tmp, generators, embeddings] }

    /// Creates the folders and checks that every place a job moves between is on one file system (renames are atomic
    /// only within one).
    public func prepare() throws {
        try Rename.makeFolder(root)
        for f in folders { try Rename.makeFolder(f) }
        let devices = [inbox, outbox, failed, state].map { ($0, Rename.device($0)) }
        if let (first, dev) = devices.first, devices.contains(where: { $0.1 != dev }) {
            let other = devices.first { $0.1 != dev }!.0
            throw DNDError("\(other.path) and \(first.path) are on different file systems; dnd moves jobs by atomic rename, so keep inbox/, outbox/, failed/ and state/ on one file system")
        }
    }

    // MARK: - Where the root comes from

    /// The user-level file that may move the root: `$XDG_CONFIG_HOME/dnd/config.toml` (default `~/.config/dnd/config.toml`),
    /// whose only key is `root`.
    public static func userConfigFile(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? home(environment).appendingPathComponent(".config")
        return base.appendingPathComponent("dnd/config.toml")
    }

    /// Where the root was found, for `dnd config` and the logs.
    public enum Source: String, Sendable { case option = "--root", environment = "DND_ROOT", userConfig = "user config", defaultRoot = "default" }

    /// The root from, in order: `--root`, `$DND_ROOT`, `root` in the user config file, `~/dnd`.
    public static func resolve(option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (RootLayout, Source) {
        if let option, !option.isEmpty { return (RootLayout(root: expand(option, environment)), .option) }
        if let env = environment["DND_ROOT"], !env.isEmpty { return (RootLayout(root: expand(env, environment)), .environment) }
        let user = userConfigFile(environment: environment)
        if let text = try? String(contentsOf: user, encoding: .utf8) {
            let table: TOMLTable
            do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
                throw DNDError("\(user.path): line \(e.source.begin.line): \(e.description); fix the TOML syntax")
            }
            for key in table.keys where key != "root" {
                throw DNDError("\(user.path): unknown key '\(key)'; this file only holds `root = \"/path/to/dnd\"`, the other settings go in <root>/config.toml")
            }
            if let value = table["root"] {
                guard let s = value.string, !s.isEmpty else {
                    throw DNDError("\(user.path): `root` must be a non-empty string path, e.g. root = \"/data/dnd\"")
                }
                return (RootLayout(root: expand(s, environment)), .userConfig)
            }
        }
        return (RootLayout(root: home(environment).appendingPathComponent("dnd")), .defaultRoot)
    }

    public static func home(_ environment: [String: String]) -> URL {
        if let h = environment["HOME"], !h.isEmpty { return URL(fileURLWithPath: h) }
        return FileManager.default.homeDirectoryForCurrentUser
    }

    /// `~` and relative paths made absolute.
    public static func expand(_ path: String, _ environment: [String: String]) -> URL {
        if path == "~" { return home(environment) }
        if path.hasPrefix("~/") { return home(environment).appendingPathComponent(String(path.dropFirst(2))) }
        return URL(fileURLWithPath: path)
    }
}
