import DNDTestSupport
import Foundation
@testable import LLM
import LoRA
import Prompts
import XCTest

/// Fine-tuning a LoRA on a small task: accuracy rises, checkpoints reload, resume is exact.
final class LoRATrainerTests: XCTestCase {
    static let folder = TestSupport.fixture("tiny-qwen2")
    static let positive = ["great", "wonderful", "excellent", "lovely", "fantastic", "superb", "delightful", "brilliant"]
    static let negative = ["awful", "terrible", "horrible", "dreadful", "boring", "poor", "nasty", "bad"]

    /// A sentiment task: training templates and held-out templates share the adjectives, not the sentences.
    static func task(_ templates: [String]) -> [PromptRecord] {
        var out: [PromptRecord] = []
        for t in templates {
            for (words, label) in [(positive, "positive"), (negative, "negative")] {
                for w in words {
                    out.append(PromptRecord(prompt: "Review: \(t.replacingOccurrences(of: "{w}", with: w))\nPositive or negative?",
                                            response: label, choices: ["positive", "negative"], correctChoice: label == "positive" ? 0 : 1))
                }
            }
        }
        return out
    }

    static let train = task(["The movie was {w}.", "What a {w} meal!", "Honestly, the service felt {w}.", "My day at the park was {w}.",
                             "A {w} hotel.", "The song is {w}, I said."])
    static let heldOut = task(["I think the book is {w}.", "Our trip was {w} overall.", "That was a {w} game"])

    func accuracy(_ model: CausalLM, _ adapter: LoRAAdapter?, _ records: [PromptRecord]) throws -> Double {
        var right = 0
        for r in records where try model.choose(prompt: r.prompt, choices: r.choices!, adapter: adapter) == r.correctChoice { right += 1 }
        return Double(right) / Double(records.count)
    }

    func options(steps: Int) -> FinetuneOptions {
        var o = FinetuneOptions()
        o.rank = 8; o.alpha = 16; o.learningRate = 1e-2; o.steps = steps; o.batchSize = 16; o.seed = 3
        return o
    }

