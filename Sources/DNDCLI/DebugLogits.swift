import ArgumentParser
import Foundation
import LoRA
import SafeTensors
import TensorCore

/// `dnd debug logits`: runs token-id sequences through a causal LM (optionally with a LoRA adapter).
struct DebugLogits: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Logits of token-id sequences, each run alone from position 0 (parity with transformers/PEFT).",
        discussion: "Writes logits.<j> [T_j, V] for inputs.json[j] into a safetensors file."
    )

    @Option(help: "Base model: a Hugging Face folder (config.json, model.safetensors, tokenizer.json), a .gguf file, or a folder holding one.") var model: String
    @Option(help: "LoRA adapter to apply (not merged): a PEFT folder or an adapter.gguf.") var adapter: String?
    @Option(help: "JSON array of arrays of token ids.") var input: String
    @Option(help: "Output .safetensors file.") var out: String

    func run() throws {
        let lm = try BaseModel.load(model)
        let lora = try adapter.map { try lm.loadAdapter(URL(fileURLWithPath: $0)) }
        let seqs = try Self.readIdLists(input)
        var tensors: [String: Tensor] = [:]
        for (j, ids) in seqs.enumerated() {
            do { tensors["logits.\(j)"] = try lm.logits(ids, adapter: lora) } catch let e as DNDError {
                throw DNDError("\(input): sequence \(j): \(e.message)")
            }
        }
        try SafeTensorsWriter.write(tensors, to: URL(fileURLWithPath: out))
        print("wrote \(seqs.count) logits tensors to \(out)")
    }

    /// A JSON array of arrays of non-negative integers.
    static func readIdLists(_ path: String) throws -> [[Int]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DNDError("\(path): cannot read the file") }
        guard let arr = (try? JSONSerialization.jsonObject(with: data)) as? [Any] else {
            throw DNDError("\(path): expected a JSON array of arrays of token ids, e.g. [[1, 2, 3], [4]]")
        }
        return try arr.enumerated().map { j, el in
            let nums = (el as? [Any])?.compactMap { $0 as? NSNumber } ?? []
            let ints = nums.map(\.intValue)
            guard let list = el as? [Any], nums.count == list.count, zip(nums, ints).allSatisfy({ $0.doubleValue == Double($1) && $1 >= 0 }) else {
                throw DNDError("\(path): element \(j) is not an array of non-negative integer token ids")
            }
            return ints
        }
    }
}
