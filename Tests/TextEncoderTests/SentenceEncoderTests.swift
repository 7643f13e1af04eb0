import DNDTestSupport
import Foundation
import SafeTensors
import TensorCore
@testable import TextEncoder
import XCTest

final class SentenceEncoderTests: XCTestCase {
    static var shared: SentenceEncoder?
    func encoder() throws -> SentenceEncoder {
        if let e = Self.shared { return e }
        let e = try SentenceEncoder(folder: TestSupport.encoderModel)
        Self.shared = e
        return e
    }

    func sentences() throws -> [String] {
        try XCTUnwrap(TestSupport.json(TestSupport.fixture("minilm/sentences.json")) as? [String])
    }

    func testHiddenAndPooledMatchSentenceTransformers() throws {
        let enc = try encoder()
        let expected = try SafeTensorsFile(url: TestSupport.fixture("minilm/expected.safetensors"))
        var worstHidden: Float = 0, worstCosine: Float = 1
        for (i, s) in try sentences().enumerated() {
            let t = enc.tokenize(s).count
            let (hidden, pooled) = enc.encode([s], length: t)
            let refHidden = try expected.tensor("hidden.\(i)")
            let refPooled = try expected.tensor("pooled.\(i)")
            let got = hidden.reshaped([t, enc.hiddenSize])
            XCTAssertEqual(got.shape, refHidden.shape, "sentence \(i)")
            guard got.shape == refHidden.shape else { continue }
            let d = got.maxAbsDifference(refHidden)
            let p = pooled.reshaped([enc.hiddenSize])
            let cos = BLAS.dot(n: p.count, p.pointer, refPooled.pointer) / (p.norm() * refPooled.norm())
            worstHidden = max(worstHidden, d); worstCosine = min(worstCosine, cos)
            XCTAssertLessThanOrEqual(d, 1e-4, "sentence \(i): hidden max abs difference")
            XCTAssertGreaterThanOrEqual(cos, 0.99999, "sentence \(i): pooled cosine")
        }
        print("minilm expected.safetensors: hidden max abs diff \(worstHidden), pooled min cosine \(worstCosine)")
    }

    func testBatchedWithPaddingEqualsOneAtATime() throws {
        let enc = try encoder()
        // 42 texts (two batches), shuffled so that batches mix lengths; L = 40 pads some and truncates others.
        var rng = SeededRNG(seed: 9)
        let texts = rng.shuffled(try sentences() + sentences() + sentences())
        let l = 40, h = enc.hiddenSize
        let (hidden, pooled) = enc.encode(texts, length: l)
        XCTAssertEqual(hidden.shape, [texts.count, l, h])
        XCTAssertEqual(pooled.shape, [texts.count, h])
        var worstHidden: Float = 0, worstPooled: Float = 0
        for (i, text) in texts.enumerated() {
            let (one, onePooled) = enc.encode([text], length: l)
            worstHidden = max(worstHidden, hidden.row(i).maxAbsDifference(one.row(0)))
            worstPooled = max(worstPooled, pooled.row(i).maxAbsDifference(onePooled.row(0)))
            let t = enc.tokenize(text).count
            if t < l { XCTAssertEqual(hidden.row(i).slice(t..<l).maxAbs(), 0, "text \(i): rows past its \(t) tokens are zero") }
        }
        print("SentenceEncoder batched (42 texts, L=40) vs one at a time: hidden max abs diff \(worstHidden), pooled \(worstPooled)")
        XCTAssertLessThanOrEqual(worstHidden, 1e-5)
        XCTAssertLessThanOrEqual(worstPooled, 1e-6)
    }

    func testLengthNilSkipsHiddenAndEmptyInputWorks() throws {
        let enc = try encoder()
        let (hidden, pooled) = enc.encode(["a", "b c"], length: nil)
        XCTAssertEqual(hidden.shape, [2, 0, 384])
        XCTAssertEqual(pooled.shape, [2, 384])
        XCTAssertEqual(pooled.row(1).norm(), 1, accuracy: 1e-5)
        let (h0, p0) = enc.encode([], length: 8)
        XCTAssertEqual(h0.shape, [0, 8, 384])
        XCTAssertEqual(p0.shape, [0, 384])
    }

    func testIdentityIsStableAndDescribesTheModel() throws {
        let a = try encoder(), b = try SentenceEncoder(folder: TestSupport.encoderModel)
        XCTAssertEqual(a.identity, b.identity)
        XCTAssertTrue(a.identity.hasPrefix("MiniLM-L6-H384-uncased-h384-l6-mean-norm-"), a.identity)
        XCTAssertEqual(a.identity.split(separator: "-").last?.count, 16, "64-bit hash in hex")
        XCTAssertEqual(a.hiddenSize, 384)
        XCTAssertEqual(a.maxSequenceLength, 256)
        let tinyDir = TestSupport.temporaryDirectory("tiny-bert")
        try TinyBert().write(to: tinyDir)
        XCTAssertNotEqual(try SentenceEncoder(folder: tinyDir).identity, a.identity)
    }

