import DNDTestSupport
import Foundation
@testable import LLM
import XCTest

/// Trained byte-level vocabularies: merges learned, round trips, and `tokenizer.json` that reads back identically.
final class BPETrainerTests: XCTestCase {
    let corpus = [
        "the cat sat on the mat. the cat ate the rat.",
        "<|im_start|>user\nWhere is the cat?<|im_end|>\n<|im_start|>assistant\nThe cat is on the mat.<|im_end|>",
        "naïve café 日本語 🙂 12345 + 678 = 7023",
    ]

    func testLearnsFrequentPairsAndRoundTrips() throws {
        let tok = BPETrainer.train(texts: corpus, merges: 40)
        XCTAssertGreaterThan(tok.merges.count, 10)
        XCTAssertLessThanOrEqual(tok.merges.count, 40)
        XCTAssertEqual(tok.vocabularySize, 256 + Set(tok.merges.map { $0.0 + $0.1 }).count + 3)
        XCTAssertEqual(tok.tokenId("<|endoftext|>"), tok.vocabularySize - 3)
        XCTAssertTrue(tok.hasChatML)
        XCTAssertEqual(tok.eosTokenId, tok.tokenId("<|endoftext|>"))
        // "the" and " cat" are frequent: each becomes one token.
        XCTAssertEqual(tok.encode(" cat").count, 1)
        XCTAssertEqual(tok.encode("the").count, 1)
        for text in corpus + ["unseen words: zebra QUARTZ", ""] {
            XCTAssertEqual(tok.decode(tok.encode(text)), text)
        }
        XCTAssertLessThan(tok.encode(corpus[0]).count, corpus[0].utf8.count / 2)
        // Special tokens are never learned from or split.
        XCTAssertFalse(tok.merges.contains { ($0.0 + $0.1).contains("im_") && ($0.0 + $0.1).contains("<") })
        XCTAssertEqual(tok.encode("<|im_end|>"), [tok.tokenId("<|im_end|>")!])
    }

    func testDeterministicAndByteLevelWithoutMerges() {
        let a = BPETrainer.train(texts: corpus, merges: 30), b = BPETrainer.train(texts: corpus, merges: 30)
        XCTAssertTrue(a.merges.elementsEqual(b.merges) { $0 == $1 })
        let bytes = BPETrainer.byteLevel()
        XCTAssertEqual(bytes.vocabularySize, 259)
        XCTAssertEqual(bytes.encode("Hi"), [39, 72])
        XCTAssertEqual(bytes.encode("日").count, 3)
    }

    func testWrittenTokenizerReadsBackIdentically() throws {
        let tok = BPETrainer.train(texts: corpus, merges: 50)
        let dir = TestSupport.temporaryDirectory()
        try tok.write(to: dir, modelMaxLength: 256)
        let back = try BPETokenizer(tokenizerJSON: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(back.vocabularySize, tok.vocabularySize)
        XCTAssertEqual(back.eosTokenId, tok.eosTokenId)
        for text in corpus { XCTAssertEqual(back.encode(text), tok.encode(text)) }
        let cfg = try XCTUnwrap(TestSupport.json(dir.appendingPathComponent("tokenizer_config.json")) as? [String: Any])
        XCTAssertEqual(cfg["eos_token"] as? String, "<|endoftext|>")
        XCTAssertNotNil(cfg["chat_template"])
    }
}
