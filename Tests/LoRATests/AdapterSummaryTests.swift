import DNDTestSupport
import Foundation
import LoRA
import TensorCore
import XCTest

final class AdapterSummaryTests: XCTestCase {
    /// Norms through the Gram matrices against ΔW formed explicitly with the plain-loop GEMM.
    func testNormsMatchExplicitDeltaW() throws {
        let folder = TestSupport.fixture("lora-tokens/adapter")
        let adapter = try LoRAAdapter(folder: folder)
        let summary = try AdapterSummary(folder: folder)
        XCTAssertEqual(summary.rank, 4); XCTAssertEqual(summary.loraAlpha, 8); XCTAssertEqual(summary.scaling, 2)
        XCTAssertEqual(summary.dtypes, ["F32"]); XCTAssertEqual(summary.layers, [0, 1]); XCTAssertEqual(summary.siteCount, 14)
        XCTAssertEqual(summary.modules.map(\.module), LoRAModule.allCases)
        var worst = 0.0
        for m in summary.modules {
            var a2 = 0.0, b2 = 0.0, d2 = 0.0
            for s in adapter.sites where s.module == m.module {
                let (a, b) = adapter.weights[s]!
                let out = b.shape[0], inF = a.shape[1], r = a.shape[0]
                var delta = [Float](repeating: 0, count: out * inF) // [out, in]
                delta.withUnsafeMutableBufferPointer { BLAS.referenceGemm(m: out, n: inF, k: r, alpha: adapter.scaling, a: b.pointer, lda: r, b: a.pointer, ldb: inF, c: $0.baseAddress!, ldc: inF) }
                a2 += a.array.reduce(0) { $0 + Double($1) * Double($1) }
                b2 += b.array.reduce(0) { $0 + Double($1) * Double($1) }
                d2 += delta.reduce(0) { $0 + Double($1) * Double($1) }
            }
            for (got, want) in [(m.normA, a2.squareRoot()), (m.normB, b2.squareRoot()), (m.normDelta, d2.squareRoot())] {
                worst = max(worst, abs(got - want) / want)
            }
            XCTAssertEqual(m.layers, [0, 1])
        }
        print("adapter summary norms vs explicit ΔW: max relative difference \(worst)")
        XCTAssertLessThan(worst, 1e-5)
        XCTAssertTrue(summary.text.contains("rank 4, lora_alpha 8, scaling 2 (lora_alpha/r), dtype F32"), summary.text)
    }

    func testRsLoRAScalingAndZeroB() throws {
        let site = LoRASite(layer: 3, module: .o_proj)
        var rng = SeededRNG(seed: 5)
        let cfg = LoRAConfig(r: 16, loraAlpha: 8, targetModules: [.o_proj], useRslora: true, baseModel: "m")
        let adapter = LoRAAdapter(config: cfg, weights: [site: (Tensor.randomNormal([16, 10], rng: &rng), Tensor(zeros: [12, 16]))])
        let s = AdapterSummary(adapter: adapter)
        XCTAssertEqual(s.scaling, 2)
        XCTAssertEqual(s.modules[0].normDelta, 0) // B is zero at initialisation: the adapter changes nothing.
        XCTAssertEqual(s.parameterCount, 16 * 10 + 12 * 16)
        XCTAssertTrue(s.text.contains("rsLoRA") && s.text.contains("layer 3,"), s.text)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(s)) as! [String: Any]
        XCTAssertEqual(json["lora_alpha"] as? Double, 8)
        XCTAssertNotNil((json["modules"] as? [[String: Any]])?.first?["norm_delta"])
    }
}
