import Foundation
import TensorCore

/// One prompt record of DESIGN.md's "Prompt records": `prompt` required; `response` (or `answer`) and
/// `choices` only for evaluation; `system` ignored for conditioning; other fields kept for the report.
public struct PromptRecord: Sendable, Equatable {
    public var prompt: String
    public var response: String?
    public var choices: [String]?
    /// Index into `choices` of the right answer, when `choices` is given with an answer.
    public var correctChoice: Int?
    public var system: String?
    /// Unknown fields, as compact JSON strings.
    public var extra: [String: String]
    /// 1-based line (jsonl, txt) or element (json) the record came from.
    public var line: Int

    public init(prompt: String, response: String? = nil, choices: [String]? = nil, correctChoice: Int? = nil,
                system: String? = nil, extra: [String: String] = [:], line: Int = 0) {
        self.prompt = prompt; self.response = response; self.choices = choices; self.correctChoice = correctChoice
        self.system = system; self.extra = extra; self.line = line
    }

    /// True when the record can be scored (a reference response, or choices with the right one known).
    public var isEvaluable: Bool { response != nil || (choices != nil && correctChoice != nil) }
}

/// Limits enforced before any work starts (the daemon's config sets them).
public struct PromptLimits: Sendable, Equatable, Codable {
    public var maxFileBytes: Int = 64 << 20
    public var maxPrompts: Int = 100_000
    public var maxPromptChars: Int = 32_768

    public init(maxFileBytes: Int = 64 << 20, maxPrompts: Int = 100_000, maxPromptChars: Int = 32_768) {
        self.maxFileBytes = maxFileBytes; self.maxPrompts = maxPrompts; self.maxPromptChars = maxPromptChars
    }
}

/// Reads prompt files: `.jsonl` (one object a line), `.json` (an array of objects or strings), `.txt` (one
/// prompt a line). Every problem is reported with the file and line and what to do.
public enum PromptFile {
    /// At most this many bad lines are listed in one error.
    static let maxListedProblems = 10

    public static func read(_ url: URL, limits: PromptLimits = PromptLimits()) throws -> [PromptRecord] {
        let path = url.path
        let attrs: [FileAttributeKey: Any]
        do { attrs = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw DNDError("\(path): cannot read (no such file or no permission)")
        }
        if let type = attrs[.type] as? FileAttributeType, type != .typeRegular {
            throw DNDError("\(path): not a regular file (\(type.rawValue)); drop the file itself, not a link or a folder")
        }
        let size = (attrs[.size] as? NSNumber)?.intValue ?? 0
        guard size <= limits.maxFileBytes else {
            throw DNDError("\(path): \(size) bytes is over the limit of \(limits.maxFileBytes) bytes; split the file or raise max_file_bytes in config.toml")
        }
        guard size > 0 else { throw DNDError("\(path): the file is empty; put one JSON object per line with a \"prompt\" field") }
        let data = try Data(contentsOf: url)
        return try parse(data, name: path, format: Format(path: path), limits: limits)
    }

    /// The format, from the file extension (`.jsonl`/`.ndjson`, `.json`, `.txt`; anything else is read as jsonl).
    public enum Format: Sendable {
        case jsonl, json, txt
        public init(path: String) {
            switch (path as NSString).pathExtension.lowercased() {
            case "json": self = .json
            case "txt", "text": self = .txt
            default: self = .jsonl
            }
        }
    }

