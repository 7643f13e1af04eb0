import Foundation
import Prompts
import TensorCore

/// What `LoRATrainer.finetune` reports after every step.
public struct FinetuneProgress: Sendable {
    public var step: Int
    public var steps: Int
    public var loss: Double
    public var learningRate: Float
    /// Rows (prompt and response tokens) per second over this step.
    public var tokensPerSecond: Double
    /// The checkpoint folder written after this step, if any.
    public var checkpoint: URL?
}

/// What a finished fine-tune produced.
public struct FinetuneResult: Sendable {
    public var checkpoints: [URL]
    public var finalLoss: Double
    /// The step the run resumed from (0 for a fresh run).
    public var resumedFrom: Int
    public var seconds: Double
}

extension LoRATrainer {
    /// Name of the resume-state folder inside the output folder (a dot folder: zoo scanners skip it).
    public static let stateFolderName = ".trainer-state"

    /// Fine-tunes a LoRA on `records` (loss on responses only) and writes the checkpoint-collection layout of
    /// the paper into `out`: `checkpoint-<step>/` PEFT folders for every saved step and `prompts.jsonl` (the
    /// dataset's prompts, so `out` is a ready zoo entry). An interrupted run in the same `out` resumes from
    /// its last saved state and produces exactly the checkpoints an uninterrupted run would.
    public static func finetune(model: CausalLM, records: [PromptRecord], options: FinetuneOptions, out: URL,
                                promptsSource: URL? = nil, baseModelName: String? = nil,
                                progress: (FinetuneProgress) -> Void = { _ in }) throws -> FinetuneResult {
        let t0 = Date()
        let origin = promptsSource?.path ?? "training data"
        let examples = try model.trainingExamples(records, maxLength: options.maxLength, origin: origin)
        let trainer = try LoRATrainer(model: model, examples: examples, options: options, baseModelName: baseModelName)
        let fm = FileManager.default
        try fm.createDirectory(at: out, withIntermediateDirectories: true)
        // Half-written checkpoint folders of an interrupted run (never visible under their final name), and a replaced
        // one a crash left aside (`AtomicFolder`'s temporary and old names).
        for name in (try? fm.contentsOfDirectory(atPath: out.path)) ?? []
        where name.hasPrefix(".checkpoint-") && (name.contains(".tmp-") || name.contains(".old-")) {
            try? fm.removeItem(at: out.appendingPathComponent(name))
        }
        let stateDir = out.appendingPathComponent(stateFolderName)
        var resumedFrom = 0
        if fm.fileExists(atPath: stateDir.appendingPathComponent("state.json").path) {
            try trainer.loadState(from: stateDir)
            resumedFrom = trainer.step
        }
        try writePrompts(records, source: promptsSource, to: out.appendingPathComponent("prompts.jsonl"))
        var checkpoints: [URL] = []
        var last = 0.0
        while trainer.step < options.steps {
            let s0 = Date()
            let r = try trainer.trainStep()
            last = r.loss
            var saved: URL? = nil
            if options.saves(step: r.step) {
                saved = out.appendingPathComponent("checkpoint-\(r.step)")
                try AtomicFolder.write(saved!) { try trainer.adapter.write(to: $0) }
                checkpoints.append(saved!)
            }
            if r.step < options.steps && (saved != nil || r.step % options.stateEvery == 0) { try trainer.saveState(to: stateDir) }
            progress(FinetuneProgress(step: r.step, steps: options.steps, loss: r.loss, learningRate: r.learningRate,
                                      tokensPerSecond: Double(r.tokens) / max(1e-9, Date().timeIntervalSince(s0)), checkpoint: saved))
        }
        try? fm.removeItem(at: stateDir)
        // Every checkpoint of the run, including those written before a resume.
        checkpoints = (1...options.steps).filter(options.saves).map { out.appendingPathComponent("checkpoint-\($0)") }
        return FinetuneResult(checkpoints: checkpoints, finalLoss: last, resumedFrom: resumedFrom, seconds: Date().timeIntervalSince(t0))
    }

    /// The dataset's records as JSON lines: the source file itself when it is `.jsonl`, else rewritten.
    static func writePrompts(_ records: [PromptRecord], source: URL?, to url: URL) throws {
        if let source, ["jsonl", "ndjson"].contains(source.pathExtension.lowercased()), let data = FileManager.default.contents(atPath: source.path) {
            try AtomicFile.write(data, to: url)
            return
        }
        var out = Data()
        for r in records {
            var o: [String: Any] = ["prompt": r.prompt]
            if let c = r.choices { o["choices"] = c; if let i = r.correctChoice { o["answer"] = i } }
            else if let resp = r.response { o["response"] = resp }
            if let s = r.system { o["system"] = s }
            out.append(try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]))
            out.append(0x0A)
        }
        try AtomicFile.write(out, to: url)
    }
}
