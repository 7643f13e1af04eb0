import Foundation
import LoRA
import TensorCore

/// Sum and mean log-probability (natural log) of a response's tokens, and how many there were.
public typealias ResponseScore = (sumLogProb: Double, meanLogProb: Double, tokens: Int)

extension CausalLM {
    /// Token ids of a turn: the formatted prompt and the response, tokenized separately (so the boundary is
    /// the same in training and scoring).
    public func encodeTurn(prompt: String, response: String, system: String? = nil) -> (prompt: [Int], response: [Int]) {
        (tokenizer.encode(formatPrompt(prompt, system: system)), tokenizer.encode(response))
    }

    /// Log-probability of `response` after `prompt` (the prompt is formatted with `formatPrompt`). Only the
    /// response's own tokens are scored (no end-of-turn marker).
    public func score(prompt: String, response: String, adapter: LoRAAdapter?) throws -> ResponseScore {
        try score(pairs: [(prompt, response)], adapter: adapter)[0]
    }

    /// Scores many (prompt, response) pairs, packing several into each forward pass.
    public func score(pairs: [(prompt: String, response: String)], adapter: LoRAAdapter?) throws -> [ResponseScore] {
        let lora = try bindOptional(adapter)
        let turns = pairs.map { encodeTurn(prompt: $0.prompt, response: $0.response) }
        return try scoreIds(turns, lora: lora)
    }

    /// Picks the choice with the highest log-probability after `prompt` (summed over its tokens, or averaged
    /// when `lengthNormalized`). Returns its index.
    public func choose(prompt: String, choices: [String], adapter: LoRAAdapter?, lengthNormalized: Bool = false) throws -> Int {
        let scores = try score(pairs: choices.map { (prompt, $0) }, adapter: adapter)
        var best = 0
        for (i, s) in scores.enumerated() {
            let v = lengthNormalized ? s.meanLogProb : s.sumLogProb, b = lengthNormalized ? scores[best].meanLogProb : scores[best].sumLogProb
            if v > b { best = i }
        }
        return best
    }

    /// Scores token-id turns; forward passes hold at most `tokenBudget` tokens (a longer turn runs alone).
    /// With an empty prompt the first response token has no context and is not scored.
    public func scoreIds(_ turns: [(prompt: [Int], response: [Int])], lora: BoundLoRA?, tokenBudget: Int = 2048) throws -> [ResponseScore] {
        var results = [ResponseScore](repeating: (0, 0, 0), count: turns.count)
        var group: [Int] = []
        var tokens = 0
        func flush() {
            guard !group.isEmpty else { return }
            let seqs = group.map { turns[$0].prompt + turns[$0].response }
            let packed = PackedBatch(seqs)
            // Row predicting response token j of sequence b: start + |prompt| − 1 + j.
            var rows: [Int] = [], targets: [Int] = [], owner: [Int] = []
            for (b, i) in group.enumerated() {
                let p = turns[i].prompt.count
                for (j, t) in turns[i].response.enumerated() where p + j >= 1 {
                    rows.append(packed.starts[b] + p + j - 1); targets.append(t); owner.append(i)
                }
            }
            if !rows.isEmpty {
                let pass = transformer.forward(packed, lora: lora, keep: false)
                let lp = logProbabilities(pass.normed, rows: rows, targets: targets)
                for (k, i) in owner.enumerated() { results[i].sumLogProb += Double(lp[k]); results[i].tokens += 1 }
            }
            group = []; tokens = 0
        }
        for (i, t) in turns.enumerated() {
            try checkIds(t.prompt); try checkIds(t.response)
            let len = t.prompt.count + t.response.count
            if tokens + len > tokenBudget { flush() }
            group.append(i); tokens += len
        }
        flush()
        for i in results.indices where results[i].tokens > 0 { results[i].meanLogProb = results[i].sumLogProb / Double(results[i].tokens) }
        return results
    }

    /// log p(target | row) for each selected row of the LM head's input `normed [N, H]`; logits are formed a
    /// chunk of rows at a time so that `[rows, V]` stays small for large vocabularies.
    func logProbabilities(_ normed: Tensor, rows: [Int], targets: [Int]) -> [Float] {
        let v = config.vocabSize
        let chunk = max(1, (8 << 20) / v)
        var out: [Float] = []
        out.reserveCapacity(rows.count)
        var s = 0
        while s < rows.count {
            let e = min(rows.count, s + chunk)
            let logits = transformer.logits(normed, rows: Array(rows[s..<e]))   // [chunk, V]
            for i in 0..<(e - s) { out.append(CrossEntropy.logProbability(logits.pointer + i * v, target: targets[s + i], vocab: v)) }
            s = e
        }
        return out
    }
}
