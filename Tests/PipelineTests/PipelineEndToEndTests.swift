import DNDTestSupport
import Foundation
import LLM
import LoRA
import Pipeline
import Prompts
import SafeTensors
import TensorCore
import TextEncoder
import XCTest

/// Zoo → train → generate with the real MiniLM encoder, on adapters shaped for the tiny-qwen2 fixture model.
final class PipelineEndToEndTests: XCTestCase {
    static var encoder: SentenceEncoder?

    func encoder() throws -> SentenceEncoder {
        if let e = Self.encoder { return e }
        let e = try SentenceEncoder(folder: TestSupport.encoderModel)
        Self.encoder = e
        return e
    }

    /// tiny-qwen2: hidden 64, q_proj 64→64, v_proj 64→32 (2 KV heads of 16).
    func tinyZoo(_ root: URL, datasets: [String]) throws {
        try makeZoo(at: root, datasets: datasets, checkpoints: 3, rank: 4, layers: 2, hidden: 64, modules: [.q_proj, .v_proj],
                    outFeatures: [.v_proj: 32], baseModel: "tiny-qwen2",
                    prompts: { d, i in "Task \(d): compute item \(i) and answer briefly." })
    }

    func settings() -> TrainSettings {
        var s = TrainSettings()
        s.steps = 20; s.prompts = 4; s.length = 16; s.batchSize = 2; s.checkpointEvery = 10
        return s
    }

    func train(_ root: URL, holdout: [String] = []) throws -> GeneratorTraining.Outcome {
        let enc = try encoder()
        let zoo = try Zoo.scan(root.appendingPathComponent("checkpoints"), holdout: holdout)
        let cache = try EmbeddingCache(folder: root.appendingPathComponent("state/embeddings"), encoderIdentity: enc.identity, length: settings().length)
        return try GeneratorTraining.run(zoo: zoo, encoder: enc, cache: cache, settings: settings(), holdout: holdout,
                                         workDirectory: root.appendingPathComponent("state/training"),
                                         output: root.appendingPathComponent("state/gen"))
    }

    func testTrainGenerateAndLoadIntoTheLLM() throws {
        let root = TestSupport.temporaryDirectory()
        try tinyZoo(root.appendingPathComponent("checkpoints"), datasets: ["math", "poems", "code"])
        let outcome = try train(root)
        XCTAssertEqual(outcome.summary.steps, 20)
        XCTAssertTrue(outcome.summary.finalLoss.isFinite)
        let bundle = outcome.bundle
        XCTAssertEqual(bundle.metadata.datasets, ["code", "math", "poems"])
        XCTAssertEqual(bundle.metadata.checkpoints, 9)
        XCTAssertEqual(bundle.config.encoderIdentity, try encoder().identity)
        XCTAssertEqual(bundle.config.layers, 2)
        XCTAssertEqual(bundle.datasetEmbeddings.count, 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("state/training").path + "/run"), "work folder removed")

