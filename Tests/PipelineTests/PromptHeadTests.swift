import DNDTestSupport
import Foundation
import LoRA
import Pipeline
import SafeTensors
import TensorCore
import XCTest

/// The prompt head: kernel ridge regression from mean prompt embeddings to the datasets' residual adapters.
final class PromptHeadTests: XCTestCase {
    let site0 = LoRASite(layer: 0, module: .q_proj), site1 = LoRASite(layer: 1, module: .q_proj)
    let config = LoRAConfig(r: 2, loraAlpha: 4, targetModules: [.q_proj], baseModel: "x")
    let h = 6

    /// The affine map of the synthetic zoo: a feature `[H]` to an adapter (lora_A of layer 0 shared, as under LoRA-FA).
    struct AffineZoo {
        var w: [Tensor]       // per varying matrix [count, H]
        var b: [Tensor]       // per varying matrix [count]
        var shared: Tensor
    }

    func adapter(_ f: Tensor, _ z: AffineZoo) -> LoRAAdapter {
        func y(_ i: Int) -> Tensor {
            var out = f.reshaped([1, h]).matmul(z.w[i], transposeOther: true).reshaped([z.b[i].count])
            out.add(z.b[i])
            return out
        }
        let weights: [LoRASite: (a: Tensor, b: Tensor)] = [
            site0: (z.shared, y(0).reshaped([3, 2])),
            site1: (y(1).reshaped([2, 4]), y(2).reshaped([3, 2])),
        ]
        return LoRAAdapter(config: config, weights: weights)
    }

    /// "task × format" datasets: features u_task + v_format, adapters affine in the feature plus per-checkpoint noise.
    func zoo(_ combos: [(Int, Int)], noise: Float, rng: inout SeededRNG) -> (datasets: [[LoRAAdapter]], features: [Tensor], affine: AffineZoo, u: [Tensor], v: [Tensor]) {
        let u = (0..<3).map { _ in Tensor.randomNormal([h], rng: &rng) }, v = (0..<3).map { _ in Tensor.randomNormal([h], rng: &rng) }
        let z = AffineZoo(w: [6, 8, 6].map { Tensor.randomNormal([$0, h], rng: &rng) }, b: [6, 8, 6].map { Tensor.randomNormal([$0], rng: &rng) },
                          shared: Tensor.randomNormal([2, 4], rng: &rng))
        var datasets: [[LoRAAdapter]] = [], features: [Tensor] = []
        for (t, f) in combos {
            var x = u[t]; x.add(v[f]); features.append(x)
            datasets.append((0..<2).map { _ in
                var a = adapter(x, z)
                var (qa, qb) = a.weights[site1]!
                qa.add(Tensor.randomNormal(qa.shape, std: noise, rng: &rng)); qb.add(Tensor.randomNormal(qb.shape, std: noise, rng: &rng))
                a.weights[site1] = (qa, qb)
                return a
            })
        }
        return (datasets, features, z, u, v)
    }

    func maxDifference(_ x: LoRAAdapter, _ y: LoRAAdapter) -> Float {
        x.sites.map { max(x.weights[$0]!.a.maxAbsDifference(y.weights[$0]!.a), x.weights[$0]!.b.maxAbsDifference(y.weights[$0]!.b)) }.max()!
    }

