import DNDTestSupport
import Foundation
import GGUF
import LoRA
import TensorCore
import XCTest

/// llama.cpp's GGUF LoRA layout against `fixtures/gguf/smollm2/adapter.gguf` (what `convert_lora_to_gguf.py --outtype f32`
/// wrote from `smollm2/adapter/`), and read back into PEFT's layout.
final class GGUFLoRATests: XCTestCase {
    /// SmolLM2-135M: llama, 9 query heads, 3 KV heads.
    static let smolLM2 = GGUFLoRABase(architecture: "llama", heads: 9, kvHeads: 3)
    /// tiny-qwen2: 4 query heads, 1 KV head (not permuted either way).
    static let tinyQwen2 = GGUFLoRABase(architecture: "qwen2", heads: 4, kvHeads: 1)

    func fixtureAdapter() throws -> LoRAAdapter { try LoRAAdapter(folder: TestSupport.fixture("gguf/smollm2/adapter")) }

    /// `s·B·A` `[out, in]` of every pair.
    func deltas(_ a: LoRAAdapter) -> [LoRASite: Tensor] {
        var out: [LoRASite: Tensor] = [:]
        for (site, w) in a.weights {
            let (o, i, r) = (w.b.shape[0], w.a.shape[1], a.rank)
            var d = Tensor(zeros: [o, i])
            d.withUnsafeMutableBufferPointer { p in
                BLAS.gemm(m: o, n: i, k: r, alpha: a.scaling, a: w.b.pointer, lda: r, b: w.a.pointer, ldb: i, beta: 0, c: p.baseAddress!, ldc: i)
            }
            out[site] = d
        }
        return out
    }

    func testWritesWhatLlamaCppsConverterWrote() throws {
        let url = TestSupport.temporaryDirectory().appendingPathComponent("adapter.gguf")
        try GGUFLoRA.write(try fixtureAdapter(), base: Self.smolLM2, to: url)
        let got = try GGUFFile(url: url), want = try GGUFFile(url: TestSupport.fixture("gguf/smollm2/adapter.gguf"))
        XCTAssertEqual(got.metadata.keys, want.metadata.keys)
        XCTAssertEqual(got.metadata.keys, ["general.architecture", "general.type", "adapter.type", "adapter.lora.alpha"])
        for k in want.metadata.keys { XCTAssertEqual(got.metadata[k], want.metadata[k], k) }
        XCTAssertEqual(got.names, want.names, "tensor names in the converter's order")
        XCTAssertEqual(got.tensors.count, 420)
        var worst: Float = 0
        for t in want.tensors {
            let g = try XCTUnwrap(got.info(t.name))
            XCTAssertEqual(g.dims, t.dims, t.name)
            XCTAssertEqual(g.type, .f32, t.name)
            worst = max(worst, try got.tensor(t.name).maxAbsDifference(want.tensor(t.name)))
        }
        let same = try Data(contentsOf: url) == Data(contentsOf: TestSupport.fixture("gguf/smollm2/adapter.gguf"))
        print("fixtures/gguf/smollm2/adapter.gguf: tensors max abs difference \(worst); file byte-identical: \(same)")
        XCTAssertLessThanOrEqual(worst, 1e-6)
    }

