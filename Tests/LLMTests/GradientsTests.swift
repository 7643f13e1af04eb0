import DNDTestSupport
import Foundation
@testable import LLM
import LoRA
import SafeTensors
import TensorCore
import XCTest

/// Loss and every gradient of a training step against PyTorch/PEFT (`tiny-qwen2/train_step`), and finite
/// differences on models the fixture does not cover (Llama with an o_proj bias, tied embeddings, GQA 4:1).
final class GradientsTests: XCTestCase {
    static let folder = TestSupport.fixture("tiny-qwen2")

    func testTrainStepMatchesPyTorch() throws {
        let model = try CausalLM(folder: Self.folder)
        let lora = try model.bind(LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter")))
        let batch = try XCTUnwrap(TestSupport.json(Self.folder.appendingPathComponent("train_step/batch.json")) as? [String: [[Int]]])
        let ref = try XCTUnwrap(TestSupport.json(Self.folder.appendingPathComponent("train_step/loss.json")) as? [String: Any])
        let step = model.transformer.lossAndGradients(inputs: batch["input_ids"]!, labels: batch["labels"]!, lora: lora, trainBase: true)
        let wantLoss = (ref["loss"] as! NSNumber).doubleValue
        print("train_step: loss \(step.loss) vs \(wantLoss) (|Δ| = \(abs(step.loss - wantLoss)))")
        XCTAssertEqual(step.loss, wantLoss, accuracy: 1e-5)
        XCTAssertEqual(step.targets, (ref["num_target_tokens"] as! NSNumber).intValue)
        let want = try SafeTensorsFile(url: Self.folder.appendingPathComponent("train_step/grads.safetensors"))
        let got = step.gradients.named
        XCTAssertEqual(Set(got.keys), Set(want.names))
        XCTAssertEqual(want.names.count, 55)
        var worst: (Float, String) = (0, "")
        for name in want.names {
            let g = try XCTUnwrap(got[name], name), w = try want.tensor(name)
            XCTAssertEqual(g.shape, w.shape, name)
            let e = TestSupport.relativeError(g, w)
            if e > worst.0 { worst = (e, name) }
            XCTAssertLessThan(e, 1e-4, name)
        }
        print("train_step: \(want.names.count) gradients, worst relative error \(worst.0) (\(worst.1))")
    }

    func testLoRAOnlyStepGivesTheSameLoRAGradients() throws {
        let model = try CausalLM(folder: Self.folder)
        let lora = try model.bind(LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter")))
        let batch = try XCTUnwrap(TestSupport.json(Self.folder.appendingPathComponent("train_step/batch.json")) as? [String: [[Int]]])
        let full = model.transformer.lossAndGradients(inputs: batch["input_ids"]!, labels: batch["labels"]!, lora: lora, trainBase: true)
        let only = model.transformer.lossAndGradients(inputs: batch["input_ids"]!, labels: batch["labels"]!, lora: lora, trainBase: false)
        XCTAssertNil(only.gradients.base)
        XCTAssertEqual(only.loss, full.loss, accuracy: 1e-9)
        for (site, g) in full.gradients.lora {
            XCTAssertLessThan(only.gradients.lora[site]!.a.maxAbsDifference(g.a), 1e-7)
            XCTAssertLessThan(only.gradients.lora[site]!.b.maxAbsDifference(g.b), 1e-7)
        }
    }

    func testShardedStepEqualsOneBatch() throws {
        let model = try CausalLM(folder: Self.folder)
        let lora = try model.bind(LoRAAdapter(folder: Self.folder.appendingPathComponent("adapter")))
        var rng = SeededRNG(seed: 2)
        let inputs = [5, 17, 9, 30, 2].map { n in (0..<n).map { _ in rng.int(below: 400) } }
        let labels = inputs.map { s in s.map { rng.uniform() < 0.3 ? -100 : ($0 + 1) % 400 } }
        let one = model.transformer.lossAndGradients(inputs: inputs, labels: labels, lora: lora, trainBase: true, shards: 1)
        for k in [2, 3, 8] {
            let many = model.transformer.lossAndGradients(inputs: inputs, labels: labels, lora: lora, trainBase: true, shards: k)
            XCTAssertEqual(many.loss, one.loss, accuracy: 1e-6)
            XCTAssertEqual(many.targets, one.targets)
            XCTAssertEqual(many.tokens, one.tokens)
            var worst: Float = 0
            for (name, g) in one.gradients.named { worst = max(worst, TestSupport.relativeError(many.gradients.named[name]!, g)) }
            print("\(k) shards vs one batch: worst relative gradient difference \(worst)")
            XCTAssertLessThan(worst, 1e-5)
        }
        XCTAssertEqual(Transformer.partition([5, 17, 9, 30, 2], into: 2), [[3, 4], [0, 1, 2]])   // 32 and 31 tokens
        XCTAssertEqual(Transformer.partition([4], into: 2), [[0]])
    }

    /// Central differences of the loss against the analytic gradient: a few entries of every tensor.
    func testFiniteDifferencesOnTiedLlamaWithBiases() throws {
        let cfg = ModelConfig(architecture: .llama, vocabSize: 300, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2,
                              numAttentionHeads: 4, numKeyValueHeads: 1, tieWordEmbeddings: true, attentionBias: true)
        var rng = SeededRNG(seed: 9)
        var named = ModelWeights.random(config: cfg, std: 0.3, seed: 4).named
        for (k, t) in named where k.hasSuffix(".bias") || k.hasSuffix("norm.weight") {
            named[k] = Tensor.randomNormal(t.shape, mean: k.hasSuffix(".bias") ? 0 : 1, std: 0.2, rng: &rng)
        }
        let model = try CausalLM(config: cfg, weights: ModelWeights(named: named, config: cfg, origin: "test"), tokenizer: BPETrainer.byteLevel())
        var adapterWeights: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for l in 0..<2 {
            for m in [LoRAModule.k_proj, .o_proj, .down_proj] {
                let (i, o) = model.linearShape(layer: l, module: m)
                adapterWeights[LoRASite(layer: l, module: m)] = (Tensor.randomNormal([2, i], std: 0.3, rng: &rng), Tensor.randomNormal([o, 2], std: 0.3, rng: &rng))
            }
        }
        let adapter = LoRAAdapter(config: LoRAConfig(r: 2, loraAlpha: 3, targetModules: [.k_proj, .o_proj, .down_proj], baseModel: nil), weights: adapterWeights)
        let inputs = [[5, 17, 200, 3, 3, 90, 41], [7, 8, 9, 250]]
        let labels = [[17, -100, 3, 3, 90, 41, 12], [-100, 9, 250, 1]]
        let step = model.transformer.lossAndGradients(inputs: inputs, labels: labels, lora: try model.bind(adapter), trainBase: true)
        let grads = step.gradients.named
        func loss(_ t: [String: Tensor], _ a: LoRAAdapter) -> Double {
            let m = try! CausalLM(config: cfg, weights: ModelWeights(named: t, config: cfg, origin: "fd"), tokenizer: model.tokenizer)
            return m.transformer.lossAndGradients(inputs: inputs, labels: labels, lora: try! m.bind(a), trainBase: false).loss
        }
        let h: Float = 1e-2
        var checked = 0
        for name in grads.keys.sorted() {
            let g = grads[name]!
            for idx in [0, g.count / 2, g.count - 1] {
                var plus = named, minus = named
                var ap = adapter, am = adapter
                if let (site, mat) = LoRASite.parse(key: name) {
                    var (a, b) = adapter.weights[site]!
                    if mat == "A" { a[flat: idx] += h } else { b[flat: idx] += h }
                    ap.weights[site] = (a, b)
                    (a, b) = adapter.weights[site]!
                    if mat == "A" { a[flat: idx] -= h } else { b[flat: idx] -= h }
                    am.weights[site] = (a, b)
                } else {
                    plus[name]![flat: idx] += h; minus[name]![flat: idx] -= h
                }
                let numeric = (loss(plus, ap) - loss(minus, am)) / Double(2 * h)
                XCTAssertEqual(Double(g[flat: idx]), numeric, accuracy: 2e-3 + 2e-2 * abs(numeric), "\(name)[\(idx)]")
                checked += 1
            }
        }
        XCTAssertNotNil(grads["model.layers.0.self_attn.o_proj.bias"])
        XCTAssertNil(grads["lm_head.weight"])
        print("finite differences: \(checked) entries of \(grads.count) tensors checked")
    }
}
