import Foundation
@testable import TextEncoder
import XCTest

final class BertConfigTests: XCTestCase {
    func decode(_ json: String) throws -> BertConfig { try JSONDecoder().decode(BertConfig.self, from: Data(json.utf8)) }

    func testDecodesSnakeCaseWithDefaults() throws {
        let c = try decode(#"{"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 6, "intermediate_size": 1536}"#)
        XCTAssertEqual(c.hiddenSize, 384)
        XCTAssertEqual(c.numHiddenLayers, 6)
        XCTAssertEqual(c.numAttentionHeads, 12, "default")
        XCTAssertEqual(c.headSize, 32)
        XCTAssertEqual(c.maxPositionEmbeddings, 512)
        XCTAssertEqual(c.layerNormEps, 1e-12)
    }

    func testRejectsConfigsTheEncoderCannotRun() {
        for (json, needle) in [
            (#"{"model_type": "roberta"}"#, "model_type is 'roberta'"),
            (#"{"hidden_size": 384, "num_attention_heads": 5}"#, "not divisible"),
            (#"{"hidden_act": "relu"}"#, "hidden_act is 'relu'"),
            (#"{"position_embedding_type": "relative_key"}"#, "relative_key"),
            (#"{"num_hidden_layers": 0}"#, "num_hidden_layers is 0"),
        ] {
            XCTAssertThrowsError(try decode(json), json) { XCTAssertTrue("\($0)".contains(needle), "\($0)") }
        }
    }

    func testFlopCountForMiniLM() throws {
        let c = try BertConfig(hiddenSize: 384, numHiddenLayers: 6, numAttentionHeads: 12, intermediateSize: 1536)
        // Per layer and token: QKV 3·384², output 384², FFN 2·384·1536, attention 2·64·384 multiply-adds.
        XCTAssertEqual(c.flopsPerToken(length: 64), 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536 + 2 * 64 * 384))
    }
}
