import ArgumentParser
import Foundation
import LLM
import LoRA
import Prompts
import TensorCore

/// `dnd finetune`: trains LoRA checkpoints on prompt/response records (the paper's checkpoint collection).
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a LoRA on prompt/response records and save a checkpoint at every step of the final stretch.",
        discussion: """
        Loss is taken on the response tokens only (ChatML turns when the tokenizer has <|im_start|>). From step
        --save-from on, every --save-every steps, a PEFT folder OUT/checkpoint-<step>/ is written; OUT/prompts.jsonl
        gets the dataset's records, so OUT is a ready zoo entry. Rerunning an interrupted command resumes it.
        """
    )

    @Option(help: "Base model: a Hugging Face folder (config.json, model.safetensors, tokenizer.json), a .gguf file, or a folder holding one.") var base: String
    @Option(help: "Training records (.jsonl with prompt and response, .json array).") var data: String
    @Option(help: "Output folder for checkpoint-<step>/ folders and prompts.jsonl.") var out: String
    @Option(help: "LoRA rank (1...64).") var rank = 8
    @Option(help: "LoRA alpha (scaling alpha/rank).") var alpha: Float = 16
    @Option(help: "Target modules: 'all' or a comma-separated list such as q_proj,v_proj.") var targets = "all"
    @Option(help: "Peak learning rate (AdamW, warmup then cosine decay).") var lr: Float = 1e-3
    @Option(help: "Optimizer steps.") var steps = 100
    @Option(help: "Records per step.") var batch = 8
    @Option(help: "First step saved as a checkpoint (default: only the last step).") var saveFrom: Int?
    @Option(help: "Save a checkpoint every this many steps from --save-from on.") var saveEvery = 1
    @Option(help: "Warmup steps (default: a tenth of --steps).") var warmup: Int?
    @Option(help: "AdamW weight decay.") var weightDecay: Float = 0
    @Option(help: "Longest training sequence in tokens.") var maxLength = 256
    @Option(help: "Seed of the adapter initialisation and the data order.") var seed: UInt64 = 0
    @Option(help: "Data-parallel shards per step (default: one per core for small models).") var shards: Int?
    @Flag(help: "Train only lora_B and keep lora_A at its seeded initialisation (LoRA-FA; a zoo of one seed then shares A).") var freezeA = false
    @Option(name: .long, help: "base_model_name_or_path of the checkpoints: the name you serve the base model under; default: its public id, else its absolute path.") var baseModelName: String?
    @Flag(help: "rsLoRA scaling (alpha/√rank).") var rslora = false
    @Flag(help: "Print only the summary, not a line per step.") var quiet = false

    func options() throws -> FinetuneOptions {
        var o = FinetuneOptions()
        o.rank = rank; o.alpha = alpha; o.targets = try LoRAModule.parseList(targets); o.useRslora = rslora
        o.learningRate = lr; o.steps = steps; o.batchSize = batch; o.saveFrom = saveFrom; o.saveEvery = saveEvery
        o.warmupSteps = warmup; o.weightDecay = weightDecay; o.maxLength = maxLength; o.seed = seed; o.shards = shards; o.freezeA = freezeA
        try o.validate()
        return o
    }

    func run() throws {
        let opts = try options()
        let model = try BaseModel.load(base)
        let dataURL = URL(fileURLWithPath: data)
        let records = try PromptFile.read(dataURL)
        let outURL = URL(fileURLWithPath: out)
        print("fine-tuning a rank-\(opts.rank) LoRA on \(opts.targets.map(\.rawValue).joined(separator: ",")) of \(base): \(records.count) records, \(opts.steps) steps of \(opts.batchSize)")
        let name = baseModelName.map {
            BaseModelName.resolve(configured: $0, setting: "--base-model-name", relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                  model: model.source, zoo: nil, root: nil).name
        } ?? nil
        let result = try LoRATrainer.finetune(model: model, records: records, options: opts, out: outURL, promptsSource: dataURL,
                                              baseModelName: name) { p in
            if quiet { return }
            var line = String(format: "step %d/%d  loss %.4f  lr %.2e  %.0f tok/s", p.step, p.steps, p.loss, p.learningRate, p.tokensPerSecond)
            if let c = p.checkpoint { line += "  saved \(c.lastPathComponent)" }
            print(line)
            fflush(stdout)
        }
        if result.resumedFrom > 0 { print("resumed from step \(result.resumedFrom)") }
        print(String(format: "done in %.1f s: final loss %.4f, %d checkpoints in %@", result.seconds, result.finalLoss, result.checkpoints.count, out))
    }
}
