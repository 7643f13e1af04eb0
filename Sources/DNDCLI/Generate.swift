import ArgumentParser
import Foundation
import LLM
import Pipeline
import Prompts
import TensorCore
import TextEncoder
import Workspace

/// `dnd generate`: one prompt file → one PEFT adapter and its report.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a LoRA adapter from a prompt file (no gradient step): PEFT folder + report.json + report.html.",
        discussion: """
        The generator is conditioned on N prompts (N is fixed at training): with more, N are sampled (seeded);
        with fewer, they are reused to fill N and the report warns. The same file and seed give the same adapter.
        """
    )

    @Option(name: .long, help: "Prompt file (.jsonl, .json or .txt).") var prompts: String
    @Option(name: .long, help: "Output folder (created; must be absent or empty).") var out: String
    @Option(name: .long, help: "Seed of the prompt sampling.") var seed: UInt64 = 0
    @Option(name: .long, help: "The dnd root whose state/generator is used.") var root: String?
    @Option(name: .long, help: "A generator folder (instead of the root's).") var generator: String?
    @Option(name: .long, help: "A base model folder: evaluate base vs base + adapter on records with responses or choices.") var base: String?
    @Option(name: .long, help: "The sentence-transformers encoder folder.") var encoder: String?

    func run() throws {
        do {
            let input = URL(fileURLWithPath: prompts)
            let output = URL(fileURLWithPath: out)
            if let items = try? FileManager.default.contentsOfDirectory(atPath: output.path), !items.isEmpty {
                throw DNDError("\(output.path): exists and is not empty; choose a new --out folder")
            }
            let records = try PromptFile.read(input)
            let folder: URL
            if let generator { folder = URL(fileURLWithPath: generator) } else {
                folder = try RootLayout.resolve(option: root).0.generatorLink
            }
            let t0 = Date()
            let bundle = try GeneratorBundle(folder: folder.resolvingSymlinksInPath())
            let enc = try SentenceEncoder(folder: encoder.map { URL(fileURLWithPath: $0) } ?? SentenceEncoder.defaultFolder())
            var evaluation: AdapterGeneration.EvaluationRequest?
            if let base { evaluation = .init(scorer: try BaseModel.load(base), baseModel: base) }
            let loading = Date().timeIntervalSince(t0)
            // Write into a hidden sibling, then one rename: the folder appears complete or not at all.
            let tmp = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).tmp-\(getpid())")
            try? FileManager.default.removeItem(at: tmp)
            let result = try AdapterGeneration.run(records: records, inputName: input.lastPathComponent, job: output.lastPathComponent,
                                                   bundle: bundle, encoder: enc, cache: nil, seed: seed, output: tmp, evaluation: evaluation,
                                                   evaluationSkipped: base == nil ? "no --base model given" : nil, dndVersion: DND.version)
            AtomicFile.syncFolder(tmp)
            try? FileManager.default.removeItem(at: output)
            guard rename(tmp.path, output.path) == 0 else { throw DNDError("\(output.path): cannot create (\(String(cString: strerror(errno))))") }
            let r = result.report
            print("wrote \(output.path): rank \(r.adapter.rank), \(r.adapter.layers) layers, \(r.adapter.modules.joined(separator: ","))")
            for w in r.warnings { print("warning: \(w)") }
            if let e = r.evaluation { print(e.text, terminator: "") }
            let work = r.timings.reduce(0) { $0 + $1.seconds }
            print(String(format: "loading %.2f s; generation %.3f s (%@)", loading, work,
                         r.timings.map { String(format: "%@ %.3f", $0.stage, $0.seconds) }.joined(separator: ", ")))
        } catch let e as DNDError {
            fail(e.message)
        }
    }
}