        let prompts = root.appendingPathComponent("new.jsonl")
        try PromptFile.write((0..<6).map { PromptRecord(prompt: "Task math: compute item \($0 + 10) and answer briefly.", response: "x", line: $0 + 1) }, to: prompts)
        let records = try PromptFile.read(prompts)
        let out = root.appendingPathComponent("out")
        let result = try AdapterGeneration.run(.init(records: records, inputName: "new.jsonl", job: "new", seed: 3, output: out,
                                                     evaluation: .skipped("not asked"), dndVersion: "test"),
                                               bundle: bundle, encoder: encoder(), cache: nil)
        let adapter = try LoRAAdapter(folder: out)
        XCTAssertEqual(adapter.rank, 4)
        XCTAssertNil(adapter.config.baseModelNameOrPath, "the zoo's 'tiny-qwen2' is a relative path and no base model is known")
        XCTAssertEqual(result.report.baseModel?.rule, BaseModelName.Rule.none)
        XCTAssertNil(result.report.gguf?.file)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("adapter.gguf").path))
        XCTAssertEqual(adapter.config.targetModules, ["q_proj", "v_proj"])
        XCTAssertEqual(adapter.weights[LoRASite(layer: 1, module: .v_proj)]?.b.shape, [32, 4])
        XCTAssertEqual(adapter.weights[LoRASite(layer: 0, module: .q_proj)]?.a.shape, [4, 64])
        XCTAssertEqual(result.report.input.promptsUsed, 4)
        XCTAssertTrue(result.report.input.sampled)
        XCTAssertEqual(result.report.similarity.map(\.dataset), ["code", "math", "poems"])
        XCTAssertNotNil(result.report.evaluationSkipped)
        for f in ["adapter_config.json", "adapter_model.safetensors", "report.json", "report.html"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(f).path), f)
        }
        // The adapter fits the model it was trained for and changes its logits.
        let model = try CausalLM(folder: TestSupport.fixture("tiny-qwen2"))
        try model.validate(adapter: adapter)
        let base = try model.logits([1, 2, 3], adapter: nil), tuned = try model.logits([1, 2, 3], adapter: adapter)
        XCTAssertFalse(tuned.hasNonFinite)
        XCTAssertGreaterThan(tuned.maxAbsDifference(base), 0)

        // Deterministic for a seed.
        let again = try AdapterGeneration.run(.init(records: records, inputName: "new.jsonl", job: "new", seed: 3, output: root.appendingPathComponent("out2"),
                                                    evaluation: .skipped("not asked"), dndVersion: "test"),
                                              bundle: bundle, encoder: encoder(), cache: nil)
        for s in adapter.sites { XCTAssertEqual(again.adapter.weights[s]!.a, result.adapter.weights[s]!.a) }

        // With evaluation against the fixture model, the report carries the table.
        let evaluated = try AdapterGeneration.run(.init(records: records, inputName: "new.jsonl", job: "new", seed: 3, output: root.appendingPathComponent("out3"),
                                                        evaluation: .run(scorer: model, baseModel: "tiny-qwen2"), dndVersion: "test"),
                                                  bundle: bundle, encoder: encoder(), cache: nil)
        XCTAssertEqual(evaluated.report.evaluation?.rows.map(\.records), [6, 6])
        XCTAssertEqual(evaluated.report.evaluation?.rows.map(\.name), ["base", "base + dnd adapter"])

        // With the base model's files known: its absolute path as the name, and adapter.gguf (qwen2: rows as PEFT's)
        // that dnd's engine reads back to the same logits.
        let source = try ModelSource.resolve(TestSupport.fixture("tiny-qwen2"))
        let named = try AdapterGeneration.run(.init(records: records, inputName: "new.jsonl", job: "new", seed: 3, output: root.appendingPathComponent("out4"),
                                                    baseModel: BaseModelName.of(source), evaluation: .skipped("not asked"), dndVersion: "test"),
                                              bundle: bundle, encoder: encoder(), cache: nil)
        XCTAssertEqual(named.adapter.config.baseModelNameOrPath, source.url.path)
        XCTAssertEqual(named.report.baseModel?.rule, .absolutePath)
        XCTAssertEqual(named.report.gguf, .init(file: "adapter.gguf", architecture: "qwen2", permutedQK: false, alpha: 8, skipped: nil))
        XCTAssertEqual(named.report.timings.map(\.stage), [.encodePrompts, .generateWeights, .writeAdapter, .writeGGUF])
        let fromGGUF = try model.loadAdapter(root.appendingPathComponent("out4/adapter.gguf"))
        XCTAssertEqual(try model.logits([1, 2, 3], adapter: fromGGUF).maxAbsDifference(model.logits([1, 2, 3], adapter: named.adapter)), 0)
    }

    /// The default head reads the prompts' sentences: a call without them is refused, and a folder whose head's width
    /// does not match its feature is refused at load, naming the file.
    func testHeadOfSentencesIsCheckedAtGenerationAndAtLoad() throws {
        let root = TestSupport.temporaryDirectory()
        try tinyZoo(root.appendingPathComponent("checkpoints"), datasets: ["math", "poems", "code"])
        let bundle = try train(root).bundle
        XCTAssertTrue(bundle.needsSentences)
        XCTAssertEqual(bundle.normalization.head?.featureMean.count, 2 * 384)
        let prompts = (0..<4).map { "Task math: compute item \($0 + 10). Answer briefly." }
        let (hidden, pooled) = try encoder().encode(prompts, length: 16)
        XCTAssertThrowsError(try bundle.generate(hidden: hidden, pooled: pooled)) {
            XCTAssertEqual("\($0)", "this generator's prompt head reads the prompts' sentences; give their mean sentence embeddings")
        }
        let sentences = try PromptHead.sentenceMeans(prompts, pooled: pooled) { try self.encoder().pooled($0, cache: nil) }
        let a = try bundle.generate(hidden: hidden, pooled: pooled, sentences: sentences)
        let b = try bundle.generate(hidden: hidden, pooled: pooled, sentences: pooled)   // another feature, another adapter
        let site = LoRASite(layer: 0, module: .q_proj)
        XCTAssertGreaterThan(a.weights[site]!.b.maxAbsDifference(b.weights[site]!.b), 0)

        let tampered = root.appendingPathComponent("tampered")
        try FileManager.default.copyItem(at: bundle.folder, to: tampered)
        let file = tampered.appendingPathComponent(TargetNormalization.file)
        try SafeTensorsWriter.write(bundle.normalization.tensors, to: file, metadata: ["head_feature": "prompts"])
        XCTAssertThrowsError(try GeneratorBundle(folder: tampered)) {
            XCTAssertEqual("\($0)", "\(tampered.path): \(TargetNormalization.file) holds a prompt head of 768 features, but its feature (prompts) of 384-unit embeddings has 384; retrain with `dnd train`")
        }
    }

    func testHoldoutKeepsADatasetOutOfTraining() throws {
        let root = TestSupport.temporaryDirectory()
        try tinyZoo(root.appendingPathComponent("checkpoints"), datasets: ["a", "b", "c"])
        let outcome = try train(root, holdout: ["b"])
        XCTAssertEqual(outcome.bundle.metadata.datasets, ["a", "c"])
        XCTAssertEqual(outcome.bundle.metadata.holdout, ["b"])
        XCTAssertEqual(outcome.bundle.metadata.checkpoints, 6)
        XCTAssertEqual(outcome.bundle.config.trainedOn, ["a", "c"])
    }

    /// The prompt head reads up to `headPrompts` distinct prompts (a seeded superset of the decoder's N; every prompt
    /// of a smaller file), the decoder its N: the adapter is `generate` on the decoder's states and the head's pooled
    /// embeddings and sentences, and the report says how many the head read. dnd_torch's `head_prompts` asserts the
    /// same draws (python/tests/test_seeded_rng.py).
    func testPromptHeadReadsUpToItsLimitOfDistinctPrompts() throws {
        XCTAssertEqual(AdapterGeneration.headPromptIndices(count: 100, limit: 16, seed: 3), [23, 24, 25, 26, 42, 44, 54, 64, 68, 69, 71, 72, 73, 78, 93, 94])
        XCTAssertEqual(AdapterGeneration.selectPrompts(count: 100, n: 8, seed: 3).indices, [23, 25, 42, 44, 54, 64, 69, 73])
        XCTAssertEqual(AdapterGeneration.headPromptIndices(count: 6, limit: 64, seed: 0), Array(0..<6))

        let root = TestSupport.temporaryDirectory()
        try tinyZoo(root.appendingPathComponent("checkpoints"), datasets: ["math", "poems", "code"])
        let bundle = try train(root).bundle
        XCTAssertTrue(bundle.hasHead)
        let records = (0..<10).map { PromptRecord(prompt: "Task math: compute item \($0 + 10). Answer in \($0 + 1) words.", line: $0 + 1) }
        func generate(_ limit: Int, _ name: String) throws -> AdapterGeneration.Result {
            try AdapterGeneration.run(.init(records: records, inputName: "new.jsonl", job: name, seed: 5, output: root.appendingPathComponent(name),
                                            evaluation: .skipped("not asked"), dndVersion: "test", headPrompts: limit),
                                      bundle: bundle, encoder: encoder(), cache: nil)
        }
        let all = try generate(64, "all"), six = try generate(6, "six"), four = try generate(4, "four")
        XCTAssertEqual(all.report.input.headPrompts, 10)
        XCTAssertEqual(six.report.input.headPrompts, 6)
        XCTAssertEqual(four.report.input.promptsUsed, 4)
        let decoder = AdapterGeneration.selectPrompts(count: 10, n: 4, seed: 5).indices
        let headSix = AdapterGeneration.headPromptIndices(count: 10, limit: 6, seed: 5)
        XCTAssertTrue(Set(decoder).isSubset(of: headSix))
        XCTAssertEqual(AdapterGeneration.headPromptIndices(count: 10, limit: 4, seed: 5), decoder)

        let enc = try encoder()
        func expected(_ head: [Int]) throws -> LoRAAdapter {
            let texts = head.map { records[$0].prompt }
            let (hidden, _) = try enc.encode(decoder.map { records[$0].prompt }, length: bundle.config.length)
            let (_, pooled) = try enc.encode(texts, length: bundle.config.length)
            let sentences = try PromptHead.sentenceMeans(texts, pooled: pooled) { try enc.pooled($0, cache: nil) }
            return try bundle.generate(hidden: hidden, pooled: pooled, sentences: sentences)
        }
        let site = LoRASite(layer: 1, module: .v_proj)
        for (result, head) in [(all, Array(0..<10)), (six, headSix), (four, decoder)] {
            let want = try expected(head)
            XCTAssertLessThan(result.adapter.weights[site]!.b.maxAbsDifference(want.weights[site]!.b), 1e-5)
        }
        XCTAssertGreaterThan(all.adapter.weights[site]!.b.maxAbsDifference(four.adapter.weights[site]!.b), 1e-4, "the head's feature moves with what it reads")
        let html = try String(contentsOf: root.appendingPathComponent("six/report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("4 (prompt head: 6)"))
    }

    func testFewerPromptsThanNAreReusedWithAWarning() {
        let (idx, note) = AdapterGeneration.selectPrompts(count: 3, n: 8, seed: 1)
        XCTAssertEqual(idx.count, 8)
        XCTAssertEqual(Set(idx), [0, 1, 2])
        XCTAssertNotNil(note)
        let (many, none) = AdapterGeneration.selectPrompts(count: 100, n: 8, seed: 1)
        XCTAssertEqual(Set(many).count, 8)
        XCTAssertNil(none)
        XCTAssertEqual(AdapterGeneration.selectPrompts(count: 100, n: 8, seed: 1).indices, many)
    }
}
