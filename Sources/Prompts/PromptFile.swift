import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads prompt files: `.jsonl`/`.ndjson` (one object a line), `.json` (an array of objects or strings), `.txt` (one
/// prompt a line); any other extension is refused as an unsupported type. One reader for every caller (the daemon's
/// inbox and the command line): the path is opened without following links and without blocking on FIFOs, read in
/// chunks and parsed as it streams in, so memory stays bounded (the records, plus one record of at most
/// `maxRecordBytes` being parsed) and a file over a limit is refused as soon as that shows. Lines break at LF, CRLF
/// or CR; a UTF-8 byte-order mark is skipped. Every problem is a `PromptFileError` naming the file and line.
public enum PromptFile {
    /// At most this many bad records are listed in one error.
    static let maxListedProblems = 10
    /// Bytes read per `read(2)`.
    static let chunkBytes = 64 << 10

    /// The formats, from the file extension.
    public enum Format: String, Sendable, CaseIterable {
        case jsonl, json, txt

        /// The format of `path`'s extension; nil when dnd does not read it.
        public init?(path: String) {
            switch (path as NSString).pathExtension.lowercased() {
            case "jsonl", "ndjson": self = .jsonl
            case "json": self = .json
            case "txt", "text": self = .txt
            default: return nil
            }
        }

        /// What a problem's position counts.
        public var unit: PromptFileError.Unit { self == .json ? .element : .line }

        /// How to fill a file of this format.
        var shape: String {
            switch self {
            case .jsonl: "put one JSON object per line with a \"prompt\" field"
            case .json: "put an array of objects with a \"prompt\" field (or of strings)"
            case .txt: "put one prompt per line"
            }
        }
    }

    /// The file types dnd reads, for messages.
    public static let supportedTypes = ".jsonl (one JSON object a line), .json (an array) or .txt (one prompt a line)"

    /// What a prompt file holds: its records, and what was changed to make them usable.
    public struct Contents: Sendable, Equatable {
        public var records: [PromptRecord]
        /// Prompts cut to `maxPromptChars`, each naming its line.
        public var warnings: [PromptFileWarning]
    }

    // MARK: - The reader

    /// Reads the prompt file at `url` under `limits`; `name` is what errors call it (default: the path). Throws
    /// `PromptFileError` for anything wrong with the file (a link, a FIFO, over a limit, a bad record…).
    public static func load(_ url: URL, name: String? = nil, limits: PromptLimits = PromptLimits()) throws -> Contents {
        let name = name ?? url.path
        func refuse(_ what: String, _ fix: String) -> PromptFileError { PromptFileError(file: name, what: what, fix: fix) }
        switch Rename.kind(url) {
        case .regular: break
        case .symlink: throw refuse("it is a symbolic link, and dnd never follows links", "use the file itself (cp -L), not a link to it")
        case .missing: throw refuse("the file is missing (moved or removed before it could be read)", "check the path")
        case let k: throw refuse("it is \(k.rawValue), not a regular file", "give a prompt file: \(supportedTypes)")
        }
        guard let format = Format(path: name) else { throw unsupported(name) }
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw refuse("the file cannot be opened (\(String(cString: strerror(errno))))", "make it readable by the user running dnd")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw refuse("it is not a regular file", "give a prompt file: \(supportedTypes)")
        }
        let size = Int(st.st_size)
        guard size <= limits.maxFileBytes else {
            throw refuse("the file is \(size) bytes, over the limit of \(limits.maxFileBytes) bytes", "split the file or raise max_file_bytes in config.toml")
        }
        guard size > 0 else { throw refuse("the file is empty", format.shape) }
        var parser = PromptFileParser(name: name, format: format, limits: limits)
        var buffer = [UInt8](repeating: 0, count: chunkBytes)
        var total = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw refuse("the file cannot be read (\(String(cString: strerror(errno))))", "check the disk and the file")
            }
            if n == 0 { break }
            total += n
            guard total <= limits.maxFileBytes else {
                throw refuse("the file grew past the limit of \(limits.maxFileBytes) bytes while being read", "split the file or raise max_file_bytes in config.toml")
            }
            try buffer.withUnsafeBytes { try parser.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        guard total > 0 else { throw refuse("the file is empty", format.shape) }
        return try parser.finish()
    }

    /// Parses the bytes of a prompt file already in memory (same rules as `load`).
    public static func decode(_ data: Data, name: String, format: Format, limits: PromptLimits = PromptLimits()) throws -> Contents {
        guard !data.isEmpty else { throw PromptFileError(file: name, what: "the file is empty", fix: format.shape) }
        guard data.count <= limits.maxFileBytes else {
            throw PromptFileError(file: name, what: "the file is \(data.count) bytes, over the limit of \(limits.maxFileBytes) bytes",
                                  fix: "split the file or raise max_file_bytes in config.toml")
        }
        var parser = PromptFileParser(name: name, format: format, limits: limits)
        try data.withUnsafeBytes { try parser.feed($0) }
        return try parser.finish()
    }

    /// `load` for callers that report `DNDError`s (the command line, the zoo): the records, or the error's text.
    public static func read(_ url: URL, limits: PromptLimits = PromptLimits()) throws -> [PromptRecord] {
        do { return try load(url, limits: limits).records } catch let e as PromptFileError { throw DNDError(e.description) }
    }

    /// `decode` for callers that report `DNDError`s.
    public static func parse(_ data: Data, name: String, format: Format, limits: PromptLimits = PromptLimits()) throws -> [PromptRecord] {
        do { return try decode(data, name: name, format: format, limits: limits).records } catch let e as PromptFileError {
            throw DNDError(e.description)
        }
    }

    /// The error for a file whose extension dnd does not read.
    static func unsupported(_ name: String) -> PromptFileError {
        let ext = (name as NSString).pathExtension
        return PromptFileError(file: name, what: ext.isEmpty ? "unsupported file type (no extension)" : "unsupported file type (.\(ext))",
                               fix: "save the prompts as \(supportedTypes)")
    }

    // MARK: - Records

    /// Why one record is unusable.
    struct RecordProblem: Error { var what: String }

    static func record(from obj: Any, line: Int) throws -> PromptRecord {
        func bad(_ s: String) -> RecordProblem { RecordProblem(what: s) }
        if let s = obj as? String {
            guard !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw bad("empty prompt string") }
            return PromptRecord(prompt: s, line: line)
        }
        guard let o = obj as? [String: Any] else { throw bad("expected a JSON object with a \"prompt\" field") }
        guard let pv = o["prompt"] else { throw bad("no \"prompt\" field (fields: \(o.keys.sorted().joined(separator: ", ")))") }
        guard let prompt = pv as? String else { throw bad("\"prompt\" is not a string") }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw bad("\"prompt\" is empty") }
        var r = PromptRecord(prompt: prompt, line: line)
        let answerKey = o["response"] != nil ? "response" : "answer"
        if let rv = o[answerKey], !(rv is NSNull) {
            if let s = rv as? String { r.response = s }
            else if let n = rv as? NSNumber { r.response = n.stringValue }
            else { throw bad("\"\(answerKey)\" must be a string") }
        }
        if let cv = o["choices"], !(cv is NSNull) {
            guard let cs = cv as? [Any], cs.count >= 2, cs.allSatisfy({ $0 is String }) else {
                throw bad("\"choices\" must be an array of at least two strings")
            }
            let choices = cs as! [String]
            r.choices = choices
            if let rv = o[answerKey] {
                if let n = rv as? NSNumber {
                    guard n.intValue >= 0 && n.intValue < choices.count else { throw bad("\"\(answerKey)\" index \(n) is outside the \(choices.count) choices") }
                    r.correctChoice = n.intValue
                    r.response = choices[n.intValue]
                } else if let s = rv as? String {
                    let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
                    guard let i = choices.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines) == t }) else {
                        throw bad("\"\(answerKey)\" \"\(s)\" is not one of the choices")
                    }
                    r.correctChoice = i
                }
            }
        }
        if let s = o["system"] as? String { r.system = s }
        let known: Set<String> = ["prompt", "response", "answer", "choices", "system"]
        for (k, v) in o where !known.contains(k) {
            if let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]) {
                r.extra[k] = String(decoding: d, as: UTF8.self)
            }
        }
        return r
    }

    static func preview(_ s: String) -> String {
        let p = s.prefix(40)
        return "starts with \"\(p)\(s.count > 40 ? "…" : "")\""
    }

    /// Writes records as `.jsonl`, atomically.
    public static func write(_ records: [PromptRecord], to url: URL) throws {
        try AtomicFile.write(Data((records.map(\.jsonLine).joined(separator: "\n") + "\n").utf8), to: url)
    }
}

