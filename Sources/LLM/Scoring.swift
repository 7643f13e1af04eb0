import Foundation
import LoRA
import TensorCore

/// Sum and mean log-probability (natural log) of a response's tokens, and how many there were.
public typealias ResponseScore = (sumLogProb: Double, meanLogProb: Double, tokens: Int)

extension CausalLM {
    /// Token ids of a turn: the formatted prompt and the response, tokenized separately (so the boundary is
    /// the same in training and scoring).
    public func encodeTurn(prompt: String, response: String, system: String? = nil) throws -> (prompt: [Int], response: [Int]) {
        (tokenizer.encode(try formatPrompt(prompt, system: system)), tokenizer.encode(response))
    }

    /// Log-probability of `response` after `prompt` (the prompt is formatted with `formatPrompt`, with `system` as
    /// the system message). Only the response's own tokens are scored (no end-of-turn marker).
    public func score(prompt: String, response: String, system: String? = nil, adapter: LoRAAdapter?) throws -> ResponseScore {
        try score(pairs: [(prompt, response)], system: system, adapter: adapter)[0]
    }

    /// Scores many (prompt, response) pairs under one system message, packing several into each forward pass.
    public func score(pairs: [(prompt: String, response: String)], system: String? = nil, adapter: LoRAAdapter?) throws -> [ResponseScore] {
        let lora = try bindOptional(adapter)
        let turns = try pairs.map { try encodeTurn(prompt: $0.prompt, response: $0.response, system: system) }
        return try scoreIds(turns, lora: lora)
    }

    /// Scores (prompt, system, response) turns, each prompt under its own system message, packing several into each
    /// forward pass.
    public func score(turns: [(prompt: String, system: String?, response: String)], adapter: LoRAAdapter?) throws -> [ResponseScore] {
        let lora = try bindOptional(adapter)
        return try scoreIds(try turns.map { try encodeTurn(prompt: $0.prompt, response: $0.response, system: $0.system) }, lora: lora)
    }

    /// Picks the choice with the highest log-probability after `prompt` (summed over its tokens, or averaged
    /// when `lengthNormalized`). Returns its index.
    public func choose(prompt: String, choices: [String], system: String? = nil, adapter: LoRAAdapter?, lengthNormalized: Bool = false) throws -> Int {
        let scores = try score(pairs: choices.map { (prompt, $0) }, system: system, adapter: adapter)
        var best = 0
        for (i, s) in scores.enumerated() {
            let v = lengthNormalized ? s.meanLogProb : s.sumLogProb, b = lengthNormalized ? scores[best].meanLogProb : scores[best].sumLogProb
            if v > b { best = i }
        }
        return best
    }

    /// Scores token-id turns, packing several into each forward pass of at most `tokenBudget` tokens (a longer
    /// turn runs alone). Small models (see `Transformer.defaultShards`) run the passes on all cores, each with
    /// single-threaded BLAS; the default budget then splits the work evenly. With an empty prompt the first
    /// response token has no context and is not scored.
    public func scoreIds(_ turns: [(prompt: [Int], response: [Int])], lora: BoundLoRA?, tokenBudget: Int? = nil) throws -> [ResponseScore] {
        for t in turns { try checkIds(t.prompt); try checkIds(t.response) }
        let total = turns.reduce(0) { $0 + $1.prompt.count + $1.response.count }
        let shards = transformer.defaultShards(batch: turns.count)
        let budget = tokenBudget ?? (shards > 1 ? min(2048, max(64, (total + shards - 1) / shards)) : 2048)
        var groups: [[Int]] = [[]]
        var tokens = 0
        for (i, t) in turns.enumerated() {
            let len = t.prompt.count + t.response.count
            if tokens + len > budget && !groups[groups.count - 1].isEmpty { groups.append([]); tokens = 0 }
            groups[groups.count - 1].append(i); tokens += len
        }
        var results = [ResponseScore](repeating: (0, 0, 0), count: turns.count)
        results.withUnsafeMutableBufferPointer { out in
            let o = out.baseAddress!
            let run = { (g: Int) in self.scoreGroup(groups[g], turns, lora: lora, into: o) }
            if shards > 1 && groups.count > 1 {
                BLAS.singleThreaded { DispatchQueue.concurrentPerform(iterations: groups.count, execute: run) }
            } else {
                for g in groups.indices { run(g) }
            }
        }
        return results
    }

    /// One forward pass over the turns `group`; writes their scores (each turn's own slot of `out`).
    func scoreGroup(_ group: [Int], _ turns: [(prompt: [Int], response: [Int])], lora: BoundLoRA?, into out: UnsafeMutablePointer<ResponseScore>) {
        guard !group.isEmpty else { return }
        let packed = PackedBatch(group.map { turns[$0].prompt + turns[$0].response })
        // Row predicting response token j of sequence b: start + |prompt| − 1 + j.
        var rows: [Int] = [], targets: [Int] = [], owner: [Int] = []
        for (b, i) in group.enumerated() {
            let p = turns[i].prompt.count
            for (j, t) in turns[i].response.enumerated() where p + j >= 1 {
                rows.append(packed.starts[b] + p + j - 1); targets.append(t); owner.append(i)
            }
        }
        for i in group { out[i] = (0, 0, 0) }
        guard !rows.isEmpty else { return }
        let pass = transformer.forward(packed, lora: lora, keep: false)
        let lp = logProbabilities(pass.normed, rows: rows, targets: targets)
        for (k, i) in owner.enumerated() { out[i].sumLogProb += Double(lp[k]); out[i].tokens += 1 }
        for i in group where out[i].tokens > 0 { out[i].meanLogProb = out[i].sumLogProb / Double(out[i].tokens) }
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
