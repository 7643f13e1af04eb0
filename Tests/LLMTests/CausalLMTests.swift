import DNDTestSupport
import Foundation
import LLM
import LoRA
import SafeTensors
import TensorCore
import XCTest

/// Logits of the tiny Qwen2 fixture against transformers/PEFT, with and without the adapter.
final class CausalLMTests: XCTestCase {
    static let folder = TestSupport.fixture("tiny-qwen2")

    func inputs() throws -> [[Int]] {
        try XCTUnwrap(TestSupport.json(Self.folder.appendingPathComponent("inputs.json")) as? [[Int]])
    }

    func compare(_ model: CausalLM, adapter: LoRAAdapter?, expected file: String, label: String) throws -> Float {
        let ref = try SafeTensorsFile(url: Self.folder.appendingPathComponent(file))
        var worst: Float = 0
        for (j, ids) in try inputs().enumerated() {
            let want = try ref.tensor("logits.\(j)")
            let got = try model.logits(ids, adapter: adapter)
            XCTAssertEqual(got.shape, want.shape)
            let d = got.maxAbsDifference(want)
            worst = max(worst, d)
            XCTAssertLessThan(d, 1e-4, "\(label) logits.\(j)")
        }
        print("\(label): max |logits − reference| = \(worst)")
        return worst
    }

    func testLogitsMatchTransformers() throws {
        let model = try CausalLM(folder: Self.folder)
        XCTAssertEqual(model.config.architecture, .qwen2)
        XCTAssertEqual(model.config.headDim, 16)
        XCTAssertTrue(model.config.attentionBias)
        _ = try compare(model, adapter: nil, expected: "expected.safetensors", label: "tiny-qwen2/expected.safetensors")
    }

    func testLogitsWithAdapterMatchPEFT() throws {
        let model = try CausalLM(folder: Self.folder)
        let adapter = try LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter"))
        try model.validate(adapter: adapter)
        _ = try compare(model, adapter: adapter, expected: "expected_lora.safetensors", label: "tiny-qwen2/expected_lora.safetensors")
    }

    func testMergedAdapterEqualsUnmerged() throws {
        let model = try CausalLM(folder: Self.folder)
        let adapter = try LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter"))
        let merged = try model.merged(with: adapter)
        var worst: Float = 0
        for ids in try inputs() {
            worst = max(worst, try merged.logits(ids, adapter: nil).maxAbsDifference(model.logits(ids, adapter: adapter)))
        }
        print("merged vs unmerged LoRA: max |Δlogits| = \(worst)")
        XCTAssertLessThan(worst, 1e-4)
        // The base model is untouched by merging.
        _ = try compare(model, adapter: nil, expected: "expected.safetensors", label: "base after merge")
    }

    func testBatchedForwardEqualsSingleSequences() throws {
        let model = try CausalLM(folder: Self.folder)
        let adapter = try LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter"))
        let seqs = try inputs() + [[]]
        let batch = try model.logits(batch: seqs, adapter: adapter)
        let tmax = seqs.map(\.count).max()!, v = model.config.vocabSize
        XCTAssertEqual(batch.shape, [seqs.count, tmax, v])
        var worst: Float = 0
        for (b, s) in seqs.enumerated() where !s.isEmpty {
            let one = try model.logits(s, adapter: adapter)
            let rows = batch.row(b).slice(0..<s.count)
            worst = max(worst, rows.maxAbsDifference(one))
            XCTAssertEqual(batch.row(b).slice(s.count..<tmax).maxAbs(), 0, "padding rows are zero")
        }
        print("packed batch vs one at a time: max |Δlogits| = \(worst)")
        XCTAssertLessThan(worst, 1e-5)
    }

    func testRefusesAdaptersThatDoNotFit() throws {
        let model = try CausalLM(folder: Self.folder)
        let good = try LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter"))
        var wrongShape = good
        let site = LoRASite(layer: 1, module: .k_proj)
        wrongShape.weights[site] = (Tensor(zeros: [4, 64]), Tensor(zeros: [64, 4]))
        XCTAssertThrowsError(try model.validate(adapter: wrongShape)) { e in
            XCTAssertTrue("\(e)".contains("layers.1.self_attn.k_proj") && "\(e)".contains("[32, 4]"), "\(e)")
        }
        XCTAssertThrowsError(try model.logits([1, 2], adapter: wrongShape))
        var wrongLayer = good
        wrongLayer.weights[LoRASite(layer: 5, module: .q_proj)] = good.weights[LoRASite(layer: 0, module: .q_proj)]
        XCTAssertThrowsError(try model.validate(adapter: wrongLayer)) { e in
            XCTAssertTrue("\(e)".contains("layers.5.self_attn.q_proj") && "\(e)".contains("2 layers"), "\(e)")
        }
        var wrongIn = good
        wrongIn.weights[LoRASite(layer: 0, module: .down_proj)] = (Tensor(zeros: [4, 64]), Tensor(zeros: [64, 4]))
        XCTAssertThrowsError(try model.validate(adapter: wrongIn)) { e in
            XCTAssertTrue("\(e)".contains("layers.0.mlp.down_proj") && "\(e)".contains("128 inputs"), "\(e)")
        }
    }

    func testRefusesTokenIdsOutsideTheVocabulary() throws {
        let model = try CausalLM(folder: Self.folder)
        XCTAssertThrowsError(try model.logits([1, 400], adapter: nil)) { XCTAssertTrue("\($0)".contains("400"), "\($0)") }
    }

    func testLinearShapes() throws {
        let model = try CausalLM(folder: Self.folder)
        XCTAssertTrue(model.linearShape(layer: 0, module: .q_proj) == (64, 64))
        XCTAssertTrue(model.linearShape(layer: 0, module: .k_proj) == (64, 32))
        XCTAssertTrue(model.linearShape(layer: 1, module: .down_proj) == (128, 64))
        XCTAssertTrue(model.linearShape(layer: 1, module: .gate_proj) == (64, 128))
    }
}
