import Foundation

/// A model's chat template, rendered as transformers' (5.x) `apply_chat_template(…, tokenize=False)` renders it.
///
/// As transformers does, the messages are normalised first (top-level keys whose value is none are dropped; a
/// message with `reasoning_content`, `thinking` or `reasoning` gets the first of them under both `thinking` and
/// `reasoning_content`), and the template sees the special tokens and extra keyword arguments (`extraContext`:
/// `bos_token`, `eos_token`, `enable_thinking`, `date_string`…), then `messages`, `tools` (none unless given),
/// `documents` (none unless given) and `add_generation_prompt`.
///
/// ```swift
/// let chat = try ChatTemplateRenderer(source: tokenizerConfig.chatTemplate)
/// let text = try chat.render(messages: [["role": "user", "content": "Hi"]], addGenerationPrompt: true,
///                            extraContext: ["bos_token": "<s>", "eos_token": "</s>"])
/// ```
public struct ChatTemplateRenderer: Sendable {
    public let template: Template
    /// transformers' marker appended to the final message for `continue_final_message`.
    static let continueTag = "CONTINUE_FINAL_MESSAGE_TAG "

    /// Parses the template once. Throws `JinjaError` for a template this interpreter cannot run.
    public init(source: String, name: String = "chat template") throws {
        template = try Template(source, name: name)
    }

    /// The prompt text for `messages` (each a dict such as `["role": "user", "content": "…"]`).
    ///
    /// - Parameters:
    ///   - tools: JSON-schema tool definitions (dicts, in the order `tojson` should print their keys), or nil.
    ///   - documents: retrieval documents for templates that take them, or nil.
    ///   - continueFinalMessage: end the text right after the last message's content, leaving it open (transformers'
    ///     `continue_final_message`); incompatible with `addGenerationPrompt`.
    ///   - extraContext: special tokens and template keyword arguments.
    ///   - now: the clock `strftime_now` reads (Llama 3's "Today Date"); tests pass a fixed date.
    /// - Throws: `JinjaError`; `.raised` carries the template's own `raise_exception` message.
    public func render(messages: [Value], addGenerationPrompt: Bool, tools: [Value]? = nil, documents: [Value]? = nil,
                       continueFinalMessage: Bool = false, extraContext: [String: Value] = [:],
                       now: @escaping () -> Date = Date.init, timeZone: TimeZone = .current) throws -> String {
        func fail(_ what: String, _ fix: String = "") -> JinjaError {
            JinjaError(kind: .runtime, template: template.source.name, what: what, fix: fix)
        }
        guard !messages.isEmpty else {
            throw fail("Cannot apply chat template to an empty conversation. Provide at least one message.")
        }
        let reserved = ["messages", "tools", "documents", "add_generation_prompt"]
        if let clash = reserved.first(where: { extraContext[$0] != nil }) {
            throw fail("extraContext sets '\(clash)'", "pass \(clash) through its own parameter")
        }
        if continueFinalMessage, addGenerationPrompt {
            throw fail("continue_final_message and add_generation_prompt are not compatible",
                       "continueFinalMessage continues the last message; addGenerationPrompt starts a new one")
        }
        var chat = try messages.map { message -> Value in
            guard case .dict(let d) = message else {
                throw fail("Chat messages should be dicts, but got \(pyRepr(message)).")
            }
            return .dict(ChatTemplateRenderer.normalize(d))
        }
        var finalText = ""
        if continueFinalMessage {
            (chat, finalText) = try markFinalMessage(chat)
        }
        var context = extraContext
        context["messages"] = .list(chat)
        context["tools"] = tools.map { Value.list($0) } ?? Value.none
        context["documents"] = documents.map { Value.list($0) } ?? Value.none
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        let rendered = try template.render(context, now: now, timeZone: timeZone)
        return continueFinalMessage ? try cutAtTag(rendered, finalText) : rendered
    }

    /// `_normalize_chat_messages` (drop none-valued keys) and `_alias_reasoning_fields`.
    static func normalize(_ message: ValueDictionary) -> ValueDictionary {
        var d = ValueDictionary()
        for (k, v) in zip(message.keys, message.values) where !v.isNone { try? d.set(k, v) }
        guard let reasoning = ["reasoning_content", "thinking", "reasoning"].lazy.compactMap({ d[$0] }).first else { return d }
        var aliased = ValueDictionary()
        aliased["thinking"] = reasoning
        for (k, v) in zip(d.keys, d.values) { try? aliased.set(k, v) }
        aliased["reasoning_content"] = reasoning
        return aliased
    }

    /// Appends transformers' tag to the final message's content (or its last text block).
    private func markFinalMessage(_ chat: [Value]) throws -> ([Value], String) {
        let name = template.source.name
        guard case .dict(var last)? = chat.last, let content = last["content"] else {
            throw JinjaError(kind: .runtime, template: name,
                             what: "continue_final_message is set but the final message has no \"content\" to continue!")
        }
        guard String(decoding: template.source.bytes, as: UTF8.self).contains("content") else {
            throw JinjaError(kind: .runtime, template: name,
                             what: "continue_final_message is set to \"content\" but this is not an accepted field in the chat_template")
        }
        var finalText: String
        switch content {
        case .list(var blocks):
            guard let i = blocks.lastIndex(where: { if case .dict(let b) = $0 { return b["text"] != nil }; return false }),
                  case .dict(var block) = blocks[i], let text = block["text"]?.stringValue else {
                throw JinjaError(kind: .runtime, template: name,
                                 what: "continue_final_message is set but we could not find any text to continue in the final message!")
            }
            finalText = text
            block["text"] = .string(text + ChatTemplateRenderer.continueTag)
            blocks[i] = .dict(block)
            last["content"] = .list(blocks)
        case .string(let text), .markup(let text):
            finalText = text
            last["content"] = .string(text + ChatTemplateRenderer.continueTag)
        default:
            throw JinjaError(kind: .runtime, template: name, what: "the final message's content is \(content.typeName), not text")
        }
        var out = chat
        out[out.count - 1] = .dict(last)
        return (out, finalText)
    }

    /// Cuts the rendered text at the tag (and the whitespace before it when the template trimmed the message).
    private func cutAtTag(_ rendered: String, _ finalText: String) throws -> String {
        let text = rendered.scalarArray
        let tag = pyStrip(ChatTemplateRenderer.continueTag, nil).scalarArray
        func lastIndex(of needle: [Unicode.Scalar]) -> Int? {
            guard needle.count <= text.count else { return nil }
            if needle.isEmpty { return text.count }
            for i in stride(from: text.count - needle.count, through: 0, by: -1) where Array(text[i..<(i + needle.count)]) == needle {
                return i
            }
            return nil
        }
        guard lastIndex(of: pyStrip(finalText, nil).scalarArray) != nil, let at = lastIndex(of: tag) else {
            throw JinjaError(kind: .runtime, template: template.source.name,
                             what: "continue_final_message is set but the final message does not appear in the chat after applying the chat template!",
                             fix: "the template deletes portions of the final message")
        }
        let full = ChatTemplateRenderer.continueTag.scalarArray
        if at + full.count <= text.count, Array(text[at..<(at + full.count)]) == full {
            return String(scalars: text[0..<at])
        }
        return pyStrip(String(scalars: text[0..<at]), nil, left: false, right: true)
    }
}
