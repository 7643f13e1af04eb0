import ArgumentParser
import Foundation
import LLM
import Pipeline
import Prompts
import TensorCore
import TextEncoder
import Workspace

/// `dnd generate`: one prompt file → one adapter folder (PEFT + adapter.gguf) and its report.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a LoRA adapter from a prompt file (no gradient step): PEFT folder + adapter.gguf + report.json + report.html.",
        discussion: """
        The generator is conditioned on N prompts (N is fixed at training): with more, N are sampled (seeded);
        with fewer, they are reused to fill N and the report warns. A prompt head reads more: up to --head-prompts
        distinct prompts (all of a smaller file, else a seeded draw containing the decoder's N). The same file and
        seed give the same adapter.
        adapter.gguf (llama.cpp / Ollama) is written when the base model's files are known (--base, or the zoo's
        base model found under the root). base_model_name_or_path is --base-model-name, else the base model's public
        id, else its absolute path; the report says which and why.
        """
    )

    @Option(name: .long, help: "Prompt file (.jsonl, .json or .txt).") var prompts: String
    @Option(name: .long, help: "Output folder (created; must be absent or empty).") var out: String
    @Option(name: .long, help: "Seed of the prompt sampling.") var seed: UInt64 = 0
    @Option(name: .long, help: "The dnd root whose state/generator is used.") var root: String?
    @Option(name: .long, help: "A generator folder (instead of the root's).") var generator: String?
    @Option(name: .long, help: "A base model (Hugging Face folder or .gguf): evaluate base vs base + adapter on records with responses or choices, and lay out adapter.gguf for it.") var base: String?
    @Option(name: .long, help: "base_model_name_or_path of the adapter: the name you serve the base model under (vLLM's --model, a hub id); default: the base model's public id, else its absolute path.") var baseModelName: String?
    @Option(name: .long, help: "The sentence-transformers encoder folder.") var encoder: String?
    @Option(name: .long, help: "At most this many distinct prompts feed the generator's prompt head (all of a smaller file).")
    var headPrompts: Int = AdapterGeneration.defaultHeadPrompts

    func validate() throws {
        guard headPrompts >= 1 else { throw ValidationError("--head-prompts \(headPrompts): give at least 1") }
    }

    func run() throws {
        do {
            let input = URL(fileURLWithPath: prompts)
            let output = URL(fileURLWithPath: out).standardizedFileURL
            if let items = try? FileManager.default.contentsOfDirectory(atPath: output.path), !items.isEmpty {
                throw DNDError("\(output.path): exists and is not empty; choose a new --out folder")
            }
            let records = try PromptFile.read(input)
            let folder: URL
            var rootFolder: URL?
            if let generator { folder = URL(fileURLWithPath: generator) } else {
                let layout = try RootLayout.resolve(option: root).0
                folder = layout.generatorLink
                rootFolder = layout.root
            }
            let t0 = Date()
            let bundle = try GeneratorBundle(folder: folder.resolvingSymlinksInPath())
            let enc = try SentenceEncoder(folder: encoder.map { URL(fileURLWithPath: $0) } ?? SentenceEncoder.defaultFolder())
            var evaluation = AdapterGeneration.Evaluation.skipped("no --base model given")
            var source: ModelSource?
            if let base {
                let model = try BaseModel.load(base)
                evaluation = .run(scorer: model, baseModel: base)
                source = model.source
            }
            let name = BaseModelName.resolve(configured: baseModelName, setting: "--base-model-name",
                                             relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                             model: source, zoo: bundle.config.baseModel, root: rootFolder)
            let loading = Date().timeIntervalSince(t0)
            var result: AdapterGeneration.Result?
            // The folder appears complete (adapter, adapter.gguf, reports) or not at all.
            try AtomicFolder.write(output) { tmp in
                result = try AdapterGeneration.run(
                    .init(records: records, inputName: input.lastPathComponent, job: output.lastPathComponent, seed: seed, output: tmp,
                          deliveredAt: output, baseModel: name, evaluation: evaluation, dndVersion: DND.version,
                          headPrompts: headPrompts),
                    bundle: bundle, encoder: enc, cache: nil)
            }
            let r = result!.report
            print("wrote \(output.path): rank \(r.adapter.rank), \(r.adapter.layers) layers, \(r.adapter.modules.joined(separator: ","))")
            print("base_model_name_or_path: \(name.name.map { "\"\($0)\"" } ?? "null") (\(name.reason))")
            if let g = r.gguf, g.file != nil { print("adapter.gguf: \(g.architecture ?? "?")\(g.permutedQK ? ", q/k rows permuted for llama.cpp" : "")") }
            for w in r.warnings { print("warning: \(w)") }
            if let e = r.evaluation { print(e.text, terminator: "") }
            let work = r.timings.reduce(0) { $0 + $1.seconds }
            print(String(format: "loading %.2f s; generation %.3f s (%@)", loading, work,
                         r.timings.map { String(format: "%@ %.3f", $0.stage.rawValue, $0.seconds) }.joined(separator: ", ")))
        } catch let e as DNDError {
            fail(e.message)
        }
    }
}
