import Foundation
import LoRA
import Prompts

/// What evaluation needs from a language model (the LLM engine's `CausalLM` provides it); prompts are raw
/// user prompts with the record's optional system message, the model applies its own chat template. Both calls
/// take many items at once so that the model can batch them.
public protocol ResponseScorer {
    /// Log-probability of each `response` after its `prompt`: sum and per-token mean (natural log), and the token count.
    func score(_ items: [(prompt: String, system: String?, response: String)], adapter: LoRAAdapter?) throws -> [(sumLogProb: Double, meanLogProb: Double, tokens: Int)]
    /// Greedy continuation of each prompt, stopping at end of turn or after its `maxTokens`.
    func generate(_ prompts: [(prompt: String, system: String?)], maxTokens: [Int], adapter: LoRAAdapter?) throws -> [String]
    /// Tokens `text` takes (to size generation budgets).
    func tokenCount(_ text: String) -> Int
}

/// Scores the base model and adapters on the same records: exact match of the greedy answer (after trimming)
/// for records with a `response`, likelihood choice for records with `choices`; mean NLL per response token.
public enum Evaluator {
    /// Records that can be scored; nil reason when there are some, else why evaluation cannot run.
    public static func evaluable(_ records: [PromptRecord]) -> (records: [PromptRecord], skipReason: String?) {
        let ok = records.filter(\.isEvaluable)
        if ok.isEmpty {
            return ([], "no record carries a \"response\" (or \"answer\") or \"choices\" with the right answer, so there is nothing to score")
        }
        return (ok, nil)
    }

    /// One table row per model: `models` pairs a display name with an adapter (nil = the base model).
    /// Records evaluated per batch.
    public static let chunkSize = 32

    public static func evaluate(_ scorer: ResponseScorer, baseModel: String, records: [PromptRecord],
                                models: [(name: String, adapter: LoRAAdapter?)],
                                progress: ((String, Int, Int) -> Void)? = nil) throws -> EvaluationTable {
        let hasChoices = records.contains { $0.choices != nil }, hasResponses = records.contains { $0.choices == nil }
        let metric = hasChoices && hasResponses ? "exact match (responses) and choice likelihood (choices)"
            : hasChoices ? "choice likelihood" : "exact match of the greedy answer"
        var rows: [EvaluationTable.Row] = []
        for (name, adapter) in models {
            let t0 = Date()
            var correct = 0, nll = 0.0, nllTokens = 0, done = 0
            // Chunks of records: the model batches each chunk's generations and scorings.
            for chunk in stride(from: 0, to: records.count, by: chunkSize).map({ Array(records[$0..<min(records.count, $0 + chunkSize)]) }) {
                let open = chunk.filter { $0.choices == nil && $0.response != nil }
                let answers = try scorer.generate(open.map { ($0.prompt, $0.system) },
                                                  maxTokens: open.map { max(8, 2 * scorer.tokenCount($0.response!) + 4) }, adapter: adapter)
                for (r, answer) in zip(open, answers)
                where answer.trimmingCharacters(in: .whitespacesAndNewlines) == r.response!.trimmingCharacters(in: .whitespacesAndNewlines) {
                    correct += 1
                }
                // Every choice of every choice record, and the reference response of every open record, in one call.
                var items: [(prompt: String, system: String?, response: String)] = []
                for r in chunk {
                    if let choices = r.choices, r.correctChoice != nil { items += choices.map { (r.prompt, r.system, $0) } }
                    else if let response = r.response { items.append((r.prompt, r.system, response)) }
                }
                let scores = try scorer.score(items, adapter: adapter)
                var at = 0
                for r in chunk {
                    if let choices = r.choices, let right = r.correctChoice {
                        let s = scores[at..<(at + choices.count)]
                        let best = s.indices.max { s[$0].sumLogProb < s[$1].sumLogProb || (s[$0].sumLogProb == s[$1].sumLogProb && $0 > $1) }!
                        if best - at == right { correct += 1 }
                        nll -= scores[at + right].sumLogProb; nllTokens += scores[at + right].tokens
                        at += choices.count
                    } else if r.response != nil {
                        nll -= scores[at].sumLogProb; nllTokens += scores[at].tokens
                        at += 1
                    }
                }
                done += chunk.count
                progress?(name, done, records.count)
            }
            rows.append(.init(name: name, accuracy: records.isEmpty ? 0 : Double(correct) / Double(records.count), correct: correct,
                              records: records.count, meanNLL: nllTokens > 0 ? nll / Double(nllTokens) : nil,
                              seconds: Date().timeIntervalSince(t0)))
        }
        return EvaluationTable(baseModel: baseModel, metric: metric, rows: rows)
    }
}
