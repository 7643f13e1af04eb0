import Foundation

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
