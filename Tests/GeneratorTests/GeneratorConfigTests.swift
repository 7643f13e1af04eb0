import DNDTestSupport
import Foundation
import Generator
import TensorCore
import XCTest

final class GeneratorConfigTests: XCTestCase {
    /// Qwen2.5-0.5B: hidden 896, 2 KV heads × 64, intermediate 4864, 24 layers.
    static let qwenModules = [
        GeneratorConfig.ModuleShape(name: "q_proj", inFeatures: 896, outFeatures: 896),
        .init(name: "k_proj", inFeatures: 896, outFeatures: 128), .init(name: "v_proj", inFeatures: 896, outFeatures: 128),
        .init(name: "o_proj", inFeatures: 896, outFeatures: 896), .init(name: "up_proj", inFeatures: 896, outFeatures: 4864),
        .init(name: "gate_proj", inFeatures: 896, outFeatures: 4864), .init(name: "down_proj", inFeatures: 4864, outFeatures: 896),
    ]

    func testTokenCountOfQwenHalfBillionIs4296() {
        XCTAssertEqual(GeneratorConfig.tokenCount(layers: 24, modules: Self.qwenModules, chunkWidth: 128), 4296)
    }

    func testJSONRoundTripWithSnakeCaseKeys() throws {
        var c = try GeneratorConfig(chain: [[16, 32, 384], [24, 12, 200], [4296, 10, 130]], kernel: 3, encoderIdentity: "all-MiniLM-L6-v2",
                                    targetModules: Self.qwenModules.map(\.name), baseModel: "Qwen/Qwen2.5-0.5B", layers: 24,
                                    moduleShapes: Self.qwenModules)
        c.trainedOn = ["arc_e", "boolq"]
        c.training = TrainingSummary(steps: 10, batchSize: 4, learningRate: 1e-3, seed: 1, finalLoss: 0.5, recentLoss: 0.6, seconds: 2)
        let data = try c.encoded()
        let text = String(decoding: data, as: UTF8.self)
        for key in ["token_count", "chunk_width", "encoder_identity", "target_modules", "base_model", "module_shapes", "in_features",
                    "lora_alpha", "trained_on", "batch_size", "final_loss"] {
            XCTAssertTrue(text.contains("\"\(key)\""), key)
        }
        XCTAssertEqual(try JSONDecoder().decode(GeneratorConfig.self, from: data), c)
        XCTAssertEqual(c.loraAlpha, 16)
        XCTAssertEqual(c.rank, 8)
        XCTAssertEqual(c.chunkWidth, 128)
    }

    func testDefaultsFromChainAlone() throws {
        let c = try JSONDecoder().decode(GeneratorConfig.self, from: Data(#"{"chain": [[4, 8, 12], [9, 4, 6]]}"#.utf8))
        XCTAssertEqual(c.kernel, 3)
        XCTAssertEqual(c.conditionShape, [4, 8, 12])
        XCTAssertEqual(c.tokenShape, [9, 4, 6])
        XCTAssertEqual(c.rank, 2)
        XCTAssertEqual(c.loraAlpha, 4)
        XCTAssertEqual(c.encoderIdentity, "")
    }

    func testValidationMessagesNameTheField() {
        func decodeError(_ json: String) -> String {
            do { _ = try JSONDecoder().decode(GeneratorConfig.self, from: Data(json.utf8)); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(decodeError(#"{"chain": [[4, 8, 12]]}"#).contains("at least two"))
        XCTAssertTrue(decodeError(#"{"chain": [[4, 8, 12], [9, 4, 6]], "kernel": 4}"#).contains("kernel 4"))
        XCTAssertTrue(decodeError(#"{"chain": [[4, 8, 12], [9, 4, 6]], "rank": 3}"#).contains("chain ends at [9, 4, 6]"))
        XCTAssertTrue(decodeError(#"{"chain": [[4, 8, 12], [9, 0, 6]]}"#).contains("chain[1]"))
        XCTAssertTrue(decodeError(#"{"chain": [[4, 8, 12], [9, 4, 6]], "prompts": 5}"#).contains("N=5 prompts"))
        XCTAssertTrue(decodeError(#"{"chain": [[4, 8, 12], [9, 4, 6]], "layers": 2, "module_shapes": [{"name": "q_proj", "in_features": 8, "out_features": 8}]}"#)
            .contains("token_count 9 does not match"))
        XCTAssertTrue(decodeError(#"{"chain": [[4, 8, 12], [9, 4, 6]], "format": 7}"#).contains("format 7"))
    }

    func testLoadNamesTheFile() throws {
        let dir = TestSupport.temporaryDirectory()
        let url = dir.appendingPathComponent("generator.json")
        try Data(#"{"chain": "oops"}"#.utf8).write(to: url)
        XCTAssertThrowsError(try GeneratorConfig.load(from: url)) { e in
            XCTAssertTrue("\(e)".contains(url.path) && "\(e)".contains("chain"), "\(e)")
        }
    }
}
