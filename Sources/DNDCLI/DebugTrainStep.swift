import ArgumentParser
import Foundation
import LoRA
import SafeTensors
import TensorCore

/// `dnd debug train-step`: loss and every gradient of one training step (parity with PyTorch/PEFT).
struct DebugTrainStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-step",
        abstract: "Loss and gradients of every LoRA and base tensor for one batch (labels aligned, -100 ignored).",
        discussion: "Writes the gradient of the mean loss under PEFT names (LoRA) and Hugging Face names (base); prints 'loss <value>' last."
    )

    @Option(help: "Base model: a Hugging Face folder (config.json, model.safetensors, tokenizer.json), a .gguf file, or a folder holding one.") var model: String
    @Option(help: "PEFT LoRA adapter folder.") var adapter: String
    @Option(help: "JSON {\"input_ids\": [[…]], \"labels\": [[…]]}.") var input: String
    @Option(help: "Output .safetensors file of gradients.") var out: String

    func run() throws {
        let lm = try BaseModel.load(model)
        let lora = try lm.bind(LoRAAdapter(folder: URL(fileURLWithPath: adapter)))
        let (ids, labels) = try Self.readBatch(input, vocab: lm.config.vocabSize)
        let step = lm.transformer.lossAndGradients(inputs: ids, labels: labels, lora: lora, trainBase: true)
        guard step.targets > 0 else { throw DNDError("\(input): every label is -100; nothing to train on") }
        try SafeTensorsWriter.write(step.gradients.named, to: URL(fileURLWithPath: out))
        print("\(step.gradients.named.count) gradients, \(step.targets) target tokens")
        print("loss \(step.loss)")
    }

    static func readBatch(_ path: String, vocab: Int) throws -> ([[Int]], [[Int]]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw DNDError("\(path): cannot read the file") }
        guard let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw DNDError("\(path): expected {\"input_ids\": [[…]], \"labels\": [[…]]}")
        }
        func lists(_ key: String) throws -> [[Int]] {
            guard let a = o[key] as? [[Any]] else { throw DNDError("\(path): \"\(key)\" must be an array of arrays of integers") }
            return try a.enumerated().map { i, row in
                try row.map {
                    guard let n = $0 as? NSNumber, n.doubleValue == Double(n.intValue) else { throw DNDError("\(path): \(key)[\(i)] holds a non-integer") }
                    return n.intValue
                }
            }
        }
        let ids = try lists("input_ids"), labels = try lists("labels")
        guard ids.count == labels.count, zip(ids, labels).allSatisfy({ $0.count == $1.count }) else {
            throw DNDError("\(path): input_ids and labels must have the same shape")
        }
        for (i, row) in ids.enumerated() where row.contains(where: { $0 < 0 || $0 >= vocab }) {
            throw DNDError("\(path): input_ids[\(i)] has an id outside the vocabulary (0..<\(vocab))")
        }
        for (i, row) in labels.enumerated() where row.contains(where: { $0 != -100 && ($0 < 0 || $0 >= vocab) }) {
            throw DNDError("\(path): labels[\(i)] has an id outside the vocabulary (0..<\(vocab)) that is not -100")
        }
        return (ids, labels)
    }
}
