import Foundation
import LoRA
import TensorCore

extension CausalLM {
    /// Greedy completion of `prompt` (formatted with `formatPrompt`), at most `maxTokens` new tokens, stopping at
    /// an end-of-sequence or `<|im_end|>` token (not included in the text).
    public func generate(prompt: String, maxTokens: Int, adapter: LoRAAdapter?, system: String? = nil) throws -> String {
        let lora = try bindOptional(adapter)
        let ids = tokenizer.encode(formatPrompt(prompt, system: system))
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
