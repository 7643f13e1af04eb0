import DNDTestSupport
import Foundation
@testable import LLM
import SafeTensors
import TensorCore
import XCTest

/// Llama (no q/k/v bias), tied embeddings, BF16/F16 and sharded weights: tiny models built here, checked against a
/// plain-loop Double-precision reference of the forward pass.
final class ModelLoadingTests: XCTestCase {
    static let tokenizerJSON = TestSupport.fixture("tiny-qwen2/tokenizer.json")

    /// A tiny model folder with random weights stored as `dtype`; returns the folder and the weights as stored
    /// (rounded to `dtype`, in F32).
    func makeModel(_ config: ModelConfig, dtype: DType, seed: UInt64, sharded: Bool = false) throws -> (URL, [String: Tensor]) {
        let dir = TestSupport.temporaryDirectory("dnd-llm")
        let enc = JSONEncoder()
        try enc.encode(config).write(to: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: Self.tokenizerJSON, to: dir.appendingPathComponent("tokenizer.json"))
        var named = ModelWeights.random(config: config, std: 0.2, seed: seed).named
        var rng = SeededRNG(seed: seed + 1)
        for (k, t) in named where k.hasSuffix("norm.weight") || k.hasSuffix(".bias") {
            named[k] = Tensor.randomNormal(t.shape, mean: k.hasSuffix(".bias") ? 0 : 1, std: 0.1, rng: &rng)
        }
        if sharded {
            let keys = named.keys.sorted()
            let half = keys.count / 2
            var map: [String: String] = [:]
            for (i, part) in [Array(keys[..<half]), Array(keys[half...])].enumerated() {
                let file = "model-0000\(i + 1)-of-00002.safetensors"
                var t: [String: Tensor] = [:]
                for k in part { t[k] = named[k]; map[k] = file }
                try SafeTensorsWriter.write(t, to: dir.appendingPathComponent(file), dtype: dtype)
            }
            try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map]).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        } else {
            try SafeTensorsWriter.write(named, to: dir.appendingPathComponent("model.safetensors"), dtype: dtype)
        }
        // What the file holds, read back as F32 (the rounding the reference must see too).
        var stored: [String: Tensor] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) where f.hasSuffix(".safetensors") {
            let file = try SafeTensorsFile(url: dir.appendingPathComponent(f))
            for t in file.tensors { stored[t.name] = try file.tensor(t.name) }
        }
        return (dir, stored)
    }

    func llamaConfig(tied: Bool) -> ModelConfig {
        ModelConfig(architecture: .llama, vocabSize: 400, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 2,
                    numAttentionHeads: 4, numKeyValueHeads: 1, rmsNormEps: 1e-5, ropeTheta: 500, tieWordEmbeddings: tied,
                    attentionBias: false, eosTokenIds: [397])
    }

    func check(_ folder: URL, stored: [String: Tensor], config: ModelConfig, label: String) throws {
        let model = try CausalLM(folder: folder)
        XCTAssertEqual(model.config, try ModelConfig.load(folder: folder))
        let ids = [398, 12, 77, 5, 300, 220, 41, 9, 399]
        let got = try model.logits(ids, adapter: nil)
        let want = ReferenceForward.logits(ids, weights: stored, config: config)
        let d = got.maxAbsDifference(want)
        print("\(label): max |logits − Double reference| = \(d) (max |logit| \(want.maxAbs()))")
        XCTAssertLessThan(d, 1e-4, label)
    }

    func testLlamaWithoutBiasesTiedAndBF16() throws {
        let cfg = llamaConfig(tied: true)
        let (dir, stored) = try makeModel(cfg, dtype: .bf16, seed: 11)
        XCTAssertNil(stored["lm_head.weight"])
        XCTAssertNil(stored["model.layers.0.self_attn.q_proj.bias"])
        XCTAssertEqual(try SafeTensorsFile(url: dir.appendingPathComponent("model.safetensors")).tensors.first?.dtype, .bf16)
        try check(dir, stored: stored, config: cfg, label: "tiny Llama, tied, BF16")
        XCTAssertNil(try CausalLM(folder: dir).weights.lmHead, "tied embeddings reuse embed_tokens")
    }

    func testLlamaF16Sharded() throws {
        let cfg = llamaConfig(tied: false)
        let (dir, stored) = try makeModel(cfg, dtype: .f16, seed: 12, sharded: true)
        try check(dir, stored: stored, config: cfg, label: "tiny Llama, untied, F16, 2 shards")
    }

    func testQwen2F32MatchesReferenceAndBorrowsTheMapping() throws {
        let cfg = ModelConfig(architecture: .qwen2, vocabSize: 400, hiddenSize: 32, intermediateSize: 40, numHiddenLayers: 3,
                              numAttentionHeads: 2, numKeyValueHeads: 2, tieWordEmbeddings: true, eosTokenIds: [397])
        let (dir, stored) = try makeModel(cfg, dtype: .f32, seed: 13)
        try check(dir, stored: stored, config: cfg, label: "tiny Qwen2, tied, F32")
        let fixture = try CausalLM(folder: TestSupport.fixture("tiny-qwen2"))
        // F32 weights are borrowed from the file mapping, not copied.
        XCTAssertNotNil(fixture.weights.layers[0].q.storageOwnerForTests)
    }

    func testSanitizeDropsQuirks() throws {
        let cfg = llamaConfig(tied: true)
        var named = ModelWeights.random(config: cfg, seed: 1).named
        named["lm_head.weight"] = named["model.embed_tokens.weight"]
        named["model.layers.0.self_attn.rotary_emb.inv_freq"] = Tensor(zeros: [4])
        let clean = CausalLM.sanitize(weights: named, config: cfg)
        XCTAssertNil(clean["lm_head.weight"])
        XCTAssertNil(clean["model.layers.0.self_attn.rotary_emb.inv_freq"])
        XCTAssertNoThrow(try ModelWeights(named: clean, config: cfg, origin: "test"))
    }

    func testBadFoldersGiveClearErrors() throws {
        let cfg = llamaConfig(tied: false)
        let (dir, _) = try makeModel(cfg, dtype: .f32, seed: 3)
        // A missing tensor is named.
        let file = try SafeTensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        var t = try file.allTensors()
        t["model.layers.1.mlp.up_proj.weight"] = nil
        try SafeTensorsWriter.write(t, to: dir.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try CausalLM(folder: dir)) { XCTAssertTrue("\($0)".contains("model.layers.1.mlp.up_proj.weight"), "\($0)") }
        // A wrong shape is named with both shapes.
        t["model.layers.1.mlp.up_proj.weight"] = Tensor(zeros: [47, 32])
        try SafeTensorsWriter.write(t, to: dir.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try CausalLM(folder: dir)) { XCTAssertTrue("\($0)".contains("[47, 32]") && "\($0)".contains("[48, 32]"), "\($0)") }
        // Unsupported architecture.
        try #"{"architectures": ["BertModel"], "vocab_size": 10}"#.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CausalLM(folder: dir)) { XCTAssertTrue("\($0)".contains("BertModel") && "\($0)".contains("config.json"), "\($0)") }
        // No config at all.
        XCTAssertThrowsError(try CausalLM(folder: TestSupport.temporaryDirectory())) { XCTAssertTrue("\($0)".contains("no config.json"), "\($0)") }
    }

    func testConfigReadsRopeParametersAndRefusesScaling() throws {
        let cfg = try ModelConfig.load(folder: TestSupport.fixture("tiny-qwen2"))
        XCTAssertEqual(cfg.ropeTheta, 10000)
        XCTAssertEqual(cfg.eosTokenIds, [397])
        let json = #"{"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "rope_scaling": {"rope_type": "llama3", "factor": 8}}"#
        XCTAssertThrowsError(try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))) { XCTAssertTrue("\($0)".contains("llama3"), "\($0)") }
    }
}