    func testReadingTheConvertersFileGivesPEFTsTensors() throws {
        let peft = try fixtureAdapter()
        let back = try GGUFLoRA.read(TestSupport.fixture("gguf/smollm2/adapter.gguf"), base: Self.smolLM2)
        XCTAssertEqual(back.sites, peft.sites)
        XCTAssertEqual(back.rank, 4)
        XCTAssertEqual(back.scaling, peft.scaling)
        var worst: Float = 0
        for s in peft.sites {
            worst = max(worst, back.weights[s]!.a.maxAbsDifference(peft.weights[s]!.a), back.weights[s]!.b.maxAbsDifference(peft.weights[s]!.b))
        }
        print("fixtures/gguf/smollm2/adapter.gguf read back: A and B max abs difference to PEFT \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-6)
        XCTAssertEqual(try GGUFLoRA.check(TestSupport.fixture("gguf/smollm2/adapter.gguf")), Set(peft.sites))
    }

    /// Only llama's q/k `lora_b` rows move; everything else is PEFT's tensor.
    func testOnlyLlamaQKRowsArePermuted() throws {
        let peft = try fixtureAdapter()
        let llama = try GGUFLoRA.writer(for: peft, base: Self.smolLM2)
        let qwen = try GGUFLoRA.writer(for: peft, base: GGUFLoRABase(architecture: "qwen2", heads: 9, kvHeads: 3))
        let site = LoRASite(layer: 3, module: .q_proj)
        func tensor(_ w: GGUFWriter, _ name: String) -> Tensor { w.tensors.first { $0.name == name }!.tensor }
        let qB = GGUFLoRA.tensorName(site, "B")
        XCTAssertEqual(tensor(qwen, qB), peft.weights[site]!.b, "qwen2: not permuted")
        XCTAssertEqual(tensor(llama, qB), RotaryRows.permute(peft.weights[site]!.b, heads: 9))
        XCTAssertNotEqual(tensor(llama, qB), peft.weights[site]!.b)
        let kSite = LoRASite(layer: 3, module: .k_proj)
        XCTAssertEqual(tensor(llama, GGUFLoRA.tensorName(kSite, "B")), RotaryRows.permute(peft.weights[kSite]!.b, heads: 3), "k uses the KV heads")
        for m in [LoRAModule.v_proj, .o_proj, .up_proj, .gate_proj, .down_proj] {
            let s = LoRASite(layer: 3, module: m)
            XCTAssertEqual(tensor(llama, GGUFLoRA.tensorName(s, "B")), peft.weights[s]!.b, m.rawValue)
        }
        XCTAssertEqual(tensor(llama, GGUFLoRA.tensorName(site, "A")), peft.weights[site]!.a, "lora_a is never permuted")
    }

    func testAQwen2AdapterRoundTripsUnpermuted() throws {
        let peft = try LoRAAdapter(folder: TestSupport.fixture("tiny-qwen2/adapter"))
        let url = TestSupport.temporaryDirectory().appendingPathComponent("adapter.gguf")
        try GGUFLoRA.write(peft, base: Self.tinyQwen2, to: url)
        let file = try GGUFFile(url: url)
        XCTAssertEqual(try file.architecture, "qwen2")
        for s in peft.sites {
            XCTAssertEqual(try file.tensor(GGUFLoRA.tensorName(s, "B")), peft.weights[s]!.b, "\(s)")
            XCTAssertEqual(try file.tensor(GGUFLoRA.tensorName(s, "A")), peft.weights[s]!.a, "\(s)")
        }
        XCTAssertThrowsError(try GGUFLoRA.read(url, base: Self.smolLM2)) {
            XCTAssertTrue("\($0)".contains("the adapter is for a qwen2 model but the base model is llama"), "\($0)")
        }
    }

    /// GGUF LoRA → deltas equals the PEFT deltas, for plain LoRA and for rsLoRA (whose alpha is rescaled by √r).
    func testRoundTripDeltasEqualPEFTs() throws {
        var peft = try fixtureAdapter()
        for rslora in [false, true] {
            peft.config.useRslora = rslora
            let url = TestSupport.temporaryDirectory().appendingPathComponent("adapter.gguf")
            try GGUFLoRA.write(peft, base: Self.smolLM2, to: url)
            let alpha = try GGUFFile(url: url).metadata.float("adapter.lora.alpha")
            XCTAssertEqual(alpha, rslora ? 8 * 2 : 8, "alpha·√r for rsLoRA (r = 4)")
            let back = try GGUFLoRA.read(url, base: Self.smolLM2)
            XCTAssertFalse(back.config.useRslora)
            let want = deltas(peft), got = deltas(back)
            var worst: Float = 0
            for s in peft.sites { worst = max(worst, got[s]!.maxAbsDifference(want[s]!)) }
            print("GGUF LoRA → deltas vs PEFT deltas (rsLoRA \(rslora)): max abs difference \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-6)
        }
    }

    func testRefusals() throws {
        let dir = TestSupport.temporaryDirectory()
        let model = TestSupport.fixture("gguf/tiny-llama/tiny-llama.gguf")
        XCTAssertThrowsError(try GGUFLoRA.read(model, base: Self.smolLM2)) { XCTAssertTrue("\($0)".contains("not a GGUF LoRA adapter"), "\($0)") }
        XCTAssertThrowsError(try GGUFLoRA.check(model)) { XCTAssertTrue("\($0)".contains("not a GGUF LoRA adapter"), "\($0)") }
        // A pair without its lora_b.
        let w = try GGUFLoRA.writer(for: try fixtureAdapter(), base: Self.smolLM2)
        var half = GGUFWriter()
        for (k, v) in w.metadata.entries { half.set(k, v) }
        for t in w.tensors where t.name != "blk.0.attn_q.weight.lora_b" { try half.addTensor(t.name, t.tensor) }
        let url = dir.appendingPathComponent("half.gguf")
        try half.write(to: url)
        XCTAssertThrowsError(try GGUFLoRA.check(url)) { XCTAssertTrue("\($0)".contains("do not pair up"), "\($0)") }
        XCTAssertThrowsError(try GGUFLoRA.read(url, base: Self.smolLM2)) { XCTAssertTrue("\($0)".contains("blk.0.attn_q.weight.lora_b is missing"), "\($0)") }
        // Heads that do not divide the rows are refused, not permuted wrongly.
        XCTAssertThrowsError(try GGUFLoRA.writer(for: try fixtureAdapter(), base: GGUFLoRABase(architecture: "llama", heads: 7, kvHeads: 3))) {
            XCTAssertTrue("\($0)".contains("do not split into 7 heads"), "\($0)")
        }
    }

    func testTensorNames() {
        let s = LoRASite(layer: 12, module: .o_proj)
        XCTAssertEqual(GGUFLoRA.tensorName(s, "A"), "blk.12.attn_output.weight.lora_a")
        XCTAssertEqual(GGUFLoRA.parse(name: "blk.12.attn_output.weight.lora_b")?.site, s)
        XCTAssertEqual(GGUFLoRA.parse(name: "blk.12.attn_output.weight.lora_b")?.matrix, "B")
        XCTAssertNil(GGUFLoRA.parse(name: "blk.12.attn_norm.weight"))
        XCTAssertNil(GGUFLoRA.parse(name: "blk.x.attn_q.weight.lora_a"))
        XCTAssertEqual(LoRAModule.allCases.map(\.ggufName), ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_gate", "ffn_down"])
    }
}
