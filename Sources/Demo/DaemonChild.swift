import Daemon
import Foundation
import TensorCore
import Workspace

/// `dnd serve` on a root, run as a child process of `dnd demo`: its output goes to a log file, it is ready once
/// its status file says "running" (the inbox watch is then in place), and it stops with SIGTERM.
public final class DaemonChild {
    public let process = Process()
    public let layout: RootLayout
    public let log: URL
    private let logHandle: FileHandle

    /// Starts `executable serve --root <root> [--encoder DIR]`; output (stdout and stderr) is appended to `log`.
    public init(executable: URL, layout: RootLayout, encoder: URL?, log: URL) throws {
        self.layout = layout; self.log = log
        let fm = FileManager.default
        guard fm.isExecutableFile(atPath: executable.path) else {
            throw DNDError("\(executable.path): not an executable; the demo starts `dnd serve` with the binary that runs it")
        }
        try fm.createDirectory(at: log.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !fm.fileExists(atPath: log.path) { _ = fm.createFile(atPath: log.path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: log.path) else { throw DNDError("\(log.path): cannot open the daemon log for writing") }
        h.seekToEndOfFile()
        logHandle = h
        process.executableURL = executable
        process.arguments = ["serve", "--root", layout.root.path] + (encoder.map { ["--encoder", $0.path] } ?? [])
        process.standardOutput = h
        process.standardError = h
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw DNDError("\(executable.path): cannot start `dnd serve` (\(error.localizedDescription))")
        }
    }

    deinit { try? logHandle.close() }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Waits until the daemon reports "running" (its watcher is set up); throws with the log's tail when it exits
    /// first or `timeout` passes.
    public func waitUntilReady(timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning {
                throw DNDError("`dnd serve` exited with status \(process.terminationStatus) before it was ready; its log (\(log.path)) ends with:\n\(logTail())")
            }
            if let s = try? StatusFile.read(layout: layout), s.pid == pid, s.state == .running { return }
            usleep(50_000)
        }
        throw DNDError("`dnd serve` was not ready after \(Int(timeout)) s; see its log \(log.path):\n\(logTail())")
    }

    /// SIGTERM, then waits up to `timeout` seconds (SIGKILL after that); returns the exit status.
    @discardableResult
    public func stop(timeout: Double = 30) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    /// The last `lines` lines of the log.
    public func logTail(lines: Int = 12) -> String {
        guard let data = FileManager.default.contents(atPath: log.path) else { return "(no log)" }
        let all = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        return all.suffix(lines).map { "  " + $0 }.joined(separator: "\n")
    }
}
