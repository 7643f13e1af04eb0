import ArgumentParser
import Foundation
import LLM
import TensorCore

/// `dnd debug chat`: a model's chat template applied to conversations, as transformers' `apply_chat_template` does.
struct DebugChat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Render conversations with a model's own chat template; write their texts and token ids.",
        discussion: """
        INPUT is [{"messages": [{"role", "content"}…], "add_generation_prompt": bool}]; OUT is [{"text", "ids"}], the
        text apply_chat_template(tokenize=False) gives and its ids (no special tokens added beyond the template's).
        The template is the model's own (tokenizer_config.json, chat_template.jinja or the GGUF key
        tokenizer.chat_template); models without one get ChatML (with <|im_start|>) or the plain prompt.
        """)

    @Option(help: "Model: a Hugging Face folder, a .gguf file, or a folder holding one.") var model: String
    @Option(help: "JSON array of {\"messages\", \"add_generation_prompt\"}.") var input: String
    @Option(help: "Output JSON file: [{\"text\", \"ids\"}].") var out: String

    func run() throws {
        let (tokenizer, template) = try ModelText.load(URL(fileURLWithPath: model))
        let chats = try Self.readChats(input)
        var rendered: [[String: Any]] = []
        for (i, c) in chats.enumerated() {
            let text: String
            do { text = try template.render(c.messages, addGenerationPrompt: c.addGenerationPrompt) } catch let e as DNDError {
                throw DNDError("\(input): conversation \(i): \(e.message)")
            }
            rendered.append(["text": text, "ids": tokenizer.encode(text)])
        }
        let data = try JSONSerialization.data(withJSONObject: rendered, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write(data + Data("\n".utf8), to: URL(fileURLWithPath: out))
        print("rendered \(chats.count) conversations with the \(template.kind.rawValue) template of \(model) → \(out)")
    }

    struct Chat { var messages: [[String: String]]; var addGenerationPrompt: Bool }

    static func readChats(_ path: String) throws -> [Chat] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw DNDError("\(path): cannot read (no such file or no permission)")
        }
        guard let array = (try? JSONSerialization.jsonObject(with: data)) as? [Any] else {
            throw DNDError("\(path): expected a JSON array of {\"messages\": [{\"role\", \"content\"}…], \"add_generation_prompt\": bool}")
        }
        return try array.enumerated().map { i, el in
            guard let o = el as? [String: Any], let msgs = o["messages"] as? [Any] else {
                throw DNDError("\(path): element \(i) has no \"messages\" array")
            }
            let messages: [[String: String]] = try msgs.enumerated().map { j, m in
                guard let m = m as? [String: Any], let role = m["role"] as? String, let content = m["content"] as? String else {
                    throw DNDError("\(path): element \(i), message \(j): needs string \"role\" and \"content\"")
                }
                return ["role": role, "content": content]
            }
            return Chat(messages: messages, addGenerationPrompt: o["add_generation_prompt"] as? Bool ?? false)
        }
    }
}
