import LLM
import LoRA

/// The LLM engine as the pipeline's evaluation backend: chat-templated scoring and batched greedy generation, the
/// record's system message laid out by the model's template as everywhere else.
extension CausalLM: ResponseScorer {
    public func score(_ items: [(prompt: String, system: String?, response: String)], adapter: LoRAAdapter?) throws -> [(sumLogProb: Double, meanLogProb: Double, tokens: Int)] {
        try score(turns: items, adapter: adapter)
    }

    public func generate(_ prompts: [(prompt: String, system: String?)], maxTokens: [Int], adapter: LoRAAdapter?) throws -> [String] {
        try generate(prompts: prompts, maxTokens: maxTokens, adapter: adapter)
    }

    public func tokenCount(_ text: String) -> Int { tokenizer.encode(text).count }
}