/// The streaming parser behind `PromptFile`: fed the file's bytes in chunks, it splits them into records (lines or
/// array elements), checks every limit as it goes and keeps only the records.
struct PromptFileParser {
    let name: String
    let format: PromptFile.Format
    let limits: PromptLimits
    private var lines: LineSplitter
    private var elements: JSONArraySplitter
    private var records: [PromptRecord] = []
    /// Records kept so far (never more than `maxPrompts`).
    var keptRecords: Int { records.count }
    private var warnings: [PromptFileWarning] = []
    private var problems: [(number: Int, what: String)] = []
    private var problemCount = 0
    /// Records seen: parsed, or (past `maxPrompts`) only counted.
    private var seen = 0
    /// The first bytes, held until there are three to look for a byte-order mark.
    private var head: [UInt8] = []
    private var started = false

    init(name: String, format: PromptFile.Format, limits: PromptLimits) {
        self.name = name; self.format = format; self.limits = limits
        lines = LineSplitter(maxLineBytes: limits.maxRecordBytes)
        elements = JSONArraySplitter(maxElementBytes: limits.maxRecordBytes)
    }

    func error(_ what: String, _ fix: String, at number: Int? = nil) -> PromptFileError {
        PromptFileError(file: name, line: number, unit: format.unit, what: what, fix: fix)
    }

