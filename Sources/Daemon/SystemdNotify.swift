import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3) without libsystemd: datagrams to the unix socket in `$NOTIFY_SOCKET` (`READY=1`, `WATCHDOG=1`,
/// `STATUS=…`, `STOPPING=1`). Without `$NOTIFY_SOCKET` (not run by systemd) every call does nothing.
public final class SystemdNotify: @unchecked Sendable {
    private let address: [UInt8]?
    private let fd: Int32
    /// Half of `$WATCHDOG_USEC` (when `$WATCHDOG_PID` is unset or ours): how often to send `WATCHDOG=1`.
    public let watchdogInterval: Double?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let path = environment["NOTIFY_SOCKET"], !path.isEmpty, path.hasPrefix("/") || path.hasPrefix("@") {
            var bytes = Array(path.utf8)
            if bytes[0] == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
            address = bytes
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        } else {
            address = nil
            fd = -1
        }
        let pidOK = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if pidOK, let s = environment["WATCHDOG_USEC"], let usec = Double(s), usec > 0 {
            watchdogInterval = usec / 2 / 1_000_000
        } else {
            watchdogInterval = nil
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// True when a notify socket was given.
    public var isActive: Bool { address != nil && fd >= 0 }

    /// Sends `state` (newline-separated `KEY=value` lines); returns false when it could not be delivered.
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard let address, fd >= 0 else { return false }
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: sa.sun_path)
        guard address.count < capacity else { return false }
        withUnsafeMutableBytes(of: &sa.sun_path) { raw in
            for (i, b) in address.enumerated() { raw[i] = b }
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + address.count)
        let payload = Array(state.utf8)
        let n = payload.withUnsafeBytes { buf in
            withUnsafePointer(to: &sa) { sp in
                sp.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL), $0, len) }
            }
        }
        return n == payload.count
    }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func status(_ text: String) { send("STATUS=\(text)") }
    public func watchdog() { send("WATCHDOG=1") }
    public func stopping(status: String) { send("STOPPING=1\nSTATUS=\(status)") }
}