    func testTinyModelFolderEndToEnd() throws {
        let tiny = try TinyBert(positions: 20)
        let dir = TestSupport.temporaryDirectory("tiny-bert")
        try tiny.write(to: dir)
        let enc = try SentenceEncoder(folder: dir)
        XCTAssertEqual(enc.maxSequenceLength, 20, "max_seq_length 24 is capped by the 20 positions")
        let text = "the cat, the dog. abcde " + String(repeating: "x ", count: 30)
        let ids = enc.tokenize(text)
        XCTAssertEqual(ids.count, 20)
        XCTAssertEqual(Array(ids.prefix(6)), [2, 35, 36, 39, 35, 37])
        let (hidden, pooled) = enc.encode([text, "a"], length: 22)
        let ref = tiny.reference(ids)
        XCTAssertLessThan(hidden.row(0).slice(0..<20).maxAbsDifference(ref), 1e-4)
        var mean = ref.sumRows() * (1 / Float(20))
        mean.scale(by: 1 / mean.norm())
        XCTAssertLessThan(pooled.row(0).maxAbsDifference(mean), 1e-5)
    }

    func testEncoderConfigErrorsNameTheFile() throws {
        let src = TestSupport.encoderModel
        func folder(replacing name: String, with contents: String) throws -> URL {
            let dir = TestSupport.temporaryDirectory("encoder-copy")
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
            for n in ["config.json", "vocab.txt", "model.safetensors", "tokenizer_config.json", "sentence_bert_config.json", "modules.json",
                      "1_Pooling/config.json"] where n != name {
                try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(n), withDestinationURL: src.appendingPathComponent(n))
            }
            let target = dir.appendingPathComponent(name)
            try Data(contents.utf8).write(to: target)
            return dir
        }
        let unknownPooling = try folder(replacing: "1_Pooling/config.json", with: #"{"pooling_mode_median_tokens": true}"#)
        XCTAssertThrowsError(try SentenceEncoder(folder: unknownPooling)) { e in
            XCTAssertTrue("\(e)".contains("1_Pooling/config.json") && "\(e)".contains("unknown pooling mode 'pooling_mode_median_tokens'"), "\(e)")
        }
        let wrongWidth = try folder(replacing: "1_Pooling/config.json", with: #"{"word_embedding_dimension": 768, "pooling_mode_mean_tokens": true}"#)
        XCTAssertThrowsError(try SentenceEncoder(folder: wrongWidth)) { XCTAssertTrue("\($0)".contains("word_embedding_dimension 768"), "\($0)") }
        let roberta = try folder(replacing: "config.json", with: #"{"model_type": "roberta", "hidden_size": 384}"#)
        XCTAssertThrowsError(try SentenceEncoder(folder: roberta)) { e in
            XCTAssertTrue("\(e)".contains(roberta.appendingPathComponent("config.json").path) && "\(e)".contains("BERT models only"), "\(e)")
        }
        let heads = try folder(replacing: "config.json", with: #"{"model_type": "bert", "hidden_size": 384, "num_attention_heads": 7}"#)
        XCTAssertThrowsError(try SentenceEncoder(folder: heads)) { XCTAssertTrue("\($0)".contains("not divisible"), "\($0)") }
        let shapes = try folder(replacing: "config.json", with: #"{"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 7, "intermediate_size": 1536}"#)
        XCTAssertThrowsError(try SentenceEncoder(folder: shapes)) { XCTAssertTrue("\($0)".contains("encoder.layer.6.attention.self.query.weight") && "\($0)".contains("missing"), "\($0)") }
    }

    func testEncodeTokenIDsValidates() throws {
        let enc = try encoder()
        XCTAssertThrowsError(try enc.encode(tokenIDs: [[101, 30522, 102]], length: nil)) { XCTAssertTrue("\($0)".contains("id 30522"), "\($0)") }
        XCTAssertThrowsError(try enc.encode(tokenIDs: [[101, 102], []], length: nil)) { XCTAssertTrue("\($0)".contains("token sequence 1"), "\($0)") }
        XCTAssertThrowsError(try enc.encode(tokenIDs: [Array(repeating: 1000, count: 513)], length: nil)) { XCTAssertTrue("\($0)".contains("513 ids"), "\($0)") }
        let texts = try sentences()
        let (h, p) = try enc.encode(tokenIDs: texts.map(enc.tokenize), length: 16)
        let (h2, p2) = enc.encode(texts, length: 16)
        XCTAssertEqual(h, h2)
        XCTAssertEqual(p, p2)
    }

    func testConcurrentEncodesAgree() throws {
        let enc = try encoder()
        let texts = try sentences()
        let (_, reference) = enc.encode(texts, length: nil)
        var results = [Tensor](repeating: Tensor(zeros: [0]), count: 4)
        results.withUnsafeMutableBufferPointer { out in
            let slots = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: 4) { i in slots[i] = enc.encode(texts, length: nil).pooled }
        }
        for r in results { XCTAssertLessThan(r.maxAbsDifference(reference), 1e-6) }
    }
}