    mutating func feed(_ chunk: UnsafeRawBufferPointer) throws {
        guard started else {
            head.append(contentsOf: chunk)
            guard head.count >= 3 else { return }
            try start()
            return
        }
        try process(chunk)
    }

    /// Skips a UTF-8 byte-order mark (Windows editors write one) and processes what was held.
    private mutating func start() throws {
        started = true
        let skip = head.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        let held = Array(head[skip...])
        head = []
        try held.withUnsafeBytes { try process($0) }
    }

    private mutating func process(_ chunk: UnsafeRawBufferPointer) throws {
        guard chunk.count > 0 else { return }
        if memchr(chunk.baseAddress!, 0, chunk.count) != nil {
            throw error("binary data (NUL bytes)", "save the prompts as UTF-8 text: \(PromptFile.supportedTypes)")
        }
        switch format {
        case .jsonl, .txt:
            // Lines completed by this chunk (together at most the chunk plus one record), then taken one by one.
            var done: [LineSplitter.Line] = []
            lines.feed(chunk) { done.append($0) }
            for line in done { try take(line: line) }
            if format == .jsonl && lines.droppingBytes { throw tooLong(lines.currentLineNumber) }
        case .json:
            var done: [JSONArraySplitter.Element] = []
            do { try elements.feed(chunk) { done.append($0) } } catch let p as JSONArraySplitter.Problem {
                for e in done { try take(element: e) }
                throw arrayError(p)
            }
            for e in done { try take(element: e) }
            if elements.droppingBytes { throw tooLong(elements.currentElementNumber) }
        }
    }

    mutating func finish() throws -> PromptFile.Contents {
        if !started { try start() }
        switch format {
        case .jsonl, .txt:
            var last: [LineSplitter.Line] = []
            lines.finish { last.append($0) }
            for line in last { try take(line: line) }
        case .json:
            do { try elements.finish() } catch let p as JSONArraySplitter.Problem { throw arrayError(p) }
        }
        if !problems.isEmpty {
            let first = problems[0]
            let rest = problems.dropFirst().map { "; \(format.unit.rawValue) \($0.number): \($0.what)" }.joined()
            let more = problemCount > problems.count ? " (and \(problemCount - problems.count) more)" : ""
            throw error(first.what + rest + more, "each record needs a non-empty \"prompt\" string", at: first.number)
        }
        guard seen > 0 else { throw error("no prompts found", format.shape) }
        guard seen <= limits.maxPrompts else {
            throw error("\(seen) prompts is over the limit of \(limits.maxPrompts)", "split the file or raise max_prompts in config.toml")
        }
        return PromptFile.Contents(records: records, warnings: warnings)
    }

    private func tooLong(_ number: Int) -> PromptFileError {
        error("the \(format.unit.rawValue) is over the limit of \(limits.maxRecordBytes) bytes for one record",
              "shorten it (prompts over max_prompt_chars are cut anyway) or raise max_record_bytes in config.toml", at: number)
    }

