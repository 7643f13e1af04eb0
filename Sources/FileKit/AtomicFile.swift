import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash-safe file writing: temp name in the same folder, fsync, rename, fsync of the folder.
public enum AtomicFile {
    /// Writes `data` to `url` so that readers see either the old file or the complete new one.
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DNDError("\(tmp.path): cannot create (\(String(cString: strerror(errno)))); check the folder exists and is writable") }
        var ok = false
        defer { if !ok { unlink(tmp.path) } }
        try data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    let e = String(cString: strerror(errno)); close(fd)
                    throw DNDError("\(url.path): write failed (\(e)); is the disk full?")
                }
                off += n
            }
        }
        guard fsync(fd) == 0 else { let e = String(cString: strerror(errno)); close(fd); throw DNDError("\(url.path): fsync failed (\(e))") }
        close(fd)
        guard rename(tmp.path, url.path) == 0 else { throw DNDError("\(url.path): rename failed (\(String(cString: strerror(errno))))") }
        ok = true
        syncDirectory(dir)
    }

    /// fsyncs a directory so that renames inside it survive a crash.
    public static func syncDirectory(_ dir: URL) {
        let fd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    /// fsyncs every regular file in `dir` (not recursive) and the folder itself.
    public static func syncFolder(_ dir: URL) {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) {
            for n in names {
                let fd = open(dir.appendingPathComponent(n).path, O_RDONLY | O_CLOEXEC)
                if fd >= 0 { fsync(fd); close(fd) }
            }
        }
        syncDirectory(dir)
    }
}
