import DNDTestSupport
import Foundation
@testable import TextEncoder
import XCTest

final class BertTokenizerTests: XCTestCase {
    func testIdsMatchFixtureExactly() throws {
        let tok = try BertTokenizer(folder: TestSupport.encoderModel)
        XCTAssertEqual(tok.maxLength, 256, "max_seq_length comes from sentence_bert_config.json, not tokenizer.json's 128")
        let sentences = try XCTUnwrap(TestSupport.json(TestSupport.fixture("minilm/sentences.json")) as? [String])
        let expected = try XCTUnwrap(TestSupport.json(TestSupport.fixture("minilm/ids.json")) as? [[Int]])
        XCTAssertEqual(sentences.count, 14)
        XCTAssertEqual(expected.count, sentences.count)
        var mismatches = 0
        for (i, s) in sentences.enumerated() {
            let ids = tok.encode(s)
            if ids != expected[i] {
                mismatches += 1
                let firstDiff = zip(ids, expected[i]).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ids.count, expected[i].count)
                XCTFail("sentence \(i): ids differ at position \(firstDiff) (got \(ids.count) ids, expected \(expected[i].count)): got \(Array(ids[firstDiff...].prefix(8))), expected \(Array(expected[i][firstDiff...].prefix(8)))")
            }
        }
        print("minilm ids.json: \(sentences.count - mismatches)/\(sentences.count) sentences identical")
    }

    /// Fixtures/wordpiece_fuzz.json (made by make_wordpiece_fuzz.py with Hugging Face tokenizers 0.23.3): every
    /// control, format, mark, punctuation and space character (including those assigned after Unicode 8.0),
    /// CJK range edges, random mixtures and literal special tokens.
    func testIdsMatchReferenceOnUnicodeFuzz() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/wordpiece_fuzz.json")
        let json = try XCTUnwrap(TestSupport.json(url) as? [String: Any])
        let texts = try XCTUnwrap(json["texts"] as? [String]), expected = try XCTUnwrap(json["ids"] as? [[Int]])
        XCTAssertGreaterThan(texts.count, 5000)
        let tok = try BertTokenizer(folder: TestSupport.encoderModel)
        var mismatches: [Int] = []
        for (i, t) in texts.enumerated() where tok.encode(t) != expected[i] { mismatches.append(i) }
        print("wordpiece_fuzz.json: \(texts.count - mismatches.count)/\(texts.count) texts identical")
        for i in mismatches.prefix(5) {
            XCTFail("text \(i) \(texts[i].unicodeScalars.map { String($0.value, radix: 16) }.prefix(12)): got \(tok.encode(texts[i]).prefix(12)), expected \(expected[i].prefix(12))")
        }
    }

    func testSpecialTokensInTextAreKeptWhole() throws {
        let tok = try BertTokenizer(folder: TestSupport.encoderModel)
        XCTAssertEqual(tok.encode("x[MASK]y"), [101, tok.wordPiece.id(of: "x")!, 103, tok.wordPiece.id(of: "y")!, 102])
        XCTAssertEqual(tok.encode("[SEP][SEP]"), [101, 102, 102, 102])
        XCTAssertNotEqual(tok.encode("[mask]"), [101, 103, 102], "matched exactly, before lower-casing")
    }
}

final class BertTokenizerFolderTests: XCTestCase {
    func folder(vocab: [String] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b"], tokenizerConfig: String? = nil, sentenceBert: String? = nil) throws -> URL {
        let dir = TestSupport.temporaryDirectory("wordpiece")
        try Data((vocab.joined(separator: "\n") + "\n").utf8).write(to: dir.appendingPathComponent("vocab.txt"))
        if let t = tokenizerConfig { try Data(t.utf8).write(to: dir.appendingPathComponent("tokenizer_config.json")) }
        if let s = sentenceBert { try Data(s.utf8).write(to: dir.appendingPathComponent("sentence_bert_config.json")) }
        return dir
    }

