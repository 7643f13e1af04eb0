import DNDTestSupport
import Foundation
import LoRA
import SafeTensors
import TensorCore
import XCTest

/// Random adapters and the round-trip tolerance shared by the LoRA tests.
enum LoRATestData {
    /// An adapter with random sites and shapes; some chunk regions are constant so that s = 0 occurs.
    static func randomAdapter(rank r: Int, layers: Int, modules: [LoRAModule], dims: [LoRAModule: (in: Int, out: Int)],
                              constantEvery cw: Int, rng: inout SeededRNG) -> LoRAAdapter {
        var weights: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for l in 0..<layers {
            for m in modules {
                let (i, o) = dims[m]!
                // Scales from 1e-4 to 10 and an offset: real LoRA B matrices are tiny, A matrices O(1).
                let scaleA = pow(10, rng.uniform(-4, 1)), scaleB = pow(10, rng.uniform(-4, 1))
                var a = Tensor.randomNormal([r, i], mean: rng.uniform(-1, 1) * scaleA, std: scaleA, rng: &rng) // [r, in]
                var b = Tensor.randomNormal([o, r], mean: rng.uniform(-1, 1) * scaleB, std: scaleB, rng: &rng) // [out, r]
                // Constant chunks: the first chunk of A (columns 0..<cw) and of Bᵀ (rows 0..<cw of B), now and then.
                if rng.uniform() < 0.3 {
                    let v = rng.normal() * scaleA
                    for row in 0..<r { for c in 0..<min(cw, i) { a[row, c] = v } }
                }
                if rng.uniform() < 0.3 {
                    let v = rng.uniform() < 0.5 ? 0 : rng.normal() * scaleB
                    for row in 0..<min(cw, o) { for c in 0..<r { b[row, c] = v } }
                }
                weights[LoRASite(layer: l, module: m)] = (a, b)
            }
        }
        let cfg = LoRAConfig(r: r, loraAlpha: Float(2 * r), targetModules: modules, baseModel: "random")
        return LoRAAdapter(config: cfg, weights: weights)
    }

    /// max over tensors of `maxAbsError / (1e-6 · maxAbs + 1e-7)`: ≤ 1 passes the fixture README's tolerance.
    static func compare(_ got: LoRAAdapter, _ want: LoRAAdapter, file: StaticString = #filePath, line: UInt = #line) -> (ratio: Float, maxAbs: Float) {
        XCTAssertEqual(Set(got.sites), Set(want.sites), file: file, line: line)
        var ratio: Float = 0, worst: Float = 0
        for s in want.sites {
            guard let g = got.weights[s], let w = want.weights[s] else { continue }
            for (x, y) in [(g.a, w.a), (g.b, w.b)] {
                XCTAssertEqual(x.shape, y.shape, file: file, line: line)
                XCTAssertFalse(x.hasNonFinite, file: file, line: line)
                let d = x.maxAbsDifference(y)
                worst = max(worst, d)
                ratio = max(ratio, d / (1e-6 * y.maxAbs() + 1e-7))
            }
        }
        return (ratio, worst)
    }
}

final class WeightTokenizerTests: XCTestCase {
    let cases: [(adapter: String, tokens: String, index: String, cw: Int)] = [
        ("adapter", "tokens.safetensors", "index.json", 16),
        ("adapter", "tokens_cw20.safetensors", "index_cw20.json", 20),
        ("edge_adapter", "tokens_edge.safetensors", "index_edge.json", 4),
    ]

    func testFixtureTokensAndLayoutMatchReference() throws {
        for c in cases {
            let adapter = try LoRAAdapter(folder: TestSupport.fixture("lora-tokens/\(c.adapter)"))
            var (tokens, layout) = try WeightTokenizer.tokenize(adapter, chunkWidth: c.cw)
            let want = try SafeTensorsFile(url: TestSupport.fixture("lora-tokens/\(c.tokens)")).tensor("tokens")
            XCTAssertEqual(tokens.shape, want.shape, c.tokens)
            let d = tokens.maxAbsDifference(want)
            print("lora-tokens/\(c.tokens): max |tokens − reference| = \(d)")
            XCTAssertLessThanOrEqual(d, 1e-6, c.tokens)
            XCTAssertFalse(tokens.hasNonFinite)

            layout.adapter = c.adapter
            let ours = try JSONSerialization.jsonObject(with: layout.jsonData()) as! NSDictionary
            let theirs = try TestSupport.json(TestSupport.fixture("lora-tokens/\(c.index)")) as! NSDictionary
            XCTAssertEqual(ours, theirs, "layout JSON differs from \(c.index)")
            // And the fixture index decodes to the same layout, with the site shapes recovered from the widths.
            XCTAssertEqual(try TokenLayout.load(from: TestSupport.fixture("lora-tokens/\(c.index)")), layout)
        }
    }

