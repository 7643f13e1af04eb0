import Foundation
import LLM

/// Loads the base model a command names (a Hugging Face folder, a `.gguf` file, or a folder holding one) and
/// prints its load warnings once on stderr.
enum BaseModel {
    static func load(_ path: String) throws -> CausalLM {
        let model = try CausalLM.load(URL(fileURLWithPath: path))
        for w in model.warnings { FileHandle.standardError.write(Data("dnd: \(path): \(w)\n".utf8)) }
        return model
    }
}
