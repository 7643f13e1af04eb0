import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash-safe folder writing: the folder is filled under a temporary sibling name, synced, then moved into
/// place by one rename, so readers see the old folder or the complete new one, never a mix.
public enum AtomicFolder {
    /// Fills a fresh temporary sibling of `url` with `fill`, then puts it at `url`, replacing an existing folder
    /// (atomically by `renameat2(RENAME_EXCHANGE)` where the file system supports it).
    public static func write(_ url: URL, fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let parent = url.deletingLastPathComponent()
        do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw DNDError("\(parent.path): cannot create the folder (\(error.localizedDescription)); check permissions")
        }
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let tmp = parent.appendingPathComponent(".\(url.lastPathComponent).tmp-\(tag)")
        do { try fm.createDirectory(at: tmp, withIntermediateDirectories: false) } catch {
            throw DNDError("\(tmp.path): cannot create a temporary folder (\(error.localizedDescription)); check that \(parent.path) is writable")
        }
        var placed = false
        defer { if !placed { try? fm.removeItem(at: tmp) } }
        try fill(tmp)
        AtomicFile.syncFolder(tmp)
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw DNDError("\(url.path): exists and is not a folder; move it away first") }
            if Rename.exchange(tmp, url) {
                placed = true
                try? fm.removeItem(at: tmp)             // now holds the previous folder
            } else {
                let old = parent.appendingPathComponent(".\(url.lastPathComponent).old-\(tag)")
                guard rename(url.path, old.path) == 0 else {
                    throw DNDError("\(url.path): cannot move the previous folder aside (\(String(cString: strerror(errno))))")
                }
                guard rename(tmp.path, url.path) == 0 else {
                    let e = String(cString: strerror(errno))
                    _ = rename(old.path, url.path)
                    throw DNDError("\(url.path): rename failed (\(e))")
                }
                placed = true
                try? fm.removeItem(at: old)
            }
        } else {
            guard rename(tmp.path, url.path) == 0 else {
                throw DNDError("\(url.path): rename failed (\(String(cString: strerror(errno)))); check permissions")
            }
            placed = true
        }
        AtomicFile.syncDirectory(parent)
    }
}
