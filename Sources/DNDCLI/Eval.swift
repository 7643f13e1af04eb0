import ArgumentParser
import Foundation
import LoRA
import Pipeline
import Prompts
import TensorCore

/// `dnd eval`: base model versus adapters on records with responses or choices.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a base model and adapters side by side: accuracy (exact match of the greedy answer, or choice by likelihood) and mean response NLL."
    )

    @Option(name: .long, help: "Base model: a Hugging Face folder (config.json, model.safetensors, tokenizer.json), a .gguf file, or a folder holding one.") var base: String
    @Option(name: .long, help: "Records with \"response\" or \"choices\" (.jsonl, .json).") var data: String
    @Option(name: .long, parsing: .upToNextOption, help: "Adapters to compare with the base: PEFT folders or adapter.gguf files.") var adapter: [String] = []
    @Option(name: .long, help: "Evaluate only the first N records.") var limit: Int?
    @Option(name: .long, help: "Also write the table as JSON here.") var json: String?

    func run() throws {
        let model = try BaseModel.load(base)
        var records = try PromptFile.read(URL(fileURLWithPath: data))
        let (ok, reason) = Evaluator.evaluable(records)
        if let reason { throw DNDError("\(data): \(reason)") }
        records = limit.map { Array(ok.prefix($0)) } ?? ok
        var models: [(name: String, adapter: LoRAAdapter?)] = [("base", nil)]
        for a in adapter {
            let url = URL(fileURLWithPath: a)
            let name = url.lastPathComponent == GGUFLoRA.fileName ? url.deletingLastPathComponent().lastPathComponent : url.lastPathComponent
            models.append((name, try model.loadAdapter(url)))
        }
        let bar = ProgressLine("eval")
        let total = records.count * models.count
        var finished = 0, last = ""   // records of the models already done, the model being evaluated
        let table = try Evaluator.evaluate(model, baseModel: base, records: records, models: models) { name, done, count in
            if name != last && !last.isEmpty { finished += count }
            last = name
            bar.update(finished + done, of: total, name)
        }
        print(table.text, terminator: "")
        if let json {
            let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(e.encode(table), to: URL(fileURLWithPath: json))
        }
    }
}
