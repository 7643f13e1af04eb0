import Foundation
import Prompts
import TensorCore

/// One supervised sequence: `inputs[t]` predicts `labels[t]` (the next token), -100 where no loss is taken.
public struct TrainingExample: Sendable, Equatable {
    public var inputs: [Int]
    public var labels: [Int]
    /// Tokens that carry a loss.
    public var targetCount: Int { labels.reduce(0) { $0 + ($1 == -100 ? 0 : 1) } }

    public init(inputs: [Int], labels: [Int]) {
        precondition(inputs.count == labels.count, "inputs and labels must have the same length")
        self.inputs = inputs; self.labels = labels
    }

    /// Prompt then response (then the end-of-turn marker); loss on the response and the marker only. Too long a
    /// turn keeps the end of its prompt and the start of its response, within `maxLength` tokens.
    public init?(prompt: [Int], response: [Int], end: Int?, maxLength: Int) {
        var resp = response + (end.map { [$0] } ?? [])
        guard !resp.isEmpty, maxLength >= 2 else { return nil }
        if resp.count > maxLength - 1 { resp = Array(resp.prefix(maxLength - 1)) }
        let keep = min(prompt.count, maxLength - resp.count)
        let p = Array(prompt.suffix(keep))
        let ids = p + resp
        guard ids.count >= 2 else { return nil }
        inputs = Array(ids.dropLast())
        // labels[t] = ids[t + 1] when that token belongs to the response
        labels = (0..<(ids.count - 1)).map { t in t + 1 >= p.count ? ids[t + 1] : -100 }
        if targetCount == 0 { return nil }
    }
}

extension CausalLM {
    /// Fine-tuning examples from prompt records: the prompt formatted with `formatPrompt` (ChatML when the
    /// tokenizer has it), the response (or the right choice) and the end-of-turn token. Records without an
    /// answer are skipped; throws when none is left.
    public func trainingExamples(_ records: [PromptRecord], maxLength: Int, origin: String) throws -> [TrainingExample] {
        let end = template.endOfTurnId(tokenizer)
        var out: [TrainingExample] = []
        for r in records {
            let answer = r.response ?? r.correctChoice.flatMap { i in r.choices.map { $0[i] } }
            guard let answer else { continue }
            let (p, a) = try encodeTurn(prompt: r.prompt, response: answer, system: r.system)
            if let ex = TrainingExample(prompt: p, response: a, end: end, maxLength: maxLength) { out.append(ex) }
        }
        guard !out.isEmpty else {
            throw DNDError("\(origin): no record has a \"response\" (or \"answer\", or \"choices\" with the right one) to train on")
        }
        return out
    }
}

/// The order examples are visited in: a fresh seeded shuffle every epoch, so that the batch of any step is a
/// function of (seed, step) alone and an interrupted run resumes exactly.
public struct DataOrder: Sendable {
    public let count: Int
    public let seed: UInt64

    public init(count: Int, seed: UInt64) { self.count = count; self.seed = seed }

    /// Indices of the examples in batch `step` (0-based) of `batchSize`.
    public func batch(_ step: Int, size batchSize: Int) -> [Int] {
        var out: [Int] = []
        var epochCache: (Int, [Int])? = nil
        for k in 0..<batchSize {
            let flat = step * batchSize + k
            let epoch = flat / count
            if epochCache?.0 != epoch {
                var rng = SeededRNG(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9)
                epochCache = (epoch, rng.shuffled(Array(0..<count)))
            }
            out.append(epochCache!.1[flat % count])
        }
        return out
    }
}
