import Foundation
import Pipeline
import Prompts
import TensorCore

/// Bad input's way out: the `error.json` that goes with the untouched file into `failed/<job>/` (what is wrong, where,
/// how to fix it), made from the `PromptFileError` the reader or the worker threw, or from any other error.
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

    /// The report for an error raised while checking or processing `fileName`; internal paths are replaced by the
    /// file's name so the report speaks of what the user dropped.
    public static func report(for error: Error, job: String, fileName: String, input: URL?, now: Date = Date()) -> Report {
        func clean(_ s: String) -> String {
            guard let input else { return s }
            return s.replacingOccurrences(of: input.path, with: fileName)
        }
        if let e = error as? PromptFileError {
            // The reader's fix says what to change; the report adds how to resubmit.
            var fix = clean(e.fix)
            if !fix.contains("config.toml") {
                if let n = e.line { fix += "; correct \(e.unit.rawValue) \(n) (and any other listed) and drop the file into inbox/ again" }
                else { fix += ", then drop it into inbox/ again" }
            }
            return Report(job: job, file: fileName, kind: .input, what: clean(e.what), where: e.location, line: e.line, fix: fix, failedAt: now)
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
