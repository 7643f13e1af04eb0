import Foundation
import LoRA
import TensorCore

extension CausalLM {
    /// Greedy completion of `prompt` (formatted with `formatPrompt`), at most `maxTokens` new tokens, stopping at
    /// an end-of-sequence or `<|im_end|>` token (not included in the text).
    public func generate(prompt: String, maxTokens: Int, adapter: LoRAAdapter?, system: String? = nil) throws -> String {
        let lora = try bindOptional(adapter)
        let ids = tokenizer.encode(try formatPrompt(prompt, system: system))
        return tokenizer.decode(try generate(ids: ids, maxTokens: maxTokens, lora: lora))
    }

    /// Greedy decoding with a KV cache: the prompt runs once, then one token per step. Returns the new ids
    /// without the stop token.
    public func generate(ids: [Int], maxTokens: Int, lora: BoundLoRA?) throws -> [Int] {
        try checkIds(ids)
        guard !ids.isEmpty, maxTokens > 0 else { return [] }
        let stop = stopTokenIds
        let cache = KVCache(config: config, capacity: ids.count + maxTokens)
        var pass = transformer.forward(PackedBatch([ids]), lora: lora, keep: false, cache: cache)
        var out: [Int] = []
        while true {
            let next = argmaxLastRow(pass.normed)
            if stop.contains(next) { break }
            out.append(next)
            if out.count >= maxTokens { break }
            pass = transformer.forward(PackedBatch([[next]], offset: cache.length), lora: lora, keep: false, cache: cache)
        }
        return out
    }

    /// Greedy completions of several prompts (each laid out by the chat template with its own system message),
    /// decoded together: one GEMM per linear layer per step for all of them (see `generate(batch:…)`).
    public func generate(prompts: [(prompt: String, system: String?)], maxTokens: [Int], adapter: LoRAAdapter?) throws -> [String] {
        let lora = try bindOptional(adapter)
        let ids = try prompts.map { tokenizer.encode(try formatPrompt($0.prompt, system: $0.system)) }
        return try generate(batch: ids, maxTokens: maxTokens, lora: lora).map { tokenizer.decode($0) }
    }

    /// Batched greedy decoding with one KV cache per sequence: the prompts are prefilled in one packed pass, then
    /// every unfinished sequence advances one token per step, all in one forward pass. Sequence `b` stops at a stop
    /// token or after `maxTokens[b]` tokens. Runs `groupSize` sequences at a time (bounding the caches' memory).
    /// Same tokens as `generate(ids:…)` one by one (up to float rounding in near-ties).
    public func generate(batch: [[Int]], maxTokens: [Int], lora: BoundLoRA?, groupSize: Int = 32) throws -> [[Int]] {
        precondition(batch.count == maxTokens.count, "one token budget per sequence")
        for s in batch { try checkIds(s) }
        var out = [[Int]](repeating: [], count: batch.count)
        let stop = stopTokenIds
        var start = 0
        while start < batch.count {
            let group = Array(start..<min(batch.count, start + max(1, groupSize)))
            start += group.count
            var active = group.filter { !batch[$0].isEmpty && maxTokens[$0] > 0 }
            guard !active.isEmpty else { continue }
            var caches: [Int: KVCache] = [:]
            for b in active { caches[b] = KVCache(config: config, capacity: batch[b].count + maxTokens[b]) }
            // prefill: every prompt at once; the last row of each predicts its first new token
            var packed = PackedBatch(active.map { batch[$0] })
            var pass = transformer.forward(packed, lora: lora, keep: false, caches: active.map { caches[$0]! })
            var rows = zip(packed.starts, packed.lengths).map { $0 + $1 - 1 }
            while !active.isEmpty {
                let next = argmaxRows(pass.normed, rows)
                var still: [Int] = [], feed: [[Int]] = []
                for (i, b) in active.enumerated() {
                    if stop.contains(next[i]) { continue }
                    out[b].append(next[i])
                    if out[b].count >= maxTokens[b] { continue }
                    still.append(b); feed.append([next[i]])
                }
                active = still
                guard !active.isEmpty else { break }
                let cs = active.map { caches[$0]! }
                packed = PackedBatch(feed, offsets: cs.map(\.length))
                pass = transformer.forward(packed, lora: lora, keep: false, caches: cs)
                rows = Array(0..<active.count)
            }
        }
        return out
    }

    /// The most likely next token after each of `rows` of `normed [N, H]`.
    func argmaxRows(_ normed: Tensor, _ rows: [Int]) -> [Int] {
        let logits = transformer.logits(normed, rows: rows)   // [M, V]
        let v = config.vocabSize
        return (0..<rows.count).map { i in
            let p = logits.pointer + i * v
            var best = 0, bv = -Float.infinity
            for j in 0..<v where p[j] > bv { bv = p[j]; best = j }
            return best
        }
    }

    /// Greedy decoding that recomputes the whole sequence at every step (no cache): the reference twin of
    /// `generate(ids:…)`, for tests.
    public func generateWithoutCache(ids: [Int], maxTokens: Int, lora: BoundLoRA?) throws -> [Int] {
        try checkIds(ids)
        guard !ids.isEmpty, maxTokens > 0 else { return [] }
        let stop = stopTokenIds
        var seq = ids, out: [Int] = []
        while out.count < maxTokens {
            let pass = transformer.forward(PackedBatch([seq]), lora: lora, keep: false)
            let next = argmaxLastRow(pass.normed)
            if stop.contains(next) { break }
            out.append(next); seq.append(next)
        }
        return out
    }

    /// The most likely next token after the last row of `normed [N, H]`.
    func argmaxLastRow(_ normed: Tensor) -> Int {
        let logits = transformer.logits(normed, rows: [normed.shape[0] - 1])   // [1, V]
        var best = 0, bv = -Float.infinity
        let p = logits.pointer
        for j in 0..<config.vocabSize where p[j] > bv { bv = p[j]; best = j }
        return best
    }
}