    /// Five of the nine (task, format) combinations in the zoo; a held-out combination whose task and format were
    /// each seen is in the affine span of the zoo's features, so the head predicts its adapter exactly (the decoder
    /// adds nothing here: its tokens are zero), and every zoo dataset gets its own mean back.
    func testHeadCarriesAnAffineCompositionToAHeldOutCombination() throws {
        var rng = SeededRNG(seed: 11)
        let combos = [(0, 0), (0, 1), (1, 0), (1, 2), (2, 1)]
        let (datasets, features, z, u, v) = zoo(combos, noise: 0, rng: &rng)
        let n = try TargetNormalization.fit(datasets: datasets, hidden: [], targets: .residual, condition: .raw,
                                            head: .ridge, features: features, ridge: 1e-7)
        let head = try XCTUnwrap(n.head)
        XCTAssertEqual(head.datasets, 5)
        XCTAssertEqual(head.projection.shape, [5, h])
        XCTAssertEqual(Set(head.coefficients.keys), [site0.key("B"), site1.key("A"), site1.key("B")], "the shared lora_A is not in the head")
        var heldOut = u[2]; heldOut.add(v[2])   // (2, 2): task 2 and format 2 were each seen, never together
        let zeroTokens = n.target(datasets[0][0], feature: features[0]).zeroed()
        let generated = n.adapter(fromTarget: zeroTokens, feature: heldOut)
        XCTAssertLessThan(maxDifference(generated, adapter(heldOut, z)), 2e-3)
        for (i, d) in datasets.enumerated() {
            XCTAssertLessThan(maxDifference(n.adapter(fromTarget: zeroTokens, feature: features[i]), d[0]), 2e-3)
            // With the head the decoder's targets are what the head leaves: here nothing.
            XCTAssertLessThan(n.target(d[0], feature: features[i]).sites.map { n.target(d[0], feature: features[i]).weights[$0]!.b.maxAbs() }.max()!, 2e-3)
        }
        // Without the head the same generation is the zoo mean: far from the held-out adapter.
        let plain = try TargetNormalization.fit(datasets: datasets, hidden: [], targets: .residual, condition: .raw)
        XCTAssertNil(plain.head)
        XCTAssertGreaterThan(maxDifference(plain.adapter(fromTarget: zeroTokens), adapter(heldOut, z)), 0.5)
    }

    /// Target and generation are exact inverses for any feature; a large ridge shrinks the head towards the mean.
    func testTargetsInvertAndTheRidgeShrinks() throws {
        var rng = SeededRNG(seed: 12)
        let (datasets, features, _, _, _) = zoo([(0, 0), (0, 1), (1, 0), (2, 2)], noise: 0.05, rng: &rng)
        let n = try TargetNormalization.fit(datasets: datasets, hidden: [], targets: .residual, condition: .raw,
                                            head: .ridge, features: features, ridge: 1e-3)
        let t = n.target(datasets[2][1], feature: features[2])
        XCTAssertLessThan(maxDifference(n.adapter(fromTarget: t, feature: features[2]), datasets[2][1]), 1e-5)
        let wide = try TargetNormalization.fit(datasets: datasets, hidden: [], targets: .residual, condition: .raw,
                                               head: .ridge, features: features, ridge: 1e4)
        let exact = try TargetNormalization.fit(datasets: datasets, hidden: [], targets: .residual, condition: .raw,
                                                head: .ridge, features: features, ridge: 1e-7)
        let alpha = try XCTUnwrap(wide.head).weights(features[0]).array, tight = try XCTUnwrap(exact.head).weights(features[0]).array
        XCTAssertLessThan(alpha.map(abs).max()!, 1e-3)
        XCTAssertEqual(tight[0], 0.75, accuracy: 0.01, "a zoo dataset's own feature: its own residual, less the mean of the four (centred features sum to zero)")
        // The paper's targets have no mean to add a head to; one dataset has nothing to regress between.
        XCTAssertNil(try TargetNormalization.fit(datasets: [datasets[0]], hidden: [], targets: .residual, condition: .raw,
                                                 head: .ridge, features: [features[0]]).head)
        XCTAssertThrowsError(try TargetNormalization.fit(datasets: datasets, hidden: [], targets: .residual, condition: .raw,
                                                         head: .ridge, features: [features[0]])) {
            XCTAssertEqual("\($0)", "prompt head: 1 dataset features for 4 datasets")
        }
    }

