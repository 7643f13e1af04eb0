import Foundation
import Pipeline
import Prompts
import TensorCore

/// Bad input's way out: the checks a dropped file passes before any work starts, and the `error.json` that goes with
/// the untouched file into `failed/<job>/` (what is wrong, where, how to fix it).
public enum FailedJob {
    /// `failed/<job>/error.json`.
    public struct Report: Codable, Sendable, Equatable {
        /// The job's name (its folder under failed/).
        public var job: String
        /// The dropped file's name, kept unchanged beside this report.
        public var file: String
        /// `input` (the file must change) or `processing` (dnd or its generator failed on this file).
        public var kind: Kind
        /// What is wrong, in one sentence.
        public var what: String
        /// Where: "line 3", "element 2", or nil when the whole file is concerned.
        public var `where`: String?
        /// The 1-based line (or element) of `where`, for tools.
        public var line: Int?
        /// How to fix it.
        public var fix: String
        /// When the job failed.
        public var failedAt: Date

        /// The two kinds of failure.
        public enum Kind: String, Codable, Sendable { case input, processing }

        enum CodingKeys: String, CodingKey { case job, file, kind, what, `where`, line, fix, failedAt = "failed_at" }

        public init(job: String, file: String, kind: Kind, what: String, where: String?, line: Int?, fix: String, failedAt: Date) {
            self.job = job; self.file = file; self.kind = kind; self.what = what; self.where = `where`; self.line = line
            self.fix = fix; self.failedAt = failedAt
        }

        /// The whole report as one line, for logs and status.
        public var summary: String { "\(file): \(`where`.map { "\($0): " } ?? "")\(what); \(fix)" }
    }

    /// The generic advice when an error message carries none.
    static let resubmit = "fix the file and drop it into inbox/ again"

    // MARK: - Checks before work starts

    /// Reads `input` (the stored dropped file) without following links and without blocking on FIFOs, and parses it
    /// under `limits`. Throws `JobInputError` naming the line and the fix.
    public static func readInput(_ input: URL, fileName: String, limits: PromptLimits) throws -> [PromptRecord] {
        switch Rename.kind(input) {
        case .regular: break
        case .symlink:
            throw JobInputError(what: "it is a symbolic link, and dnd never follows links out of the inbox",
                                fix: "copy the file itself into inbox/ (cp -L), not a link to it")
        case .missing:
            throw JobInputError(what: "the file disappeared before it could be read", fix: "drop the file into inbox/ again")
        case let k:
            throw JobInputError(what: "it is \(k.rawValue), not a regular file",
                                fix: "drop a prompt file (.jsonl, .json or .txt) into inbox/, not \(k.rawValue)")
        }
        let fd = open(input.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw JobInputError(what: "the file cannot be opened (\(String(cString: strerror(errno))))",
                                fix: "make the file readable by the user running dnd and drop it again")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw JobInputError(what: "it is not a regular file", fix: "drop a prompt file (.jsonl, .json or .txt) into inbox/")
        }
        let size = Int(st.st_size)
        guard size <= limits.maxFileBytes else {
            throw JobInputError(what: "the file is \(size) bytes, over the limit of \(limits.maxFileBytes) bytes",
                                fix: "split the file or raise max_file_bytes in config.toml")
        }
        let data: Data
        do { data = try handle.readToEnd() ?? Data() } catch {
            throw JobInputError(what: "the file cannot be read (\(error.localizedDescription))", fix: resubmit)
        }
        guard data.count <= limits.maxFileBytes else {
            throw JobInputError(what: "the file grew past the limit of \(limits.maxFileBytes) bytes while being read",
                                fix: "split the file or raise max_file_bytes in config.toml")
        }
        do {
            return try PromptFile.parse(data, name: fileName, format: PromptFile.Format(path: fileName), limits: limits)
        } catch let e as DNDError {
            throw inputError(fromMessage: e.message, fileName: fileName)
        }
    }

    /// Splits a `PromptFile` message (`<file>: line 3: what; fix`) into a `JobInputError`.
    static func inputError(fromMessage message: String, fileName: String) -> JobInputError {
        var body = message
        if body.hasPrefix(fileName + ": ") { body.removeFirst(fileName.count + 2) }
        var line: Int?
        for word in ["line ", "element "] where body.hasPrefix(word) {
            let digits = body.dropFirst(word.count).prefix { $0.isNumber }
            if let n = Int(digits) { line = n }
        }
        // Drop the leading "line N: " (the report carries it in `where`).
        if line != nil, let r = body.range(of: ": ") { body = String(body[r.upperBound...]) }
        var what = body, fix = resubmit
        if let r = body.range(of: "; ", options: .backwards) {
            what = String(body[..<r.lowerBound]); fix = String(body[r.upperBound...])
        }
        if let line, !fix.contains("config.toml") { fix += "; correct line \(line) (and any other listed) and drop the file into inbox/ again" }
        return JobInputError(what: what, line: line, fix: fix)
    }

    /// The report for an error raised while checking or processing `fileName`; internal paths are replaced by the
    /// file's name so the report speaks of what the user dropped.
    public static func report(for error: Error, job: String, fileName: String, input: URL?, now: Date = Date()) -> Report {
        func clean(_ s: String) -> String {
            guard let input else { return s }
            return s.replacingOccurrences(of: input.path, with: fileName)
        }
        if let e = error as? JobInputError {
            let whereWord = e.line.map { (PromptFile.Format(path: fileName) == .json ? "element " : "line ") + String($0) }
            return Report(job: job, file: fileName, kind: .input, what: clean(e.what), where: whereWord, line: e.line,
                          fix: clean(e.fix), failedAt: now)
        }
        let message = clean((error as? DNDError)?.message ?? String(describing: error))
        return Report(job: job, file: fileName, kind: .processing, what: "dnd could not make an adapter from \(fileName): \(message)",
                      where: nil, line: nil,
                      fix: "check `dnd status` and the daemon's log (journalctl --user -u dnd); drop the file again once the cause is fixed",
                      failedAt: now)
    }

    /// Writes `report` as `error.json` into `folder` (atomically).
    public static func write(_ report: Report, into folder: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        enc.dateEncodingStrategy = .iso8601
        try AtomicFile.write(enc.encode(report), to: folder.appendingPathComponent(JobQueue.errorFile))
    }

    /// Reads a failed job's `error.json`.
    public static func read(_ folder: URL) throws -> Report {
        let dec = JSONDecoder()
        dec.dateDecodingStrategy = .iso8601
        let url = folder.appendingPathComponent(JobQueue.errorFile)
        do { return try dec.decode(Report.self, from: Data(contentsOf: url)) } catch {
            throw DNDError("\(url.path): not a dnd error report (\(error.localizedDescription))")
        }
    }
}