extension Tensor {
    /// Whether the storage is borrowed from someone else (a file mapping).
    var storageOwnerForTests: AnyObject? { TensorStorageProbe.owner(self) }
}

/// Reads a tensor's storage owner through `Tensor(shape:storage:)`'s public parts.
enum TensorStorageProbe {
    static func owner(_ t: Tensor) -> AnyObject? {
        Mirror(reflecting: t).children.first { $0.label == "storage" }.flatMap { ($0.value as? TensorStorage)?.owner }
    }
}

/// The forward pass written out with plain loops in Double, straight from the fixture README's formulas.
enum ReferenceForward {
    static func logits(_ ids: [Int], weights w: [String: Tensor], config c: ModelConfig) -> Tensor {
        let t = ids.count, hd = c.headDim
        func mat(_ name: String) -> [[Double]] {
            let x = w[name]!
            return (0..<x.shape[0]).map { i in (0..<x.shape[1]).map { Double(x[i, $0]) } }
        }
        func vec(_ name: String) -> [Double]? { w[name].map { x in (0..<x.count).map { Double(x[flat: $0]) } } }
        func linear(_ x: [[Double]], _ name: String) -> [[Double]] {
            let m = mat(name + ".weight"), b = vec(name + ".bias")
            return x.map { row in m.indices.map { o in zip(m[o], row).reduce(b?[o] ?? 0) { $0 + $1.0 * $1.1 } } }
        }
        func rms(_ x: [[Double]], _ name: String) -> [[Double]] {
            let g = vec(name)!
            return x.map { row in
                let r = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(row.count) + Double(c.rmsNormEps)).squareRoot()
                return row.indices.map { row[$0] * r * g[$0] }
            }
        }
        func rope(_ x: inout [[Double]], heads: Int) {
            for p in 0..<t {
                for hh in 0..<heads {
                    for i in 0..<(hd / 2) {
                        let ang = Double(p) * pow(Double(c.ropeTheta), -2 * Double(i) / Double(hd))
                        let a = x[p][hh * hd + i], b = x[p][hh * hd + i + hd / 2]
                        x[p][hh * hd + i] = a * cos(ang) - b * sin(ang)
                        x[p][hh * hd + i + hd / 2] = b * cos(ang) + a * sin(ang)
                    }
                }
            }
        }
        let emb = mat("model.embed_tokens.weight")
        var x = ids.map { emb[$0] }
        for l in 0..<c.numHiddenLayers {
            let p = "model.layers.\(l)."
            let a = rms(x, p + "input_layernorm.weight")
            var q = linear(a, p + "self_attn.q_proj"), k = linear(a, p + "self_attn.k_proj")
            let v = linear(a, p + "self_attn.v_proj")
            rope(&q, heads: c.numAttentionHeads); rope(&k, heads: c.numKeyValueHeads)
            var ctx = [[Double]](repeating: [Double](repeating: 0, count: c.qWidth), count: t)
            for hh in 0..<c.numAttentionHeads {
                let kv = hh / c.groupSize
                for i in 0..<t {
                    var s = (0...i).map { j in (0..<hd).reduce(0.0) { $0 + q[i][hh * hd + $1] * k[j][kv * hd + $1] } / Double(hd).squareRoot() }
                    let mx = s.max()!
                    s = s.map { exp($0 - mx) }
                    let z = s.reduce(0, +)
                    for j in 0...i { for d in 0..<hd { ctx[i][hh * hd + d] += s[j] / z * v[j][kv * hd + d] } }
                }
            }
            let o = linear(ctx, p + "self_attn.o_proj")
            x = x.indices.map { i in x[i].indices.map { x[i][$0] + o[i][$0] } }
            let m = rms(x, p + "post_attention_layernorm.weight")
            let g = linear(m, p + "mlp.gate_proj"), u = linear(m, p + "mlp.up_proj")
            let hmid = g.indices.map { i in g[i].indices.map { g[i][$0] / (1 + exp(-g[i][$0])) * u[i][$0] } }
            let d = linear(hmid, p + "mlp.down_proj")
            x = x.indices.map { i in x[i].indices.map { x[i][$0] + d[i][$0] } }
        }
        let f = rms(x, "model.norm.weight")
        let head = mat(w["lm_head.weight"] != nil ? "lm_head.weight" : "model.embed_tokens.weight")
        var out = Tensor(zeros: [t, c.vocabSize])
        for i in 0..<t { for vv in 0..<c.vocabSize { out[i, vv] = Float(zip(head[vv], f[i]).reduce(0) { $0 + $1.0 * $1.1 }) } }
        return out
    }
}
