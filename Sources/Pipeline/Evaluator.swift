import Foundation
import LoRA
import Prompts

/// What evaluation needs from a language model (the LLM engine's `CausalLM` provides it); prompts are raw
/// user prompts, the model applies its own chat template.
public protocol ResponseScorer {
    /// Log-probability of `response` after `prompt`: sum and per-token mean (natural log), and the token count.
    func score(prompt: String, response: String, adapter: LoRAAdapter?) throws -> (sumLogProb: Double, meanLogProb: Double, tokens: Int)
    /// Index of the most likely of `choices` after `prompt`.
    func choose(prompt: String, choices: [String], adapter: LoRAAdapter?) throws -> Int
    /// Greedy continuation of `prompt`, stopping at end of sequence or after `maxTokens`.
    func generate(prompt: String, maxTokens: Int, adapter: LoRAAdapter?) throws -> String
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
    public static func evaluate(_ scorer: ResponseScorer, baseModel: String, records: [PromptRecord],
                                models: [(name: String, adapter: LoRAAdapter?)],
                                progress: ((String, Int, Int) -> Void)? = nil) throws -> EvaluationTable {
        let hasChoices = records.contains { $0.choices != nil }, hasResponses = records.contains { $0.choices == nil }
        let metric = hasChoices && hasResponses ? "exact match (responses) and choice likelihood (choices)"
            : hasChoices ? "choice likelihood" : "exact match of the greedy answer"
        var rows: [EvaluationTable.Row] = []
        for (name, adapter) in models {
            let t0 = Date()
            var correct = 0, nll = 0.0, nllTokens = 0
            for (i, r) in records.enumerated() {
                if let choices = r.choices, let right = r.correctChoice {
                    if try scorer.choose(prompt: r.prompt, choices: choices, adapter: adapter) == right { correct += 1 }
                    let s = try scorer.score(prompt: r.prompt, response: choices[right], adapter: adapter)
                    nll -= s.sumLogProb; nllTokens += s.tokens
                } else if let response = r.response {
                    let budget = max(8, 2 * scorer.tokenCount(response) + 4)
                    let answer = try scorer.generate(prompt: r.prompt, maxTokens: budget, adapter: adapter)
                    if answer.trimmingCharacters(in: .whitespacesAndNewlines) == response.trimmingCharacters(in: .whitespacesAndNewlines) {
                        correct += 1
                    }
                    let s = try scorer.score(prompt: r.prompt, response: response, adapter: adapter)
                    nll -= s.sumLogProb; nllTokens += s.tokens
                }
                progress?(name, i + 1, records.count)
            }
            rows.append(.init(name: name, accuracy: records.isEmpty ? 0 : Double(correct) / Double(records.count), correct: correct,
                              records: records.count, meanNLL: nllTokens > 0 ? nll / Double(nllTokens) : nil,
                              seconds: Date().timeIntervalSince(t0)))
        }
        return EvaluationTable(baseModel: baseModel, metric: metric, rows: rows)
    }
}
