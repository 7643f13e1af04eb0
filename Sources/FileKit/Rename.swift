import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The file-system primitives the queue is built on: `renameat2` without replacing, `lstat` kinds, durable folders.
public enum Rename {
    /// `renameat2(2)`, looked up at run time: Swift's Glibc module hides it behind `_GNU_SOURCE`.
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    private static let renameat2: RenameAt2? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(sym, to: RenameAt2.self)
    }()
    private static let noReplaceFlag: UInt32 = 1  // RENAME_NOREPLACE
    private static let exchangeFlag: UInt32 = 2   // RENAME_EXCHANGE

    /// Swaps `a` and `b` atomically (`renameat2(RENAME_EXCHANGE)`); false when the system or file system lacks it.
    public static func exchange(_ a: URL, _ b: URL) -> Bool {
        guard let renameat2 else { return false }
        return renameat2(AT_FDCWD, a.path, AT_FDCWD, b.path, exchangeFlag) == 0
    }

    /// Moves `from` to `to` atomically, never replacing an existing `to` (RENAME_NOREPLACE), then (unless `sync` is
    /// false: the caller fsyncs the folders itself, once for a batch) fsyncs both parent folders so the move survives a
    /// crash. Links, FIFOs and folders are moved themselves, never followed.
    public static func move(_ from: URL, to: URL, sync: Bool = true) throws {
        var rc: Int32 = -1
        var err: Int32 = 0
        if let renameat2 {
            rc = renameat2(AT_FDCWD, from.path, AT_FDCWD, to.path, noReplaceFlag)
            err = errno
        }
        if renameat2 == nil || (rc != 0 && (err == EINVAL || err == ENOSYS)) {
            // File systems without RENAME_NOREPLACE: the daemon holds the root's lock, so check-then-rename is safe
            // against itself; nothing else writes into state/.
            if exists(to) { throw DNDError("\(to.path): already exists; cannot move \(from.path) there") }
            rc = Glibc.rename(from.path, to.path)
            err = errno
        }
        guard rc == 0 else {
            if err == EEXIST || err == ENOTEMPTY { throw DNDError("\(to.path): already exists; cannot move \(from.path) there") }
            if err == EXDEV {
                throw DNDError("\(from.path) → \(to.path): on different file systems; keep inbox/, outbox/, failed/ and state/ of the dnd root on one file system")
            }
            throw DNDError("\(from.path) → \(to.path): rename failed (\(String(cString: strerror(err))))")
        }
        guard sync else { return }
        let a = from.deletingLastPathComponent(), b = to.deletingLastPathComponent()
        AtomicFile.syncDirectory(b)
        if a.standardizedFileURL.path != b.standardizedFileURL.path { AtomicFile.syncDirectory(a) }
    }

    /// What `lstat` says a path is (links are not followed).
    public enum Kind: String, Sendable, Equatable {
        case regular = "a regular file", directory = "a folder", symlink = "a symbolic link", fifo = "a FIFO (named pipe)"
        case socket = "a socket", device = "a device node", missing = "missing"
    }

    /// The kind of `url` itself, without following a final symbolic link.
    public static func kind(_ url: URL) -> Kind {
        var st = stat()
        guard lstat(url.path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        case S_IFIFO: return .fifo
        case S_IFSOCK: return .socket
        default: return .device
        }
    }

    /// True when something (even a dangling link) exists at `url`.
    public static func exists(_ url: URL) -> Bool { kind(url) != .missing }

    /// (size, mtime in ns, inode) from `lstat`; nil when missing.
    public static func signature(_ url: URL) -> (size: Int, mtimeNs: Int, inode: UInt64)? {
        var st = stat()
        guard lstat(url.path, &st) == 0 else { return nil }
        return (Int(st.st_size), Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec), UInt64(st.st_ino))
    }

    /// The device id of `url` (following links), for the one-file-system check.
    public static func device(_ url: URL) -> UInt64? {
        var st = stat()
        guard stat(url.path, &st) == 0 else { return nil }
        return UInt64(st.st_dev)
    }

    /// Names in a folder, sorted, without `.` and `..`; empty when the folder is missing.
    public static func names(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    /// Removes a file, link or whole folder tree without following links; missing is fine.
    public static func remove(_ url: URL) throws {
        guard exists(url) else { return }
        do { try FileManager.default.removeItem(at: url) } catch {
            throw DNDError("\(url.path): cannot remove (\(error.localizedDescription)); check permissions")
        }
    }

    /// fsyncs every regular file under `dir` (recursively, links not followed) and every folder, bottom-up.
    public static func syncTree(_ dir: URL) {
        for name in names(dir) {
            let u = dir.appendingPathComponent(name)
            switch kind(u) {
            case .directory: syncTree(u)
            case .regular:
                let fd = open(u.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                if fd >= 0 { fsync(fd); close(fd) }
            default: break
            }
        }
        AtomicFile.syncDirectory(dir)
    }

    /// Creates `dir` and its parents when missing; throws with the path when it cannot, or when a non-folder is there.
    public static func makeFolder(_ dir: URL) throws {
        switch kind(dir) {
        case .directory: return
        case .missing:
            do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                throw DNDError("\(dir.path): cannot create the folder (\(error.localizedDescription)); check permissions")
            }
            AtomicFile.syncDirectory(dir.deletingLastPathComponent())
        case .symlink:
            // A link to a folder is fine (a user may point outbox/ elsewhere on the same file system).
            var st = stat()
            guard stat(dir.path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                throw DNDError("\(dir.path): a link that does not lead to a folder; remove it or point it at a folder")
            }
        case let k:
            throw DNDError("\(dir.path): is \(k.rawValue), not a folder; move it away so dnd can create the folder")
        }
    }
}
