import Foundation
import LLM
import LoRA
import TensorCore

/// `adapter.gguf` for a PEFT adapter and its base model: the one conversion that `dnd generate`, every daemon job and
/// `dnd export-gguf` use. The base model's files give llama.cpp's architecture name and the q/k heads (its weights are
/// not read).
public enum GGUFExport {
    /// Checks that `adapter` fits `base` (layers and shapes), then writes llama.cpp's layout to `url` atomically.
    @discardableResult
    public static func write(_ adapter: LoRAAdapter, base: ModelSource, to url: URL) throws -> GenerationReport.GGUFInfo {
        let config = try base.config()
        do { try config.check(adapter) } catch let e as DNDError {
            throw DNDError("\(e.message) (base model \(base.url.path))")
        }
        let layout = config.ggufLoRABase
        try GGUFLoRA.write(adapter, base: layout, to: url)
        return .init(file: url.lastPathComponent, architecture: layout.architecture, permutedQK: layout.permutesQK,
                     alpha: Double(GGUFLoRA.alpha(for: adapter)), skipped: nil)
    }

    /// The base model for an existing adapter folder: `--base` when given, else its `base_model_name_or_path` when
    /// that names a model on this machine.
    public static func base(for adapter: LoRAAdapter, option: String?) throws -> ModelSource {
        if let option { return try ModelSource.resolve(URL(fileURLWithPath: option)) }
        let origin = adapter.origin
        guard let name = adapter.config.baseModelNameOrPath, !name.isEmpty else {
            throw DNDError("\(origin): base_model_name_or_path is empty; pass --base MODEL (the base model folder or .gguf file)")
        }
        guard name.hasPrefix("/") else {
            throw DNDError("\(origin): base_model_name_or_path is '\(name)', not a model on this machine; pass --base MODEL (the base model folder or .gguf file) to read its architecture and heads")
        }
        return try ModelSource.resolve(URL(fileURLWithPath: name))
    }
}
