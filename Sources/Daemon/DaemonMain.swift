import Foundation
import Logging
import ServiceLifecycle
import TensorCore
import Workspace

/// The whole of `dnd serve`: resolve the root, log to stderr, run the `Daemon` in a ServiceGroup that turns SIGTERM
/// and SIGINT into a graceful shutdown. `dnd serve` is a thin command around `DaemonMain.run(rootOption:worker:)` (or `main`).
public enum DaemonMain {
    /// Runs the daemon until SIGTERM/SIGINT (then returns normally: exit 0). Throws `DNDError` for problems that
    /// prevent serving (bad config, another daemon on the root, folders on different file systems).
    public static func run(rootOption: String?, worker: any JobWorker,
                           environment: [String: String] = ProcessInfo.processInfo.environment) async throws {
        let (layout, source) = try RootLayout.resolve(option: rootOption, environment: environment)
        let level = environment["DND_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
        let logger = Logger(label: "dnd") { DaemonLogHandler(label: $0, level: level, environment: environment) }
        logger.info("serving root \(layout.root.path) (from \(source.rawValue))")
        let daemon = Daemon(layout: layout, worker: worker, logger: logger, notify: SystemdNotify(environment: environment))
        // ServiceGroup's own bookkeeping is debug-level noise in the journal.
        var groupLogger = logger
        groupLogger.logLevel = .warning
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: groupLogger))
        try await group.run()
    }

    /// The exit status of a daemon that cannot serve (a missing piece): EX_CONFIG, which the unit's
    /// `RestartPreventExitStatus=` keeps systemd from restarting in a loop until someone fixes it.
    public static let unusableExitStatus: Int32 = 78

    /// `DaemonMain.run` for a `main`: prints a one-line error and exits 1 on failure (78 when it cannot serve).
    public static func main(rootOption: String?, worker: any JobWorker) async -> Never {
        do {
            try await run(rootOption: rootOption, worker: worker)
            exit(0)
        } catch let e as DaemonUnusable {
            FileHandle.standardError.write(Data("error: \(DaemonLogHandler.printable(e.description.replacingOccurrences(of: "\n", with: " ")))\n".utf8))
            exit(unusableExitStatus)
        } catch {
            let message = (error as? DNDError)?.message ?? String(describing: error)
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            exit(1)
        }
    }
}
