import Foundation

/// How a user prompt is laid out before the response: ChatML for tokenizers that have `<|im_start|>`,
/// the prompt as is otherwise.
public enum ChatTemplate: Sendable, Equatable {
    case chatML
    case plain

    public init(tokenizer: BPETokenizer) { self = tokenizer.hasChatML ? .chatML : .plain }

    /// The text a model sees before its answer. ChatML: an optional system turn, the user turn, then
    /// `<|im_start|>assistant\n` (what `apply_chat_template(add_generation_prompt=True)` writes without Qwen's
    /// default system prompt).
    public func format(_ prompt: String, system: String?) -> String {
        switch self {
        case .chatML:
            var s = ""
            if let system { s += "<|im_start|>system\n\(system)<|im_end|>\n" }
            return s + "<|im_start|>user\n\(prompt)<|im_end|>\n<|im_start|>assistant\n"
        case .plain:
            if let system { return system + "\n\n" + prompt }
            return prompt
        }
    }

    /// The marker that closes an assistant turn (`<|im_end|>` in ChatML; the EOS token otherwise).
    public func endOfTurnId(_ tokenizer: BPETokenizer) -> Int? {
        switch self {
        case .chatML: return tokenizer.tokenId("<|im_end|>")
        case .plain: return tokenizer.eosTokenId
        }
    }

    /// The ChatML Jinja template written into `tokenizer_config.json` by `dnd pretrain`.
    public static let chatMLJinja = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
}
