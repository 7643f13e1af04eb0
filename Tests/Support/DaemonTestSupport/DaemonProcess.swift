import DNDTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The daemon executable the integration tests drive: `dnd-testhost serve` (the daemon with `FakeWorker`) by default;
/// `DND_DAEMON_BINARY=/path/to/dnd` (and `DND_DAEMON_ARGS="serve"`, the default) run them against the real `dnd serve`.
public struct DaemonUnderTest: Sendable {
    public var binary: URL
    /// Arguments before `--root DIR`.
    public var arguments: [String]

    public init(binary: URL, arguments: [String]) { self.binary = binary; self.arguments = arguments }

    public static var current: DaemonUnderTest {
        let env = ProcessInfo.processInfo.environment
        let args = env["DND_DAEMON_ARGS"].map { $0.split(separator: " ").map(String.init) } ?? ["serve"]
        if let b = env["DND_DAEMON_BINARY"], !b.isEmpty { return DaemonUnderTest(binary: URL(fileURLWithPath: b), arguments: args) }
        return DaemonUnderTest(binary: TestSupport.builtProduct("dnd-testhost"), arguments: args)
    }
}

/// One running daemon process on a root, with its stderr captured to `<root>/../<name>.log`.
public final class DaemonProcess: @unchecked Sendable {
    public let root: URL
    public let logFile: URL
    private let process = Process()

    /// Starts the daemon on `root` with `environment` added to this process's (NOTIFY_SOCKET and WATCHDOG_* removed
    /// unless given).
    public init(root: URL, environment: [String: String] = [:], daemon: DaemonUnderTest = .current) throws {
        self.root = root
        logFile = root.deletingLastPathComponent().appendingPathComponent(root.lastPathComponent + "-daemon.log")
        if !FileManager.default.fileExists(atPath: logFile.path) { _ = FileManager.default.createFile(atPath: logFile.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        var env = ProcessInfo.processInfo.environment
        for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "DND_ROOT"] { env[k] = nil }
        env.merge(environment) { $1 }
        process.executableURL = daemon.binary
        process.arguments = daemon.arguments + ["--root", root.path]
        process.environment = env
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for the process to end; returns its exit status (128 + n when killed by signal n), nil on timeout.
    @discardableResult
    public func waitForExit(timeout: Double) -> Int32? {
        let end = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { return nil }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// SIGKILL and reap.
    public func killHard() {
        signal(SIGKILL)
        _ = waitForExit(timeout: 10)
    }

    /// What the daemon wrote to stderr so far (all runs on this root).
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass; returns whether it held.
public func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return condition()
}