    func testFinetuneRaisesHeldOutAccuracyAndCheckpointsReload() throws {
        let model = try CausalLM(folder: Self.folder)
        let out = TestSupport.temporaryDirectory("dnd-finetune")
        var opts = options(steps: 150)
        opts.saveFrom = 146
        var lines: [FinetuneProgress] = []
        let result = try LoRATrainer.finetune(model: model, records: Self.train, options: opts, out: out) { lines.append($0) }
        XCTAssertEqual(lines.count, 150)
        XCTAssertEqual(result.checkpoints.map(\.lastPathComponent), (146...150).map { "checkpoint-\($0)" })
        XCTAssertLessThan(lines.last!.loss, lines.first!.loss / 4, "loss falls")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("prompts.jsonl").path))
        XCTAssertEqual(try PromptFile.read(out.appendingPathComponent("prompts.jsonl")).count, Self.train.count)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent(LoRATrainer.stateFolderName).path))
        let last = try LoRAAdapter(folder: result.checkpoints.last!)
        XCTAssertEqual(last.config.r, 8)
        XCTAssertEqual(last.modules, LoRAModule.allCases)
        let base = try accuracy(model, nil, Self.heldOut), tuned = try accuracy(model, last, Self.heldOut)
        print("held-out accuracy: base \(base), fine-tuned \(tuned) (\(Self.heldOut.count) reviews, \(Self.train.count) training records)")
        XCTAssertGreaterThanOrEqual(tuned, 0.85)
        XCTAssertGreaterThanOrEqual(tuned - base, 0.3)
        // The same training in memory gives the adapter that was saved: identical logits after reload.
        let trainer = try LoRATrainer(model: model, examples: try model.trainingExamples(Self.train, maxLength: opts.maxLength, origin: "t"), options: opts)
        for _ in 0..<opts.steps { try trainer.trainStep() }
        let ids = model.tokenizer.encode(try model.formatPrompt("Review: I think the book is lovely.\nPositive or negative?") + "positive")
        let d = try model.logits(ids, adapter: trainer.adapter).maxAbsDifference(model.logits(ids, adapter: last))
        print("checkpoint-150 reloaded vs in memory: max |Δlogits| = \(d)")
        XCTAssertEqual(d, 0)
        // Consecutive checkpoints differ (one step apart) but stay close.
        let prev = try LoRAAdapter(folder: result.checkpoints[3])
        let site = LoRASite(layer: 1, module: .v_proj)
        XCTAssertGreaterThan(prev.weights[site]!.b.maxAbsDifference(last.weights[site]!.b), 0)
    }

    func testResumeAfterInterruptionIsExact() throws {
        let model = try CausalLM(folder: Self.folder)
        var opts = options(steps: 12)
        opts.saveFrom = 9; opts.stateEvery = 4
        let whole = TestSupport.temporaryDirectory("dnd-whole")
        _ = try LoRATrainer.finetune(model: model, records: Self.train, options: opts, out: whole)
        // "Interrupted" after 5 steps: the state of step 4 is on disk (state_every 4), as an aborted run leaves it.
        let resumed = TestSupport.temporaryDirectory("dnd-resumed")
        let examples = try model.trainingExamples(Self.train, maxLength: opts.maxLength, origin: "t")
        let partial = try LoRATrainer(model: model, examples: examples, options: opts)
        for _ in 0..<4 { try partial.trainStep() }
        try partial.saveState(to: resumed.appendingPathComponent(LoRATrainer.stateFolderName))
        let debris = resumed.appendingPathComponent(".checkpoint-5.tmp-999")   // a folder a kill left half-written
        try FileManager.default.createDirectory(at: debris, withIntermediateDirectories: true)
        var steps: [Int] = []
        let r = try LoRATrainer.finetune(model: model, records: Self.train, options: opts, out: resumed) { steps.append($0.step) }
        XCTAssertEqual(r.resumedFrom, 4)
        XCTAssertFalse(FileManager.default.fileExists(atPath: debris.path))
        XCTAssertEqual(steps, Array(5...12))
        for s in 9...12 {
            let a = try LoRAAdapter(folder: whole.appendingPathComponent("checkpoint-\(s)"))
            let b = try LoRAAdapter(folder: resumed.appendingPathComponent("checkpoint-\(s)"))
            for site in a.sites { XCTAssertEqual(a.weights[site]!.a, b.weights[site]!.a); XCTAssertEqual(a.weights[site]!.b, b.weights[site]!.b) }
        }
        // A state from other options is refused with the folder named.
        let other = TestSupport.temporaryDirectory("dnd-other")
        try partial.saveState(to: other.appendingPathComponent(LoRATrainer.stateFolderName))
        var changed = opts
        changed.learningRate = 5e-3
        XCTAssertThrowsError(try LoRATrainer.finetune(model: model, records: Self.train, options: changed, out: other)) {
            XCTAssertTrue("\($0)".contains(LoRATrainer.stateFolderName) && "\($0)".contains("other options"), "\($0)")
        }
    }

    /// LoRA-FA: A stays at its seeded initialisation, B learns; two runs of one seed share A exactly.
    func testFrozenAStaysAtItsInitialisation() throws {
        let model = try CausalLM(folder: Self.folder)
        let examples = try model.trainingExamples(Self.train, maxLength: 64, origin: "test")
        var o = FinetuneOptions()
        o.rank = 2; o.alpha = 4; o.targets = [.q_proj, .v_proj]; o.steps = 4; o.batchSize = 4; o.learningRate = 1e-2; o.freezeA = true
        let fresh = try LoRATrainer(model: model, examples: examples, options: o)
        let trainer = try LoRATrainer(model: model, examples: examples, options: o)
        for _ in 0..<4 { try trainer.trainStep() }
        for (site, w) in trainer.adapter.weights {
            XCTAssertEqual(w.a.maxAbsDifference(fresh.adapter.weights[site]!.a), 0, "\(site): A is frozen")
            XCTAssertGreaterThan(w.b.maxAbs(), 0, "\(site): B learned")
        }
        o.freezeA = false
        let free = try LoRATrainer(model: model, examples: examples, options: o)
        for _ in 0..<4 { try free.trainStep() }
        XCTAssertGreaterThan(free.adapter.weights.map { site, w in w.a.maxAbsDifference(fresh.adapter.weights[site]!.a) }.max()!, 0, "without the flag A trains")
        let decoded = try JSONDecoder().decode(FinetuneOptions.self, from: Data(#"{"freeze_a": true}"#.utf8))
        XCTAssertTrue(decoded.freezeA)
    }

    func testTrainingExamplesMaskThePrompt() throws {
        let model = try CausalLM(folder: Self.folder)
        let ex = try model.trainingExamples([PromptRecord(prompt: "Hi", response: "Hello there")], maxLength: 64, origin: "t")[0]
        let (p, a) = try model.encodeTurn(prompt: "Hi", response: "Hello there")
        let full = p + a + [399]
        XCTAssertEqual(ex.inputs, Array(full.dropLast()))
        XCTAssertEqual(ex.labels, Array(repeating: -100, count: p.count - 1) + a + [399])
        // Too long: the prompt's end and the response's start are kept.
        let cut = try XCTUnwrap(TrainingExample(prompt: Array(0..<50), response: Array(100..<120), end: 7, maxLength: 16))
        XCTAssertEqual(cut.inputs.count, 15)
        XCTAssertEqual(cut.labels.filter { $0 != -100 }, Array(100..<115))
        XCTAssertThrowsError(try model.trainingExamples([PromptRecord(prompt: "no answer")], maxLength: 64, origin: "data.jsonl")) {
            XCTAssertTrue("\($0)".contains("data.jsonl"), "\($0)")
        }
    }

    func testDataOrderIsASeededShufflePerEpoch() {
        let order = DataOrder(count: 10, seed: 4)
        let epoch0 = (0..<5).flatMap { order.batch($0, size: 2) }
        XCTAssertEqual(Set(epoch0), Set(0..<10))
        XCTAssertEqual(order.batch(3, size: 2), DataOrder(count: 10, seed: 4).batch(3, size: 2))
        XCTAssertNotEqual((5..<10).flatMap { order.batch($0, size: 2) }, epoch0)
    }
}
