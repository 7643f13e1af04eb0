import DNDTestSupport
import Foundation
@testable import LLM
import LoRA
import XCTest

/// Greedy generation with a KV cache against full recomputation.
final class GenerationTests: XCTestCase {
    static let folder = TestSupport.fixture("tiny-qwen2")

    func testCachedStepsGiveTheSameLogitsAsFullRecompute() throws {
        let model = try CausalLM(folder: Self.folder)
        let lora = try model.bind(LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter")))
        let ids = try XCTUnwrap(TestSupport.json(Self.folder.appendingPathComponent("inputs.json")) as? [[Int]])[2]
        // Prefill 10 tokens, then feed the rest one or three at a time; every step's rows must equal the full pass.
        let full = try model.logits(ids, lora: lora)
        let cache = KVCache(config: model.config, capacity: 4)   // forces the cache to grow
        var at = 0, worst: Float = 0
        for step in [10, 1, 3, 1, 1, 7] {
            let chunk = Array(ids[at..<(at + step)])
            let pass = model.transformer.forward(PackedBatch([chunk], offset: at), lora: lora, keep: false, cache: cache)
            let got = model.transformer.logits(pass.normed)
            worst = max(worst, got.maxAbsDifference(full.slice(at..<(at + step))))
            at += step
        }
        XCTAssertEqual(at, ids.count)
        XCTAssertEqual(cache.length, ids.count)
        print("KV-cache steps vs full recompute: max |Δlogits| = \(worst)")
        XCTAssertLessThan(worst, 1e-5)
    }

    func testGreedyGenerationEqualsRecomputation() throws {
        let model = try CausalLM(folder: Self.folder)
        for adapter in [nil, try LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter"))] {
            let lora = try adapter.map(model.bind)
            let prompt = model.tokenizer.encode(try model.formatPrompt("Hello world"))
            let cached = try model.generate(ids: prompt, maxTokens: 24, lora: lora)
            let recomputed = try model.generateWithoutCache(ids: prompt, maxTokens: 24, lora: lora)
            XCTAssertEqual(cached, recomputed)
            XCTAssertFalse(cached.contains { model.stopTokenIds.contains($0) })
            let text = try model.generate(prompt: "Hello world", maxTokens: 24, adapter: adapter)
            XCTAssertEqual(text, model.tokenizer.decode(cached))
        }
    }

    /// Batched decoding (one cache per sequence, all sequences in one pass per step) gives each sequence what
    /// decoding it alone gives: prompts of different lengths, different budgets, sequences that stop early.
    func testBatchedGenerationEqualsOneByOne() throws {
        let model = try CausalLM(folder: Self.folder)
        let lora = try model.bind(LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter")))
        let texts = ["Hello world", "Hi", "A much longer prompt with several words in it", "x", "What is two plus two?"]
        let prompts = try texts.map { model.tokenizer.encode(try model.formatPrompt($0)) }
        let budgets = [24, 5, 17, 0, 30]
        for l in [nil, lora] {
            let single = try zip(prompts, budgets).map { try model.generate(ids: $0, maxTokens: $1, lora: l) }
            for group in [1, 2, 32] {
                XCTAssertEqual(try model.generate(batch: prompts, maxTokens: budgets, lora: l, groupSize: group), single, "group size \(group)")
            }
        }
        let strings = try model.generate(prompts: texts.map { ($0, nil) }, maxTokens: budgets, adapter: nil)
        XCTAssertEqual(strings, try zip(texts, budgets).map { try model.generate(prompt: $0, maxTokens: $1, adapter: nil) })
    }

    func testStopsAtEndOfSequence() throws {
        let model = try CausalLM(folder: Self.folder)
        let prompt = model.tokenizer.encode(try model.formatPrompt("Hello world"))
        let free = try model.generateWithoutCache(ids: prompt, maxTokens: 6, lora: nil)
        XCTAssertEqual(free.count, 6)
        // Declare the third generated token an end-of-sequence token: generation stops before it.
        var cfg = model.config
        cfg.eosTokenIds = [free[2]]
        let stopper = try CausalLM(config: cfg, weights: model.weights, tokenizer: model.tokenizer)
        XCTAssertEqual(try stopper.generate(ids: prompt, maxTokens: 6, lora: nil), Array(free[..<2]))
        XCTAssertEqual(try model.generate(ids: prompt, maxTokens: 0, lora: nil), [])
        XCTAssertTrue(model.stopTokenIds.isSuperset(of: [397, 399]))
    }

    func testChatMLFormatting() throws {
        let model = try CausalLM(folder: Self.folder)
        XCTAssertEqual(model.template.kind, .jinja, "the fixture ships a ChatML Jinja template")
        XCTAssertEqual(try model.formatPrompt("Hi!", system: "You are helpful."),
                       "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n")
        // The fixture's ChatML example tokenizes to the same ids.
        XCTAssertEqual(model.tokenizer.encode(try model.formatPrompt("Hi!", system: "You are helpful.")),
                       [398, 82, 88, 82, 291, 76, 198, 56, 274, 258, 260, 220, 259, 75, 79, 69, 84, 75, 13, 399, 198, 398, 84, 82, 264,
                        198, 39, 72, 0, 399, 198, 398, 288, 82, 265, 379, 270, 198])
        XCTAssertEqual(try ChatTemplate.plain.format("x", system: nil), "x")
        XCTAssertEqual(try ChatTemplate.chatML.format("Hi!", system: "You are helpful."), try model.formatPrompt("Hi!", system: "You are helpful."))
    }
}