    private func arrayError(_ p: JSONArraySplitter.Problem) -> PromptFileError {
        let fix = "put the records in one JSON array [ … ], or save them one object per line as .jsonl"
        switch p {
        case .notAnArray(let b):
            let what = b == UInt8(ascii: "{") ? "an object" : "\"\(Character(Unicode.Scalar(b)))\""
            return error("not a JSON array (the file starts with \(what)); a .json prompt file is an array of objects with a \"prompt\" field (or of strings)", fix)
        case .textAfterArray: return error("not valid JSON: there is text after the closing ]", fix)
        case .notClosed: return error("not valid JSON: the array is not closed (no final ])", "complete the file; " + fix)
        case .blank: return error("no prompts found", format.shape)
        }
    }

    private func text(_ bytes: [UInt8], at number: Int) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw error("not valid UTF-8 text", "save the file as UTF-8", at: number)
        }
        return s
    }

    private mutating func problem(_ number: Int, _ what: String) {
        problemCount += 1
        if problems.count < PromptFile.maxListedProblems { problems.append((number, what)) }
    }

    private mutating func take(line: LineSplitter.Line) throws {
        if format == .jsonl && line.droppedBytes > 0 { throw tooLong(line.number) }
        var bytes = line.bytes
        if line.droppedBytes > 0 { LineSplitter.trimPartialScalar(&bytes) }
        let trimmed = try text(bytes, at: line.number).trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return }
        seen += 1
        guard seen <= limits.maxPrompts else { return }  // past the limit: only counted
        switch format {
        case .txt:
            var r = PromptRecord(prompt: trimmed, line: line.number)
            cut(&r, droppedBytes: line.droppedBytes, lineBytes: line.bytes.count + line.droppedBytes)
            records.append(r)
        default:
            parse(Data(trimmed.utf8), number: line.number, preview: trimmed)
        }
    }

    private mutating func take(element: JSONArraySplitter.Element) throws {
        if element.droppedBytes > 0 { throw tooLong(element.number) }
        seen += 1
        guard seen <= limits.maxPrompts else { return }
        guard !element.bytes.isEmpty else { problem(element.number, "not valid JSON (an empty element: a stray comma?)"); return }
        let s = try text(element.bytes, at: element.number)
        parse(Data(element.bytes), number: element.number, preview: s)
    }

    private mutating func parse(_ data: Data, number: Int, preview: String) {
        guard let obj = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            problem(number, "not valid JSON (\(PromptFile.preview(preview)))")
            return
        }
        do {
            var r = try PromptFile.record(from: obj, line: number)
            cut(&r, droppedBytes: 0, lineBytes: data.count)
            records.append(r)
        } catch let p as PromptFile.RecordProblem {
            problem(number, p.what)
        } catch {
            problem(number, "\(error)")
        }
    }

    /// Cuts a prompt over `maxPromptChars` (or a `.txt` line over `maxRecordBytes`) at a character boundary, with a
    /// warning naming the line: the encoder reads only its first tokens anyway.
    private mutating func cut(_ r: inout PromptRecord, droppedBytes: Int, lineBytes: Int) {
        let limit = limits.maxPromptChars
        let long = r.prompt.utf8.count > limit && r.prompt.count > limit  // a Character is at least one byte
        guard long || droppedBytes > 0 else { return }
        let had = long ? r.prompt.count : nil
        if long { r.prompt = String(r.prompt.prefix(limit)) }
        let what: String
        if droppedBytes > 0 {
            what = "the line has \(lineBytes) bytes, over max_record_bytes = \(limits.maxRecordBytes): only its first \(r.prompt.count) characters are used"
        } else {
            what = "the prompt has \(had!) characters, over max_prompt_chars = \(limit): only its first \(limit) are used"
        }
        warnings.append(PromptFileWarning(line: r.line, unit: format.unit, what: what))
    }
}

extension LineSplitter {
    /// Drops an incomplete UTF-8 sequence at the end of `bytes` (a line cut at a byte limit).
    static func trimPartialScalar(_ bytes: inout [UInt8]) {
        var i = bytes.count - 1
        var continuation = 0
        while i >= 0, bytes[i] & 0xC0 == 0x80, continuation < 3 { i -= 1; continuation += 1 }
        guard i >= 0 else { return }
        let lead = bytes[i]
        let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        if continuation + 1 < length { bytes.removeSubrange(i...) }
    }
}
