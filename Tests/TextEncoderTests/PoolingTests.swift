import Foundation
@testable import TextEncoder
import XCTest

final class PoolingTests: XCTestCase {
    // hidden [3, 2]: rows (1, 2), (3, -4), (5, 0)
    let hidden: [Float] = [1, 2, 3, -4, 5, 0]

    func pooled(_ mode: PoolingMode, normalize: Bool = false) -> [Float] {
        var out = [Float](repeating: .nan, count: 2)
        hidden.withUnsafeBufferPointer { h in
            out.withUnsafeMutableBufferPointer { Pooling.pool(h.baseAddress!, tokens: 3, hiddenSize: 2, mode: mode, normalize: normalize, into: $0.baseAddress!) }
        }
        return out
    }

    func testModes() {
        XCTAssertEqual(pooled(.mean), [3, -2 / 3])
        XCTAssertEqual(pooled(.cls), [1, 2])
        XCTAssertEqual(pooled(.lastToken), [5, 0])
        XCTAssertEqual(pooled(.max), [5, 2])
        let s = Float(3).squareRoot()
        XCTAssertEqual(pooled(.meanSqrtLength)[0], 9 / s, accuracy: 1e-6)
        // Weights 1, 2, 3: (1 + 6 + 15) / 6, (2 − 8 + 0) / 6.
        XCTAssertEqual(pooled(.weightedMean)[0], 22 / 6, accuracy: 1e-6)
        XCTAssertEqual(pooled(.weightedMean)[1], -1, accuracy: 1e-6)
    }

    func testNormalizeGivesUnitVectorsAndLeavesZeroAlone() {
        let v = pooled(.cls, normalize: true)
        XCTAssertEqual(v[0] * v[0] + v[1] * v[1], 1, accuracy: 1e-6)
        var zero: [Float] = [0, 0, 0]
        zero.withUnsafeMutableBufferPointer { Pooling.l2Normalize($0.baseAddress!, count: 3) }
        XCTAssertEqual(zero, [0, 0, 0])
    }

    func decode(_ json: String) throws -> PoolingConfig { try JSONDecoder().decode(PoolingConfig.self, from: Data(json.utf8)) }

    func testConfigPicksTheOneModeSet() throws {
        let c = try decode(#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false}"#)
        XCTAssertEqual(c.mode, .mean)
        XCTAssertEqual(c.wordEmbeddingDimension, 384)
        XCTAssertEqual(try decode(#"{"pooling_mode_lasttoken": true, "include_prompt": true}"#).mode, .lastToken)
    }

    func testConfigErrors() {
        XCTAssertThrowsError(try decode(#"{"pooling_mode_median_tokens": true}"#)) {
            XCTAssertTrue("\($0)".contains("unknown pooling mode 'pooling_mode_median_tokens'"), "\($0)")
        }
        XCTAssertThrowsError(try decode(#"{"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true}"#)) {
            XCTAssertTrue("\($0)".contains("combined"), "\($0)")
        }
        XCTAssertThrowsError(try decode(#"{"pooling_mode_mean_tokens": false}"#)) {
            XCTAssertTrue("\($0)".contains("no pooling mode"), "\($0)")
        }
    }
}
