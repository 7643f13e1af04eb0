import FileKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One daemon per root: an exclusive `flock` on `state/lock`, released by the kernel even after `kill -9`. Commands
/// that must not run beside a daemon (`dnd train` installing a generator, the demo) ask `isHeld`.
public final class InstanceLock: @unchecked Sendable {
    public let layout: RootLayout
    private let fd: Int32

    /// Takes the lock or throws naming the daemon that holds it (`holder` reads its pid, e.g. from the status file).
    public init(layout: RootLayout, holder: () -> String? = { nil }) throws {
        self.layout = layout
        let fd = open(layout.lockFile.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DNDError("\(layout.lockFile.path): cannot open (\(String(cString: strerror(errno))))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw DNDError("another dnd daemon (pid \(holder() ?? "unknown")) is already serving \(layout.root.path); stop it first (systemctl --user stop dnd)")
        }
        _ = ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// True when a daemon holds the root's lock right now.
    public static func isHeld(_ layout: RootLayout) -> Bool {
        let fd = open(layout.lockFile.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { flock(fd, LOCK_UN); return false }
        return errno == EWOULDBLOCK
    }
}
