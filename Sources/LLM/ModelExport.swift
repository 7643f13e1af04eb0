import Foundation
import SafeTensors
import TensorCore

extension CausalLM {
    /// Writes a Hugging Face model folder that transformers, PEFT and dnd load: `config.json`, `model.safetensors`
    /// (F32, Hugging Face names), `generation_config.json`, and `tokenizer.json` + `tokenizer_config.json` (for
    /// tokenizers built by `BPETrainer`). Each file is written atomically.
    public func save(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(config), to: folder.appendingPathComponent("config.json"))
        try SafeTensorsWriter.write(weights.named, to: folder.appendingPathComponent("model.safetensors"), metadata: ["format": "pt"])
        var gen: [String: Any] = ["do_sample": false, "eos_token_id": Array(stopTokenIds).sorted()]
        if let pad = tokenizer.padTokenId { gen["pad_token_id"] = pad }
        try AtomicFile.write(JSONSerialization.data(withJSONObject: gen, options: [.prettyPrinted, .sortedKeys]),
                             to: folder.appendingPathComponent("generation_config.json"))
        try tokenizer.write(to: folder, modelMaxLength: config.maxPositionEmbeddings)
    }
}
