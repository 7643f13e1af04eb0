import LLM
import LoRA

/// The LLM engine as the pipeline's evaluation backend: chat-templated scoring, choice and greedy generation.
extension CausalLM: ResponseScorer {
    public func choose(prompt: String, choices: [String], adapter: LoRAAdapter?) throws -> Int {
        try choose(prompt: prompt, choices: choices, adapter: adapter, lengthNormalized: false)
    }

    public func generate(prompt: String, maxTokens: Int, adapter: LoRAAdapter?) throws -> String {
        try generate(prompt: prompt, maxTokens: maxTokens, adapter: adapter, system: nil)
    }

    public func tokenCount(_ text: String) -> Int { tokenizer.encode(text).count }
}
