import DNDTestSupport
import Foundation
import LoRA
import Pipeline
import SafeTensors
import TensorCore
import XCTest

final class TargetNormalizationTests: XCTestCase {
    func adapter(_ seed: UInt64) -> LoRAAdapter {
        var rng = SeededRNG(seed: seed)
        var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for l in 0..<2 { w[LoRASite(layer: l, module: .q_proj)] = (Tensor.randomNormal([2, 4], rng: &rng), Tensor.randomNormal([3, 2], rng: &rng)) }
        return LoRAAdapter(config: LoRAConfig(r: 2, loraAlpha: 4, targetModules: [.q_proj], baseModel: "x"), weights: w)
    }

    /// The mean is the mean of the datasets' means (each dataset counts once, whatever its checkpoints); residual
    /// targets are checkpoint − mean and generation adds it back exactly.
    func testResidualTargetsAreRelativeToTheMeanOfDatasetMeans() throws {
        let d1 = [adapter(1), adapter(2), adapter(3)], d2 = [adapter(4)]
        let n = try TargetNormalization.fit(datasets: [d1, d2], hidden: [], targets: .residual, condition: .raw)
        let site = LoRASite(layer: 1, module: .q_proj)
        let want = (d1.map { $0.weights[site]!.b[flat: 5] }.reduce(0, +) / 3 + d2[0].weights[site]!.b[flat: 5]) / 2
        XCTAssertEqual(n.meanAdapter!.weights[site]!.b[flat: 5], want, accuracy: 1e-6)
        let t = n.target(d1[0])
        XCTAssertEqual(t.weights[site]!.a[flat: 2], d1[0].weights[site]!.a[flat: 2] - n.meanAdapter!.weights[site]!.a[flat: 2], accuracy: 1e-6)
        let back = n.adapter(fromTarget: t)
        XCTAssertEqual(back.weights[site]!.a.maxAbsDifference(d1[0].weights[site]!.a), 0, accuracy: 1e-6)
        XCTAssertNil(n.conditionMean)
        let paper = try TargetNormalization.fit(datasets: [d1, d2], hidden: [], targets: .checkpoints, condition: .raw)
        XCTAssertTrue(paper.isIdentity)
        XCTAssertEqual(paper.target(d1[0]).weights[site]!.a.maxAbsDifference(d1[0].weights[site]!.a), 0)
    }

    func testStandardizedConditionsHaveZeroMeanAndUnitSpreadOverTheTrainingPrompts() throws {
        var rng = SeededRNG(seed: 9)
        var h1 = Tensor.randomNormal([5, 3, 4], std: 2, rng: &rng), h2 = Tensor.randomNormal([7, 3, 4], std: 2, rng: &rng)
        h1.add(Tensor(shape: h1.shape, repeating: 3)); h2.add(Tensor(shape: h2.shape, repeating: 3))
        let n = try TargetNormalization.fit(datasets: [], hidden: [h1, h2], targets: .checkpoints, condition: .standardized)
        XCTAssertEqual(n.conditionMean!.shape, [3, 4])
        let all = [n.condition(h1), n.condition(h2)]
        for j in 0..<12 {
            let v = all.flatMap { t in (0..<t.shape[0]).map { Double(t[flat: $0 * 12 + j]) } }
            let m = v.reduce(0, +) / Double(v.count)
            let sd = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
            XCTAssertEqual(m, 0, accuracy: 1e-5); XCTAssertEqual(sd, 1, accuracy: 1e-4)
        }
        // A position that is the same in every prompt (padding) is floored, not divided by zero.
        let pad = Tensor(zeros: [4, 3, 4])
        let z = try TargetNormalization.fit(datasets: [], hidden: [pad, h1], targets: .checkpoints, condition: .standardized)
        XCTAssertTrue(z.condition(h2).array.allSatisfy(\.isFinite))
    }

    func testWriteAndReadBack() throws {
        var rng = SeededRNG(seed: 3)
        let h = Tensor.randomNormal([6, 3, 4], rng: &rng)
        let d = [[adapter(1), adapter(2)], [adapter(3)]]
        let n = try TargetNormalization.fit(datasets: d, hidden: [h], targets: .residual, condition: .standardized)
        let dir = TestSupport.temporaryDirectory()
        try n.write(to: dir)
        let back = try TargetNormalization.read(folder: dir, config: d[0][0].config, sites: d[0][0].sites)
        XCTAssertEqual(back.conditionStd!.maxAbsDifference(n.conditionStd!), 0)
        for site in d[0][0].sites { XCTAssertEqual(back.meanAdapter!.weights[site]!.b.maxAbsDifference(n.meanAdapter!.weights[site]!.b), 0) }
        let empty = TestSupport.temporaryDirectory()
        XCTAssertTrue(try TargetNormalization.read(folder: empty, config: d[0][0].config, sites: d[0][0].sites).isIdentity)
        try TargetNormalization().write(to: empty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: empty.appendingPathComponent(TargetNormalization.file).path), "the paper's settings write no file")
    }

    /// LoRA-FA: every checkpoint holds the same lora_A. Its target is exactly zero (a float mean of 4 equal values
    /// is not always that value: its rounding noise would be normalized to unit variance), a generated adapter gets
    /// the shared A itself whatever the tokens say, and the file says which matrices are shared.
    func testMatricesSharedByTheWholeZooAreNotPredicted() throws {
        var zoo = [[adapter(1), adapter(2)], [adapter(3), adapter(4)]]
        let site = LoRASite(layer: 0, module: .q_proj)
        var rng = SeededRNG(seed: 77)
        let a = Tensor.randomNormal([2, 4], std: 0.7, rng: &rng)
        for d in 0..<2 { for k in 0..<2 { zoo[d][k].weights[site]!.a = a } }
        let n = try TargetNormalization.fit(datasets: zoo, hidden: [], targets: .residual, condition: .raw)
        XCTAssertEqual(n.shared, [site.key("A")])
        XCTAssertEqual(n.meanAdapter!.weights[site]!.a.maxAbsDifference(a), 0)
        XCTAssertTrue(n.target(zoo[1][0]).weights[site]!.a.array.allSatisfy { $0 == 0 })
        var decoded = n.target(zoo[1][0])
        decoded.weights[site]!.a = Tensor(shape: [2, 4], repeating: 0.25)   // whatever the generator emitted
        let back = n.adapter(fromTarget: decoded)
        XCTAssertEqual(back.weights[site]!.a.maxAbsDifference(a), 0)
        XCTAssertEqual(back.weights[site]!.b.maxAbsDifference(zoo[1][0].weights[site]!.b), 0, accuracy: 1e-6)
        let other = LoRASite(layer: 1, module: .q_proj)
        XCTAssertNotEqual(n.target(zoo[1][0]).weights[other]!.a.maxAbsDifference(Tensor(zeros: [2, 4])), 0, "a matrix that varies is predicted")
        let dir = TestSupport.temporaryDirectory()
        try n.write(to: dir)
        let names = try SafeTensorsFile(url: dir.appendingPathComponent(TargetNormalization.file)).names
        XCTAssertTrue(names.contains("shared." + site.key("A")) && !names.contains("mean." + site.key("A")))
        let read = try TargetNormalization.read(folder: dir, config: zoo[0][0].config, sites: zoo[0][0].sites)
        XCTAssertEqual(read.shared, n.shared)
        XCTAssertEqual(read.adapter(fromTarget: decoded).weights[site]!.a.maxAbsDifference(a), 0)
    }
}