    func testFixtureTokensDetokenizeToTheAdapter() throws {
        for c in cases {
            let adapter = try LoRAAdapter(folder: TestSupport.fixture("lora-tokens/\(c.adapter)"))
            let layout = try TokenLayout.load(from: TestSupport.fixture("lora-tokens/\(c.index)"))
            let stored = try SafeTensorsFile(url: TestSupport.fixture("lora-tokens/\(c.tokens)")).tensor("tokens")
            let back = try WeightTokenizer.detokenize(stored, layout: layout, config: adapter.config)
            let (ratio, worst) = LoRATestData.compare(back, adapter)
            print("lora-tokens/\(c.tokens) → adapter: max abs error \(worst), worst error / tolerance \(ratio)")
            XCTAssertLessThanOrEqual(ratio, 1, c.tokens)
            XCTAssertEqual(back.config.r, adapter.config.r)
            XCTAssertEqual(back.scaling, adapter.scaling)
        }
    }

    /// Seeded: random ranks 1–64, widths, chunk widths (odd included), module subsets, constant and
    /// single-element chunks round-trip adapter → tokens → adapter within the README's tolerance.
    func testRandomRoundTrip() throws {
        var rng = SeededRNG(seed: 0xD0D)
        var worstRatio: Float = 0, worstAbs: Float = 0
        var zeroStd = 0, single = 0, narrow = 0, oddWidths = 0
        for trial in 0..<60 {
            let r = trial % 5 == 0 ? 1 : (trial % 7 == 0 ? 64 : 1 + rng.int(below: 64))
            let cw = 1 + rng.int(below: 40)
            if cw % 2 == 1 { oddWidths += 1 }
            var modules = LoRAModule.allCases.filter { _ in rng.uniform() < 0.5 }
            if modules.isEmpty { modules = [LoRAModule.allCases[rng.int(below: 7)]] }
            var dims: [LoRAModule: (in: Int, out: Int)] = [:]
            for m in modules {
                // Widths of k·cw + 1 give single-column chunks (single elements at rank 1).
                let i = rng.uniform() < 0.3 ? cw * (1 + rng.int(below: 3)) + 1 : 1 + rng.int(below: 150)
                let o = rng.uniform() < 0.3 ? cw * (1 + rng.int(below: 3)) + 1 : 1 + rng.int(below: 150)
                dims[m] = (i, o)
            }
            let adapter = LoRATestData.randomAdapter(rank: r, layers: 1 + rng.int(below: 3), modules: modules, dims: dims, constantEvery: cw, rng: &rng)
            let (tokens, layout) = try WeightTokenizer.tokenize(adapter, chunkWidth: cw)
            XCTAssertEqual(tokens.shape, [layout.count, r + 2, cw + 2])
            XCTAssertFalse(tokens.hasNonFinite)
            // Count the edge cases this trial exercised (s = 0 shows as S = ln(0.1) + 1.6 in float).
            let sZero = Float(log(0.1) + 1.6)
            for (t, tok) in layout.tokens.enumerated() {
                if tok.width < cw { narrow += 1 }
                if r * tok.width == 1 { single += 1 }
                if tokens[t, r, 1] == sZero { zeroStd += 1 }
            }
            let back = try WeightTokenizer.detokenize(tokens, layout: layout, config: adapter.config)
            let (ratio, worst) = LoRATestData.compare(back, adapter)
            XCTAssertLessThanOrEqual(ratio, 1, "trial \(trial): r \(r) cw \(cw) modules \(modules)")
            worstRatio = max(worstRatio, ratio); worstAbs = max(worstAbs, worst)
        }
        print("random round trip (60 adapters): max abs error \(worstAbs), worst error / tolerance \(worstRatio); \(zeroStd) zero-std, \(single) single-element, \(narrow) narrow chunks, \(oddWidths) odd chunk widths")
        XCTAssertGreaterThan(zeroStd, 0); XCTAssertGreaterThan(single, 0); XCTAssertGreaterThan(narrow, 0); XCTAssertGreaterThan(oddWidths, 0)
    }

