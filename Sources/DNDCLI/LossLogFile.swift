import Foundation
import Generator
import TensorCore

/// `dnd train --loss-log FILE`: the loss log's lines (`TrainingProgress.jsonLine`), appended as steps finish.
final class LossLogFile {
    let path: String
    let handle: FileHandle

    /// Creates (or empties) the file.
    init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw DNDError("\(path): cannot create the loss log; check that the folder exists and is writable")
        }
        handle = h
    }

    deinit { try? handle.close() }

    func append(_ p: TrainingProgress) {
        handle.write(Data(p.jsonLine.utf8))
    }
}