    func testHeadIsWrittenAndReadBack() throws {
        var rng = SeededRNG(seed: 13)
        let (datasets, features, _, _, _) = zoo([(0, 0), (1, 1), (2, 0)], noise: 0.01, rng: &rng)
        let n = try TargetNormalization.fit(datasets: datasets, hidden: [], targets: .residual, condition: .raw,
                                            head: .ridge, features: features)
        let dir = TestSupport.temporaryDirectory()
        try n.write(to: dir)
        let names = try SafeTensorsFile(url: dir.appendingPathComponent(TargetNormalization.file)).names
        XCTAssertEqual(names.filter { $0.hasPrefix("head.") }.sorted(),
                       ["head." + site0.key("B"), "head." + site1.key("A"), "head." + site1.key("B"), "head.feature_mean", "head.projection"].sorted())
        let back = try TargetNormalization.read(folder: dir, config: config, sites: datasets[0][0].sites)
        XCTAssertEqual(back.head, n.head)
        var f = features[1]; f.scale(by: 0.5)
        let t = n.target(datasets[0][0], feature: features[0])
        XCTAssertEqual(maxDifference(back.adapter(fromTarget: t, feature: f), n.adapter(fromTarget: t, feature: f)), 0)
        // A head tensor of the wrong shape is refused by name.
        var tensors = n.tensors
        tensors["head." + site1.key("A")] = Tensor(zeros: [2, 2, 4])
        let bad = TestSupport.temporaryDirectory()
        try SafeTensorsWriter.write(tensors, to: bad.appendingPathComponent(TargetNormalization.file))
        XCTAssertThrowsError(try TargetNormalization.read(folder: bad, config: config, sites: datasets[0][0].sites)) {
            XCTAssertTrue("\($0)".contains("head.\(self.site1.key("A")) has shape [2, 2, 4] but the head needs [3, 2, 4]"), "\($0)")
        }
    }

    func testSentencesSplitAfterAnEndMarkAndWhiteSpace() {
        XCTAssertEqual(PromptHead.sentences("What is the plural of cat? Put the answer in square brackets."),
                       ["What is the plural of cat?", "Put the answer in square brackets."])
        XCTAssertEqual(PromptHead.sentences("Reply in the form Answer: <answer>."), ["Reply in the form Answer: <answer>."])
        XCTAssertEqual(PromptHead.sentences("  no end mark \n"), ["no end mark"])
        XCTAssertEqual(PromptHead.sentences("One.\r\n\tTwo!  Three?Four 3.5 five."), ["One.", "Two!", "Three?Four 3.5 five."])
        XCTAssertEqual(PromptHead.sentences("Café.\u{3000}Naïve\u{00A0}text.\u{2029}End"), ["Café.", "Naïve\u{00A0}text.", "End"])
        XCTAssertEqual(PromptHead.sentences(" \t "), [""])
        XCTAssertEqual(PromptHead.sentences("..."), ["..."])
    }

    func testSentenceMeansEncodeOnlyPromptsOfSeveralSentences() throws {
        let h = 3
        let prompts = ["Name the capital of France. Answer in JSON.", "One sentence only.", " Padded. "]
        let pooled = Tensor(shape: [3, h], data: (0..<9).map { Float($0) })
        var asked: [[String]] = []
        // A fake encoder: the embedding of a text is (characters, 1, -1).
        let means = try PromptHead.sentenceMeans(prompts, pooled: pooled) { texts in
            asked.append(texts)
            return Tensor(shape: [texts.count, h], data: texts.flatMap { [Float($0.count), 1, -1] })
        }
        XCTAssertEqual(asked, [["Name the capital of France.", "Answer in JSON.", "Padded."]])
        XCTAssertEqual(means.shape, [3, h])
        XCTAssertEqual(means.array, [(27 + 15) / 2, 1, -1, 3, 4, 5, 7, 1, -1])   // the one-sentence prompt keeps its row
        let f = PromptHead.feature(.sentences, pooled: pooled, sentences: means)
        XCTAssertEqual(f.array, [3, 4, 5, Float(31.0 / 3.0), 2, 1])
        XCTAssertEqual(PromptHead.feature(.prompts, pooled: pooled, sentences: nil).array, [3, 4, 5])
        XCTAssertEqual(try PromptHead.feature(.prompts, prompts: prompts, pooled: pooled) { _ in XCTFail("encoded for prompts"); return pooled }.array, [3, 4, 5])
        XCTAssertThrowsError(try PromptHead.sentenceMeans(prompts, pooled: pooled) { _ in Tensor(zeros: [2, h]) }) {
            XCTAssertEqual("\($0)", "sentence embeddings [2, 3] for 3 sentences of 3 features")
        }
    }

