import DNDTestSupport
import Foundation
import TensorCore
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
}
