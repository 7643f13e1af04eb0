import FileKit
import Foundation

extension GeneratorStore {
    /// Installs a copy of a generator folder made elsewhere (`dnd install-generator`): its `files` are copied into a
    /// staging folder under state/ (the store's file system), the copy is validated by `validate`, then `install`
    /// moves it into generators/ and swaps the link, as a retraining's result is installed. The source is untouched.
    @discardableResult
    public func installCopy(of source: URL, files: [String], validate: (URL) throws -> GeneratorInfo) throws -> GeneratorHandle {
        let stage = layout.state.appendingPathComponent(".install-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try Rename.makeFolder(stage)
        var installed = false
        defer { if !installed { try? Rename.remove(stage) } }
        for name in files {
            let from = source.appendingPathComponent(name), to = stage.appendingPathComponent(name)
            do { try FileManager.default.copyItem(at: from, to: to) } catch {
                throw DNDError("\(from.path): cannot copy into \(stage.path) (\(error.localizedDescription)); a generator folder holds \(files.joined(separator: ", "))")
            }
        }
        let info = try validate(stage)  // the copy, not the source: what is installed is what was checked
        let handle = try install(stage, info: info)
        installed = true
        return handle
    }
}