    func testHeadOfSentencesKeepsItsKindOnDisk() throws {
        var rng = SeededRNG(seed: 17)
        let (datasets, features, _, _, _) = zoo([(0, 0), (1, 1), (2, 0)], noise: 0.01, rng: &rng)
        let doubled = features.map { f in Tensor.concatenate([f, Tensor.randomNormal([h], rng: &rng)]) }
        let n = try TargetNormalization.fit(datasets: datasets, hidden: [], targets: .residual, condition: .raw,
                                            head: .ridge, features: doubled, feature: .sentences)
        XCTAssertEqual(n.head?.kind, .sentences); XCTAssertEqual(n.head?.featureMean.count, 2 * h)
        XCTAssertEqual(n.metadata, ["head_feature": "sentences"])
        let dir = TestSupport.temporaryDirectory()
        try n.write(to: dir)
        let back = try TargetNormalization.read(folder: dir, config: config, sites: datasets[0][0].sites)
        XCTAssertEqual(back.head, n.head)
        // A file from before the key: its head reads prompts; an unknown feature is refused by name.
        let old = TestSupport.temporaryDirectory(), bad = TestSupport.temporaryDirectory()
        try SafeTensorsWriter.write(n.tensors, to: old.appendingPathComponent(TargetNormalization.file))
        XCTAssertEqual(try TargetNormalization.read(folder: old, config: config, sites: datasets[0][0].sites).head?.kind, .prompts)
        try SafeTensorsWriter.write(n.tensors, to: bad.appendingPathComponent(TargetNormalization.file), metadata: ["head_feature": "tokens"])
        XCTAssertThrowsError(try TargetNormalization.read(folder: bad, config: config, sites: datasets[0][0].sites)) {
            XCTAssertTrue("\($0)".contains("the prompt head's feature 'tokens' is not one of prompts, sentences"), "\($0)")
        }
    }

    func testSettingsDecodeTheHead() throws {
        let d = try JSONDecoder().decode(TrainSettings.self, from: Data("{}".utf8))
        XCTAssertEqual(d.head, .ridge); XCTAssertEqual(d.headRidge, PromptHead.defaultRidge); XCTAssertEqual(d.headFeature, .sentences)
        XCTAssertEqual(try JSONDecoder().decode(TrainSettings.self, from: Data(#"{"head_feature": "prompts"}"#.utf8)).headFeature, .prompts)
        XCTAssertThrowsError(try JSONDecoder().decode(TrainSettings.self, from: Data(#"{"head_feature": "tokens"}"#.utf8)))
        let paper = try JSONDecoder().decode(TrainSettings.self, from: Data(#"{"targets": "checkpoints", "head": "ridge"}"#.utf8))
        XCTAssertEqual(paper.effectiveHead, .none)
        XCTAssertEqual(try JSONDecoder().decode(TrainSettings.self, from: Data(#"{"head": "none"}"#.utf8)).effectiveHead, .none)
        XCTAssertThrowsError(try JSONDecoder().decode(TrainSettings.self, from: Data(#"{"head_ridge": 0}"#.utf8))) {
            XCTAssertEqual("\($0)", "train settings: head_ridge 0.0 must be positive")
        }
    }
}

extension LoRAAdapter {
    /// The same adapter with every matrix zero (a decoder that emits nothing).
    func zeroed() -> LoRAAdapter {
        var out = self
        for (site, w) in weights { out.weights[site] = (Tensor(zeros: w.a.shape), Tensor(zeros: w.b.shape)) }
        return out
    }
}