    func testTruncationKeepsFirstPiecesThenSep() throws {
        let tok = try BertTokenizer(folder: TestSupport.encoderModel)
        let text = Array(repeating: "the", count: 300).joined(separator: " ")
        let (ids, pieces) = tok.encodeCountingPieces(text)
        XCTAssertEqual(pieces, 300)
        XCTAssertEqual(ids.count, 256)
        XCTAssertEqual(ids.first, 101)
        XCTAssertEqual(ids.last, 102)
        XCTAssertEqual(Set(ids.dropFirst().dropLast()), [tok.wordPiece.id(of: "the")!])
        XCTAssertEqual(tok.encode(""), [101, 102])
        XCTAssertEqual(tok.encode(" \t\n "), [101, 102])
    }

    func testLengthComesFromSentenceBertConfigThenTokenizerConfig() throws {
        XCTAssertEqual(try BertTokenizer(folder: folder()).maxLength, 512)
        XCTAssertEqual(try BertTokenizer(folder: folder(tokenizerConfig: #"{"model_max_length": 1e30}"#)).maxLength, 512, "placeholder ignored")
        XCTAssertEqual(try BertTokenizer(folder: folder(tokenizerConfig: #"{"model_max_length": 128}"#)).maxLength, 128)
        XCTAssertEqual(try BertTokenizer(folder: folder(tokenizerConfig: #"{"model_max_length": 128}"#, sentenceBert: #"{"max_seq_length": 4}"#)).maxLength, 4)
        let tok = try BertTokenizer(folder: folder(sentenceBert: #"{"max_seq_length": 4}"#))
        XCTAssertEqual(tok.encode("a b a b"), [2, 4, 5, 3])
        XCTAssertThrowsError(try BertTokenizer(folder: folder(sentenceBert: #"{"max_seq_length": 1}"#))) {
            XCTAssertTrue("\($0)".contains("sentence_bert_config.json") && "\($0)".contains("max_seq_length 1"), "\($0)")
        }
    }

    func testSpecialTokensFromConfigIncludingObjectForm() throws {
        let dir = try folder(vocab: ["<unk>", "<s>", "</s>", "<pad>", "x"],
                             tokenizerConfig: #"{"unk_token": {"content": "<unk>"}, "cls_token": "<s>", "sep_token": "</s>", "pad_token": "<pad>", "do_lower_case": false}"#)
        let tok = try BertTokenizer(folder: dir)
        XCTAssertEqual(tok.encode("x X"), [1, 4, 0, 2])
        let bad = try folder(vocab: ["[UNK]", "[CLS]", "[PAD]"])
        XCTAssertThrowsError(try BertTokenizer(folder: bad)) { e in
            XCTAssertTrue("\(e)".contains("vocab.txt") && "\(e)".contains("'[SEP]'") && "\(e)".contains("sep_token"), "\(e)")
        }
        XCTAssertThrowsError(try BertTokenizer(folder: folder(tokenizerConfig: #"{"do_lower_case": "yes"}"#))) { e in
            XCTAssertTrue("\(e)".contains("tokenizer_config.json") && "\(e)".contains("do_lower_case"), "\(e)")
        }
    }

    func testMissingVocabulary() throws {
        let dir = TestSupport.temporaryDirectory()
        XCTAssertFalse(BertTokenizer.isWordPieceFolder(dir))
        XCTAssertThrowsError(try BertTokenizer(folder: dir)) { XCTAssertTrue("\($0)".contains("vocab.txt") && "\($0)".contains("missing"), "\($0)") }
    }

    func testSentenceTransformersLowercasesInputWhenAsked() throws {
        let tok = try BertTokenizer(folder: folder(tokenizerConfig: #"{"do_lower_case": false}"#, sentenceBert: #"{"do_lower_case": true}"#))
        XCTAssertEqual(tok.encode("A B"), [2, 4, 5, 3])
    }
}