    public static func parse(_ data: Data, name: String, format: Format, limits: PromptLimits = PromptLimits()) throws -> [PromptRecord] {
        guard !data.isEmpty else { throw DNDError("\(name): the file is empty; put one JSON object per line with a \"prompt\" field") }
        if data.contains(0) { throw DNDError("\(name): binary data (NUL bytes); expected UTF-8 text (.jsonl, .json or .txt)") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DNDError("\(name): not valid UTF-8 text; save the file as UTF-8 (.jsonl, .json or .txt)")
        }
        var records: [PromptRecord] = []
        var problems: [String] = []
        func problem(_ s: String) { problems.append(s) }
        switch format {
        case .txt:
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let p = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if p.isEmpty { continue }
                records.append(PromptRecord(prompt: p, line: i + 1))
            }
        case .jsonl:
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.isEmpty { continue }
                guard let obj = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed]) else {
                    problem("line \(i + 1): not valid JSON (\(preview(trimmed)))"); continue
                }
                do { records.append(try record(from: obj, line: i + 1)) } catch let e as DNDError { problem("line \(i + 1): \(e.message)") }
            }
        case .json:
            guard let obj = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
                throw DNDError("\(name): not valid JSON; a .json prompt file is an array of objects with a \"prompt\" field (or of strings)")
            }
            guard let array = obj as? [Any] else { throw DNDError("\(name): a .json prompt file must hold an array; got \(type(of: obj))") }
            for (i, el) in array.enumerated() {
                do { records.append(try record(from: el, line: i + 1)) } catch let e as DNDError { problem("element \(i + 1): \(e.message)") }
            }
        }
        if !problems.isEmpty {
            let shown = problems.prefix(maxListedProblems).joined(separator: "; ")
            let more = problems.count > maxListedProblems ? " (and \(problems.count - maxListedProblems) more)" : ""
            throw DNDError("\(name): \(shown)\(more); each record needs a non-empty \"prompt\" string")
        }
        guard !records.isEmpty else { throw DNDError("\(name): no prompts found; put one JSON object per line with a \"prompt\" field") }
        guard records.count <= limits.maxPrompts else {
            throw DNDError("\(name): \(records.count) prompts is over the limit of \(limits.maxPrompts); split the file or raise max_prompts in config.toml")
        }
        if let long = records.first(where: { $0.prompt.count > limits.maxPromptChars }) {
            throw DNDError("\(name): line \(long.line): the prompt has \(long.prompt.count) characters, over the limit of \(limits.maxPromptChars); shorten it or raise max_prompt_chars in config.toml")
        }
        return records
    }

    static func preview(_ s: String) -> String {
        let p = s.prefix(40)
        return "starts with \"\(p)\(s.count > 40 ? "…" : "")\""
    }

    static func record(from obj: Any, line: Int) throws -> PromptRecord {
        if let s = obj as? String {
            guard !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw DNDError("empty prompt string") }
            return PromptRecord(prompt: s, line: line)
        }
        guard let o = obj as? [String: Any] else { throw DNDError("expected a JSON object with a \"prompt\" field") }
        guard let pv = o["prompt"] else { throw DNDError("no \"prompt\" field (fields: \(o.keys.sorted().joined(separator: ", ")))") }
        guard let prompt = pv as? String else { throw DNDError("\"prompt\" is not a string") }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw DNDError("\"prompt\" is empty") }
        var r = PromptRecord(prompt: prompt, line: line)
        let answerKey = o["response"] != nil ? "response" : "answer"
        if let rv = o[answerKey], !(rv is NSNull) {
            if let s = rv as? String { r.response = s }
            else if let n = rv as? NSNumber { r.response = n.stringValue }
            else { throw DNDError("\"\(answerKey)\" must be a string") }
        }
        if let cv = o["choices"], !(cv is NSNull) {
            guard let cs = cv as? [Any], cs.count >= 2, cs.allSatisfy({ $0 is String }) else {
                throw DNDError("\"choices\" must be an array of at least two strings")
            }
            let choices = cs as! [String]
            r.choices = choices
            if let rv = o[answerKey] {
                if let n = rv as? NSNumber {
                    guard n.intValue >= 0 && n.intValue < choices.count else { throw DNDError("\"\(answerKey)\" index \(n) is outside the \(choices.count) choices") }
                    r.correctChoice = n.intValue
                    r.response = choices[n.intValue]
                } else if let s = rv as? String {
                    let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
                    guard let i = choices.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines) == t }) else {
                        throw DNDError("\"\(answerKey)\" \"\(s)\" is not one of the choices")
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
}

extension PromptRecord {
    /// The record as one JSON line (`prompt`, and `response`/`choices`/`answer`/`system` when set; extra fields kept).
    public var jsonLine: String {
        var o: [String: Any] = ["prompt": prompt]
        if let choices {
            o["choices"] = choices
            if let correctChoice { o["answer"] = correctChoice }
        } else if let response { o["response"] = response }
        if let system { o["system"] = system }
        for (k, v) in extra {
            if let j = try? JSONSerialization.jsonObject(with: Data(v.utf8), options: [.fragmentsAllowed]) { o[k] = j }
        }
        let d = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: d, as: UTF8.self)
    }
}

extension PromptFile {
    /// Writes records as `.jsonl`, atomically.
    public static func write(_ records: [PromptRecord], to url: URL) throws {
        try AtomicFile.write(Data((records.map(\.jsonLine).joined(separator: "\n") + "\n").utf8), to: url)
    }
}
