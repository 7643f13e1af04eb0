import DNDTestSupport
import Foundation
@testable import LLM
import XCTest

/// Pretraining from scratch: documents read from each format, the saved folder reloads to the same model.
final class PretrainerTests: XCTestCase {
    func testSavedFolderReloadsToTheSameLogits() throws {
        var cfg = PretrainConfig()
        cfg.hiddenSize = 16; cfg.numHiddenLayers = 2; cfg.numAttentionHeads = 2; cfg.numKeyValueHeads = 1; cfg.intermediateSize = 24
        cfg.bpeMerges = 20; cfg.seqLen = 24; cfg.batchSize = 4; cfg.steps = 15; cfg.tieWordEmbeddings = true
        let docs = (0..<30).map { "document \($0): the quick brown fox jumps over the lazy dog \($0 % 7) times." }
        let out = TestSupport.temporaryDirectory("dnd-pre")
        var losses: [Double] = []
        let model = try Pretrainer.pretrain(config: cfg, documents: docs, out: out) { losses.append($0.loss) }
        XCTAssertEqual(losses.count, 15)
        XCTAssertLessThan(losses.last!, losses.first!)
        let back = try CausalLM(folder: out)
        XCTAssertTrue(back.config.tieWordEmbeddings)
        XCTAssertNil(back.weights.lmHead)
        let ids = back.tokenizer.encode("the quick brown fox")
        XCTAssertEqual(try back.logits(ids, adapter: nil), try model.logits(ids, adapter: nil))
        XCTAssertEqual(try JSONDecoder().decode(PretrainConfig.self, from: Data(contentsOf: out.appendingPathComponent("pretrain_config.json"))), cfg)
        // Same config and data: the same model, bit for bit.
        let again = try Pretrainer.pretrain(config: cfg, documents: docs, out: TestSupport.temporaryDirectory("dnd-pre2"))
        XCTAssertEqual(try again.logits(ids, adapter: nil), try model.logits(ids, adapter: nil))
    }

    func testReadsTextAndRecords() throws {
        let dir = TestSupport.temporaryDirectory()
        let jsonl = dir.appendingPathComponent("d.jsonl")
        try #"""
        {"text": "plain document"}
        {"prompt": "Hi?", "response": "Hello."}
        {"prompt": "Pick", "choices": ["a", "b"], "answer": 1}
        """#.write(to: jsonl, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Pretrainer.readDocuments(jsonl), [
            "plain document",
            "<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n",
            "<|im_start|>user\nPick<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n",
        ])
        try "{\"text\": \"ok\"}\n{\"nothing\": 1}\n".write(to: jsonl, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Pretrainer.readDocuments(jsonl)) { XCTAssertTrue("\($0)".contains("line 2"), "\($0)") }
        let txt = dir.appendingPathComponent("d.txt")
        try "line one\nline two\n".write(to: txt, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Pretrainer.readDocuments(txt), ["line one\nline two\n"])
        XCTAssertThrowsError(try JSONDecoder().decode(PretrainConfig.self, from: Data(#"{"num_attention_heads": 3}"#.utf8))) {
            XCTAssertTrue("\($0)".contains("hidden_size 128"), "\($0)")
        }
    }
}
