import Foundation
import Jinja
import TensorCore

/// How a prompt is laid out before the response: the model's own Jinja chat template (`chat_template` in
/// tokenizer_config.json, `chat_template.jinja`, or the GGUF key `tokenizer.chat_template`) rendered as transformers'
/// `apply_chat_template` renders it; plain ChatML for models without a template whose tokenizer has
/// `<|im_start|>`; the prompt as is otherwise. Fine-tuning, scoring, evaluation, generation and pretraining all lay
/// prompts out through this one type, and a record's `system` field goes in as a system message everywhere.
public struct ChatTemplate: @unchecked Sendable {
    public enum Kind: String, Sendable { case jinja, chatML, plain }

    public let kind: Kind
    /// The Jinja source (nil for the built-in layouts).
    public let source: String?
    /// Where the template came from, for error messages.
    public let origin: String
    let renderer: ChatTemplateRenderer?
    /// `bos_token`, `eos_token`, … as the template sees them.
    let specialTokens: [String: String]
    /// What the template writes right after an assistant message's content (`<|im_end|>\n`, `<|eot_id|>`), found
    /// by rendering a probe conversation; the first token of it closes a trained response.
    public let endOfTurn: String?

    /// The layout a tokenizer implies when the model ships no template: ChatML with `<|im_start|>`, plain otherwise.
    public init(tokenizer: BPETokenizer) {
        self = tokenizer.hasChatML ? .chatML : .plain
    }

    init(kind: Kind, source: String?, origin: String, renderer: ChatTemplateRenderer?, specialTokens: [String: String], endOfTurn: String?) {
        self.kind = kind; self.source = source; self.origin = origin; self.renderer = renderer
        self.specialTokens = specialTokens; self.endOfTurn = endOfTurn
    }

    /// Plain ChatML: an optional system turn, the user turn, then `<|im_start|>assistant\n`.
    public static let chatML = ChatTemplate(kind: .chatML, source: nil, origin: "ChatML", renderer: nil, specialTokens: [:], endOfTurn: "<|im_end|>\n")
    /// The prompt as is (a system text, when given, before it and a blank line).
    public static let plain = ChatTemplate(kind: .plain, source: nil, origin: "plain", renderer: nil, specialTokens: [:], endOfTurn: nil)

    /// The model's Jinja template when `source` is a non-empty template, else the tokenizer's default layout.
    /// A template that does not parse throws naming `origin`, the line and what is wrong.
    public static func make(source: String?, origin: String, tokenizer: BPETokenizer) throws -> ChatTemplate {
        guard let source, !source.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return ChatTemplate(tokenizer: tokenizer) }
        let renderer: ChatTemplateRenderer
        do { renderer = try ChatTemplateRenderer(source: source, name: origin) } catch {
            throw DNDError("\(origin): the chat template cannot be used: \(error)")
        }
        let special = tokenizer.specialTokens
        let probe = "\u{2063}dnd-probe\u{2063}"
        var end: String? = nil
        if let text = try? Self.render(renderer, [Self.message("user", "Q"), Self.message("assistant", probe)], addGenerationPrompt: false,
                                       specialTokens: special),
           let r = text.range(of: probe) {
            let tail = String(text[r.upperBound...])
            end = tail.isEmpty ? nil : tail
        }
        return ChatTemplate(kind: .jinja, source: source, origin: origin, renderer: renderer, specialTokens: special, endOfTurn: end)
    }

    /// The template of a Hugging Face folder: `chat_template.jinja`, else `chat_template` in tokenizer_config.json
    /// (a string, or a list of named templates of which "default" is used), else the tokenizer's default layout.
    public static func load(folder: URL, tokenizer: BPETokenizer) throws -> ChatTemplate {
        let jinja = folder.appendingPathComponent("chat_template.jinja")
        if let data = FileManager.default.contents(atPath: jinja.path) {
            guard let text = String(data: data, encoding: .utf8) else { throw DNDError("\(jinja.path): not UTF-8 text") }
            return try make(source: text, origin: jinja.path, tokenizer: tokenizer)
        }
        let cfg = folder.appendingPathComponent("tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: cfg.path),
              let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return ChatTemplate(tokenizer: tokenizer) }
        let origin = "\(cfg.path): chat_template"
        if let s = obj["chat_template"] as? String { return try make(source: s, origin: origin, tokenizer: tokenizer) }
        if let list = obj["chat_template"] as? [[String: Any]] {
            let pick = list.first { $0["name"] as? String == "default" } ?? list.first
            return try make(source: pick?["template"] as? String, origin: origin, tokenizer: tokenizer)
        }
        return ChatTemplate(tokenizer: tokenizer)
    }

    static func message(_ role: String, _ content: String) -> [String: String] { ["role": role, "content": content] }

    /// The Jinja renderer's call, with the special tokens in the context as transformers passes them.
    static func render(_ renderer: ChatTemplateRenderer, _ messages: [[String: String]], addGenerationPrompt: Bool,
                       specialTokens: [String: String]) throws -> String {
        // role, then content, then any other key (sorted): the order a template's tojson would print
        let values: [Value] = messages.map { m in
            var d = ValueDictionary()
            for k in ["role", "content"] + m.keys.filter({ $0 != "role" && $0 != "content" }).sorted() {
                if let v = m[k] { d[k] = .string(v) }
            }
            return .dict(d)
        }
        return try renderer.render(messages: values, addGenerationPrompt: addGenerationPrompt,
                                   extraContext: specialTokens.mapValues { Value.string($0) })
    }

    /// The text a model sees before its answer: the system message (when given) and the user turn, with the
    /// generation prompt (`add_generation_prompt=True`).
    public func format(_ prompt: String, system: String?) throws -> String {
        var messages: [[String: String]] = []
        if let system { messages.append(Self.message("system", system)) }
        messages.append(Self.message("user", prompt))
        return try render(messages, addGenerationPrompt: true)
    }

    /// Renders a conversation as `apply_chat_template(messages, add_generation_prompt=…, tokenize=False)` does.
    public func render(_ messages: [[String: String]], addGenerationPrompt: Bool) throws -> String {
        switch kind {
        case .jinja:
            do { return try Self.render(renderer!, messages, addGenerationPrompt: addGenerationPrompt, specialTokens: specialTokens) } catch {
                throw DNDError("\(origin): rendering the chat template failed: \(error)")
            }
        case .chatML:
            var s = ""
            for m in messages { s += "<|im_start|>\(m["role"] ?? "user")\n\(m["content"] ?? "")<|im_end|>\n" }
            return addGenerationPrompt ? s + "<|im_start|>assistant\n" : s
        case .plain:
            var parts: [String] = []
            for m in messages { parts.append(m["content"] ?? "") }
            return parts.joined(separator: "\n\n")
        }
    }

    /// The token that closes an assistant turn: the first token the template writes after an assistant message when
    /// it is a special token of the vocabulary, else the EOS token.
    public func endOfTurnId(_ tokenizer: BPETokenizer) -> Int? {
        if let end = endOfTurn, let first = tokenizer.encode(end).first, tokenizer.isAddedToken(first) { return first }
        return tokenizer.eosTokenId
    }

    /// The ChatML Jinja template written into `tokenizer_config.json` by `dnd pretrain`.
    public static let chatMLJinja = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
}
