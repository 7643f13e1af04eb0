import DNDTestSupport
import Foundation
import LLM
import LoRA
import SafeTensors
import TensorCore
import XCTest

/// `dnd export-gguf` against llama.cpp's converter output, and `--adapter adapter.gguf` in dnd's own engine.
final class ExportGGUFTests: XCTestCase {
    /// `fixtures/gguf/smollm2/adapter.gguf` is reproduced from `smollm2/adapter/` with the SmolLM2 GGUF as base.
    func testReproducesTheConvertersFileFromThePEFTFolder() throws {
        let dir = TestSupport.temporaryDirectory().appendingPathComponent("adapter")
        try FileManager.default.copyItem(at: TestSupport.fixture("gguf/smollm2/adapter"), to: dir)
        let r = try TestSupport.runDND(["export-gguf", dir.path, "--base", try TestSupport.requireSmolLM2().path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("llama LoRA, 210 pairs, rank 4, adapter.lora.alpha 8, q/k lora_b rows permuted for llama.cpp"), r.stdout)
        let got = dir.appendingPathComponent("adapter.gguf"), want = TestSupport.fixture("gguf/smollm2/adapter.gguf")
        let base = GGUFLoRABase(architecture: "llama", heads: 9, kvHeads: 3)
        let a = try GGUFLoRA.read(got, base: base), b = try GGUFLoRA.read(want, base: base)
        var worst: Float = 0
        for s in b.sites { worst = max(worst, a.weights[s]!.a.maxAbsDifference(b.weights[s]!.a), a.weights[s]!.b.maxAbsDifference(b.weights[s]!.b)) }
        print("dnd export-gguf fixtures/gguf/smollm2/adapter: tensors max abs difference to the converter's \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-6)
        XCTAssertEqual(try Data(contentsOf: got), try Data(contentsOf: want), "byte for byte: metadata, names, order, shapes, offsets")
    }

    func testAQwen2AdapterExportsWithoutPermutation() throws {
        let out = TestSupport.temporaryDirectory().appendingPathComponent("qwen.gguf")
        let adapterDir = TestSupport.fixture("tiny-qwen2/adapter")
        let r = try TestSupport.runDND(["export-gguf", adapterDir.path, "--base", TestSupport.fixture("tiny-qwen2").path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("qwen2 LoRA, 14 pairs, rank 4") && !r.stdout.contains("permuted"), r.stdout)
        let peft = try LoRAAdapter(folder: adapterDir)
        // Read back for a base that permutes nothing: every tensor is PEFT's as it is.
        let back = try GGUFLoRA.read(out, base: GGUFLoRABase(architecture: "qwen2", heads: 4, kvHeads: 2))
        for s in peft.sites {
            XCTAssertEqual(back.weights[s]!.a, peft.weights[s]!.a)
            XCTAssertEqual(back.weights[s]!.b, peft.weights[s]!.b)
        }
    }

    func testWithoutALocalBaseItSaysToPassOne() throws {
        let r = try TestSupport.runDND(["export-gguf", TestSupport.fixture("gguf/smollm2/adapter").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("not a model on this machine; pass --base MODEL"), r.stderr)
        let misfit = try TestSupport.runDND(["export-gguf", TestSupport.fixture("gguf/smollm2/adapter").path,
                                             "--base", TestSupport.fixture("tiny-qwen2").path, "--out", "/tmp/never.gguf"])
        XCTAssertNotEqual(misfit.status, 0)
        XCTAssertTrue(misfit.stderr.contains("the adapter was made for a different base model"), misfit.stderr)
    }

    /// `dnd debug logits --adapter adapter.gguf` gives PEFT's logits (the converter's file, q/k rows permuted).
    func testDebugLogitsTakesAdapterGGUF() throws {
        let dir = TestSupport.temporaryDirectory()
        let out = dir.appendingPathComponent("logits.safetensors")
        let r = try TestSupport.runDND(["debug", "logits", "--model", try TestSupport.requireSmolLM2().path,
                                        "--adapter", TestSupport.fixture("gguf/smollm2/adapter.gguf").path,
                                        "--input", TestSupport.fixture("gguf/smollm2/inputs.json").path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = try SafeTensorsFile(url: out), want = try SafeTensorsFile(url: TestSupport.fixture("gguf/smollm2/expected_lora.safetensors"))
        var worst: Float = 0
        for j in 0..<3 { worst = max(worst, try got.tensor("logits.\(j)").maxAbsDifference(want.tensor("logits.\(j)"))) }
        print("dnd debug logits --adapter fixtures/gguf/smollm2/adapter.gguf vs PEFT: max abs difference \(worst)")
        XCTAssertLessThan(worst, 1e-3)
    }
}