    /// A token written by hand from the formulas of DESIGN.md, odd chunk width, narrow chunk.
    func testTokenMatchesTheFormulaByHand() throws {
        // r = 2, in = 3, cw = 5: one A token of width 3; B [1, 2] → Bᵀ [2, 1]: one token of width 1.
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [1, 2], data: [7, 7])
        let site = LoRASite(layer: 0, module: .v_proj)
        let adapter = LoRAAdapter(config: LoRAConfig(r: 2, loraAlpha: 4, targetModules: [.v_proj], baseModel: nil), weights: [site: (a, b)])
        let (tokens, layout) = try WeightTokenizer.tokenize(adapter, chunkWidth: 5)
        XCTAssertEqual(tokens.shape, [2, 4, 7])
        let m = 3.5, s = (17.5 / 5).squareRoot()
        let bigM = Float(8 * m), bigS = Float(log(0.9 * s + 0.1) + 1.6)
        for i in 0..<2 { for j in 0..<3 { XCTAssertEqual(tokens[0, i, j], Float((Double(3 * i + j + 1) - m) / s), accuracy: 1e-6) } }
        for i in 0..<2 { for j in 3..<5 { XCTAssertEqual(tokens[0, i, j], 0) } }
        for i in 0..<2 { XCTAssertEqual(tokens[0, i, 5], bigM); XCTAssertEqual(tokens[0, i, 6], bigS) }
        for i in 2..<4 { for j in 0..<7 { XCTAssertEqual(tokens[0, i, j], j % 2 == 0 ? bigM : bigS) } }
        // The constant Bᵀ chunk: zeros, M = 56, S = ln(0.1) + 1.6.
        XCTAssertEqual(tokens[1, 0, 0], 0); XCTAssertEqual(tokens[1, 1, 0], 0)
        XCTAssertEqual(tokens[1, 3, 4], 56); XCTAssertEqual(tokens[1, 2, 5], Float(log(0.1) + 1.6))
        XCTAssertEqual(layout.tokens.map(\.matrix), [.A, .B])
        let back = try WeightTokenizer.detokenize(tokens, layout: layout, config: adapter.config)
        XCTAssertEqual(back.weights[site]!.b.array, [7, 7])
    }

    func testBatchTokenizeEqualsOneByOne() throws {
        var rng = SeededRNG(seed: 7)
        let dims: [LoRAModule: (in: Int, out: Int)] = [.q_proj: (24, 24), .down_proj: (40, 24)]
        let zoo = (0..<3).map { _ in LoRATestData.randomAdapter(rank: 3, layers: 2, modules: [.q_proj, .down_proj], dims: dims, constantEvery: 7, rng: &rng) }
        let layout = try TokenLayout(adapter: zoo[0], chunkWidth: 7)
        let batch = try WeightTokenizer.tokenize(zoo, layout: layout)
        XCTAssertEqual(batch.shape, [3] + layout.shape)
        for (k, a) in zoo.enumerated() { XCTAssertEqual(batch.row(k), try WeightTokenizer.tokenize(a, layout: layout)) }
    }

    func testGeneratorLikeTokensDecodeWithoutNaN() throws {
        let adapter = try LoRAAdapter(folder: TestSupport.fixture("lora-tokens/edge_adapter"))
        var (tokens, layout) = try WeightTokenizer.tokenize(adapter, chunkWidth: 4)
        let cfg = adapter.config
        // Noisy copies of M and S: the inverse averages them.
        var rng = SeededRNG(seed: 3)
        var noisy = tokens
        for i in 0..<noisy.count { noisy[flat: i] += 1e-3 * rng.normal() }
        let fromNoisy = try WeightTokenizer.detokenize(noisy, layout: layout, config: cfg)
        XCTAssertLessThan(LoRATestData.compare(fromNoisy, adapter).maxAbs, 0.1)
        // S far below ln(0.1) + 1.6 means a negative s: clamped to 0, the chunk decodes to its mean.
        for j in 0..<6 where j % 2 == 1 { tokens[0, 1, j] = -5; tokens[0, 2, j] = -5 }
        tokens[0, 0, 5] = -5
        let clamped = try WeightTokenizer.detokenize(tokens, layout: layout, config: cfg)
        let q = clamped.weights[LoRASite(layer: 0, module: .q_proj)]!.a // [1, 9]
        let m = tokens[0, 0, 4] / 8
        for j in 0..<4 { XCTAssertEqual(q[0, j], m) }
        XCTAssertFalse(clamped.weights.values.contains { $0.a.hasNonFinite || $0.b.hasNonFinite })
    }

    func testDetokenizeRejectsWrongShapesAndUnusableTokens() throws {
        let adapter = try LoRAAdapter(folder: TestSupport.fixture("lora-tokens/edge_adapter"))
        let (tokens, layout) = try WeightTokenizer.tokenize(adapter, chunkWidth: 4)
        XCTAssertThrowsError(try WeightTokenizer.detokenize(Tensor(zeros: [32, 3, 7]), layout: layout, config: adapter.config)) {
            XCTAssertTrue("\($0)".contains("[32, 3, 7]") && "\($0)".contains("[32, 3, 6]"), "\($0)")
        }
        XCTAssertThrowsError(try WeightTokenizer.detokenize(tokens.slice(0..<31), layout: layout, config: adapter.config)) {
            XCTAssertTrue("\($0)".contains("expects [32, 3, 6]"), "\($0)")
        }
        var cfg4 = adapter.config; cfg4.r = 4
        XCTAssertThrowsError(try WeightTokenizer.detokenize(tokens, layout: layout, config: cfg4)) { XCTAssertTrue("\($0)".contains("r = 4"), "\($0)") }
        var nan = tokens; nan[5, 0, 1] = .nan
        XCTAssertThrowsError(try WeightTokenizer.detokenize(nan, layout: layout, config: adapter.config)) {
            XCTAssertTrue("\($0)".contains("token 5") && "\($0)".contains("v_proj.lora_A") && "\($0)".contains("NaN"), "\($0)")
        }
        var huge = tokens
        for j in 0..<6 where j % 2 == 1 { huge[9, 1, j] = 1000; huge[9, 2, j] = 1000 }
        huge[9, 0, 5] = 1000
        XCTAssertThrowsError(try WeightTokenizer.detokenize(huge, layout: layout, config: adapter.config)) {
            XCTAssertTrue("\($0)".contains("token 9") && "\($0)".contains("beyond Float32 range"), "\($0)")
        }
        // Tokenizing into a layout the adapter does not fit names the tensor.
        let other = try TokenLayout(rank: 1, chunkWidth: 4, sites: [(LoRASite(layer: 0, module: .q_proj), in: 10, out: 8)])
        XCTAssertThrowsError(try WeightTokenizer.tokenize(adapter, layout: other)) {
            XCTAssertTrue("\($0)".contains(adapter.origin) && "\($0)".contains("not part of the token layout"), "\($0)")
        }
    }

    func testTokenizeRefusesNonFiniteWeights() throws {
        let site = LoRASite(layer: 2, module: .gate_proj)
        var a = Tensor(zeros: [2, 5]); a[1, 3] = .infinity
        let adapter = LoRAAdapter(config: LoRAConfig(r: 2, loraAlpha: 2, targetModules: [.gate_proj], baseModel: nil),
                                  weights: [site: (a, Tensor(zeros: [3, 2]))], folder: URL(fileURLWithPath: "/zoo/bad"))
        XCTAssertThrowsError(try WeightTokenizer.tokenize(adapter, chunkWidth: 4)) {
            XCTAssertTrue("\($0)".contains("/zoo/bad") && "\($0)".contains(site.key("A")) && "\($0)".contains("infinite"), "\($0)")
        }
        let layout = try TokenLayout(rank: 2, chunkWidth: 4, sites: [(site, in: 5, out: 3)])
        XCTAssertThrowsError(try WeightTokenizer.tokenize([adapter], layout: layout)) { XCTAssertTrue("\($0)".contains(site.key("A")), "\($0)") }
    }

    func testDetokenizedAdapterWritesAndReloadsBitForBit() throws {
        let adapter = try LoRAAdapter(folder: TestSupport.fixture("lora-tokens/adapter"))
        let (tokens, layout) = try WeightTokenizer.tokenize(adapter, chunkWidth: 20)
        let back = try WeightTokenizer.detokenize(tokens, layout: layout, config: adapter.config)
        let dir = TestSupport.temporaryDirectory()
        try back.write(to: dir.appendingPathComponent("f32"))
        try back.write(to: dir.appendingPathComponent("bf16"), dtype: .bf16)
        let f32 = try LoRAAdapter(folder: dir.appendingPathComponent("f32"))
        let bf16 = try LoRAAdapter(folder: dir.appendingPathComponent("bf16"))
        XCTAssertEqual(f32.config, back.config)
        for s in back.sites {
            XCTAssertEqual(f32.weights[s]!.a, back.weights[s]!.a); XCTAssertEqual(f32.weights[s]!.b, back.weights[s]!.b)
            let rounded = back.weights[s]!.a.map { HalfFloat.bf16ToFloat(HalfFloat.floatToBF16($0)) }
            XCTAssertEqual(bf16.weights[s]!.a, rounded)
        }
        XCTAssertEqual(try SafeTensorsFile(url: dir.appendingPathComponent("bf16/adapter_model.safetensors")).tensors.first?.dtype, .bf16)
    }
}
