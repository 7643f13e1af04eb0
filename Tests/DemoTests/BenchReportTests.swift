import DNDTestSupport
import Demo
import Foundation
import XCTest

final class BenchReportTests: XCTestCase {
    static let geometry = BenchReport.Geometry(dndNorm: 3, fineTunedNorm: 6, cosineFineTuned: 0.5, cosineMeanLoRA: 0.7, cosineNearest: 0.4)

    /// Two datasets: DnD wins everything on the first; on the second it loses to the nearest LoRA and the upper bound.
    func sample() -> BenchReport {
        let a = BenchReport.Row(dataset: "sub-bracket", role: "in-domain", records: 40, base: .init(accuracy: 0, nll: 3.2),
                                meanLoRA: .init(accuracy: 0.25, nll: 2.0), nearest: .init(accuracy: 0, nll: 2.5, name: "add-paren"), nearestCosine: 0.85,
                                oracle: .init(accuracy: 1, nll: 0.3, name: "add-bracket"),
                                trainingLoRAs: ["add-bracket": 1, "add-paren": 0, "even-star": 0, "greater-colon": 0],
                                dnd: .init(accuracy: 1, nll: 0.2), dndSeconds: 0.02, fineTuned: .init(accuracy: 1, nll: 0.1),
                                fineTuneSeconds: 2.0, fineTuneSteps: 150, fineTuneStepsToDnD: 30, fineTuneSecondsToDnD: 0.4, geometry: Self.geometry)
        let b = BenchReport.Row(dataset: "next-<paren>", role: "cross-domain", records: 40, base: .init(accuracy: 0.1, nll: 3.0),
                                meanLoRA: .init(accuracy: 0.2, nll: 2.2), nearest: .init(accuracy: 0.8, nll: 0.9, name: "add-paren"), nearestCosine: 0.64,
                                oracle: .init(accuracy: 0.8, nll: 0.9, name: "add-paren"), trainingLoRAs: ["add-paren": 0.8, "add-star": 0],
                                dnd: .init(accuracy: 0.6, nll: 1.1), dndSeconds: 0.03, fineTuned: .init(accuracy: 0.95, nll: 0.2),
                                fineTuneSeconds: 3.0, fineTuneSteps: 150, fineTuneStepsToDnD: nil, fineTuneSecondsToDnD: nil, geometry: Self.geometry)
        return BenchReport(root: "/r", generator: "gen-1", trainedOn: ["add-bracket", "add-paren"], metric: "exact match", rows: [a, b],
                           generatedPairwise: [0.3], zooPairwise: [0.1, 0.2],
                           fit: [.init(dataset: "add-bracket", generated: 0.9, checkpoint: 1, cosine: 0.8, normRatio: 0.7)], dndVersion: "0.1.0")
    }

    func testRatiosRecoveredGainAndShortfalls() {
        let r = sample()
        XCTAssertEqual(r.rows[0].overhead, 100, accuracy: 1e-9)
        XCTAssertEqual(r.rows[0].overheadAtEqualAccuracy!, 20, accuracy: 1e-9)
        XCTAssertNil(r.rows[1].overheadAtEqualAccuracy)
        XCTAssertEqual(r.overallOverhead, 5.0 / 0.05, accuracy: 1e-9)
        XCTAssertEqual(r.overallOverheadAtEqualAccuracy!, 20, accuracy: 1e-9, "only the datasets where the fine-tune matched DnD")
        XCTAssertEqual(r.rows[1].recovered!, 0.5 / 0.85, accuracy: 1e-9)
        XCTAssertEqual(r.recoveredOnMean!, (0.8 - 0.05) / (0.975 - 0.05), accuracy: 1e-9)
        XCTAssertEqual(r.rows[0].geometry.normRatio, 0.5, accuracy: 1e-12)
        let short = r.shortfalls
        XCTAssertEqual(short.count, 3, "\(short)")
        XCTAssertTrue(short[0].contains("next-<paren>") && short[0].contains("does not beat the nearest training LoRA add-paren (80.0%)"))
        XCTAssertTrue(short[1].contains("upper bound (95.0%)"))
        XCTAssertEqual(short[2], "mean: DnD (80.0%) does not beat the oracle best training LoRA (90.0%)")
        XCTAssertFalse(short.contains { $0.contains("sub-bracket") })
        // A tie with the nearest LoRA is reported too, and the oracle is compared on the mean.
        var tie = r
        tie.rows[0].nearest.accuracy = 1
        XCTAssertEqual(tie.shortfalls.filter { $0.contains("sub-bracket") }, ["sub-bracket: DnD (100.0%) does not beat the nearest training LoRA add-paren (100.0%)"])
        tie.rows[0].oracle.accuracy = 0.5; tie.rows[1].oracle.accuracy = 0.6
        XCTAssertFalse(tie.shortfalls.contains { $0.hasPrefix("mean:") }, "DnD (80%) beats the oracle's mean (55%)")
    }

    func testTextTablesHaveEveryColumnTheMeansAndTheDiagnostics() {
        let t = sample().text
        let lines = t.split(separator: "\n").map(String.init)
        for col in ["base", "mean LoRA", "nearest LoRA", "oracle LoRA", "DnD", "fine-tuned"] { XCTAssertTrue(lines[0].contains(col), col) }
        XCTAssertTrue(lines[0].contains(" mean LoRA nearest LoRA  oracle LoRA"), lines[0])   // names never touch
        let sub = lines.first { $0.hasPrefix("sub-bracket") }!
        for cell in ["in-domain", "0.0%", "25.0%", "100.0%"] { XCTAssertTrue(sub.contains(cell), "\(cell) in \(sub)") }
        let nll = lines[lines.firstIndex(of: sub)! + 1]
        for cell in ["NLL", "3.200", "2.000", "0.200", "0.100"] { XCTAssertTrue(nll.contains(cell), "\(cell) in \(nll)") }
        let mean = lines.first { $0.hasPrefix("mean ") }!
        for cell in ["5.0%", "22.5%", "40.0%", "90.0%", "80.0%", "97.5%"] { XCTAssertTrue(mean.contains(cell), "\(cell) in \(mean)") }
        XCTAssertTrue(t.contains("sub-bracket: nearest add-paren (cosine 0.85), oracle add-bracket"))
        XCTAssertTrue(t.contains("Where DnD falls short:"))
        XCTAssertTrue(t.contains("At equal accuracy"))
        XCTAssertTrue(t.contains("20×") && t.contains("100×"))
        XCTAssertTrue(t.contains("recovers 81.1% of the fine-tuned LoRA's gain"))
        XCTAssertTrue(t.contains("pairwise cosine among the held-out DnD adapters: mean 0.300"))
        XCTAssertTrue(t.contains("reaches 90% of its checkpoints' accuracy"))
        // Columns line up: the accuracy rows are as wide as the header.
        let header = lines[0].count
        for l in [sub, nll, mean] { XCTAssertEqual(l.count, header, l) }
    }

    func testJSONRoundTripsWithSnakeCaseKeys() throws {
        let r = sample()
        let dir = TestSupport.temporaryDirectory()
        try r.write(to: dir)
        let data = try Data(contentsOf: dir.appendingPathComponent("bench.json"))
        let json = String(decoding: data, as: UTF8.self)
        for key in ["\"mean_lora\"", "\"fine_tuned\"", "\"dnd_seconds\"", "\"fine_tune_seconds_to_dnd\"", "\"trained_on\"", "\"training_loras\"",
                    "\"oracle\"", "\"nll\"", "\"cosine_fine_tuned\"", "\"generated_pairwise\"", "\"norm_ratio\""] {
            XCTAssertTrue(json.contains(key), key)
        }
        let back = try JSONDecoder().decode(BenchReport.self, from: data)
        XCTAssertEqual(back.rows, r.rows)
        XCTAssertEqual(back.fit, r.fit)
        XCTAssertEqual(back.generator, "gen-1")
    }

    func testHTMLIsSelfContainedWithOneChartPerDataset() throws {
        let h = sample().html
        XCTAssertTrue(h.hasPrefix("<!DOCTYPE html>"))
        XCTAssertFalse(h.contains("<script"))
        XCTAssertFalse(h.contains("src=") || h.contains("href="), "nothing to load from elsewhere")
        XCTAssertEqual(h.components(separatedBy: "<svg").count - 1, 4, "two accuracy charts, the NLL chart and the time chart")
        XCTAssertTrue(h.contains("next-&lt;paren&gt;"), "names are escaped")
        XCTAssertFalse(h.contains("next-<paren>"))
        XCTAssertTrue(h.contains("class=\"warn\""), "the shortfalls are on the page")
        XCTAssertTrue(h.contains("oracle: add-bracket") && h.contains("Weight space") && h.contains("Fit on the training datasets"))
    }

    func testSeedsAggregateMeanAndSpreadPerColumn() throws {
        let a = sample()
        var b = sample()
        b.rows[0].dnd.accuracy = 0.5; b.rows[1].dnd.accuracy = 0.6
        b.rows[0].geometry.cosineFineTuned = 0.7
        let agg = SeedBench(seeds: [0, 1], roots: ["/r", "/r/demo/seeds/seed-1"], reports: [a, b])
        let dnd = agg.columns.first { $0.name == "DnD" }!
        XCTAssertEqual(dnd.perDataset["sub-bracket"]!.mean, 0.75, accuracy: 1e-12)
        XCTAssertEqual(dnd.perDataset["sub-bracket"]!.std, (0.125).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(dnd.mean.mean, (0.8 + 0.55) / 2, accuracy: 1e-12)
        XCTAssertEqual(agg.columns.map(\.name), ["base", "mean LoRA", "nearest LoRA", "oracle LoRA", "DnD", "fine-tuned"])
        XCTAssertEqual(agg.columns.first { $0.name == "base" }!.mean.std, 0)
        XCTAssertTrue(agg.text.contains("over 2 seeds (0, 1)") && agg.text.contains(" 75.0 ± 35.4"), agg.text)
        // Weight space per held-out dataset, the pairwise cosines, the fit cosine and the time ratio, each over the seeds.
        let g = agg.geometry["sub-bracket"]!
        XCTAssertEqual(g.normRatio.mean, 0.5, accuracy: 1e-12)
        XCTAssertEqual(g.cosineFineTuned.mean, 0.6, accuracy: 1e-12)
        XCTAssertEqual(g.cosineFineTuned.std, (0.02).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(g.cosineMeanLoRA.mean, 0.7, accuracy: 1e-12)
        XCTAssertEqual(g.cosineNearest.mean, 0.4, accuracy: 1e-12)
        XCTAssertEqual(agg.geometry["next-<paren>"]!.cosineFineTuned.std, 0)
        XCTAssertEqual(agg.generatedPairwise.mean, 0.3, accuracy: 1e-12)
        XCTAssertEqual(agg.zooPairwise.mean, 0.15, accuracy: 1e-12)
        XCTAssertEqual(agg.fitCosine.mean, 0.8, accuracy: 1e-12)
        XCTAssertEqual(agg.overhead.mean, 100, accuracy: 1e-9)
        XCTAssertEqual(agg.shortfalls, ["next-<paren>: DnD 60.0% does not beat the nearest LoRA 80.0%",
                                        "mean: DnD 67.5% does not beat the oracle LoRA 90.0%"])
        let sub = agg.text.split(separator: "\n").first { $0.hasPrefix("sub-bracket") && $0.contains("0.60 ± 0.14") }
        XCTAssertNotNil(sub, agg.text)
        XCTAssertTrue(sub!.contains("0.50 ± 0.00") && sub!.contains("0.70 ± 0.00") && sub!.contains("0.40 ± 0.00"), String(sub!))
        for line in ["(ΔW cosine 0.80 ± 0.00)", "among the training checkpoints 0.15 ± 0.00", "fine-tuning takes 100× ± 0× DnD's time",
                     "  - mean: DnD 67.5% does not beat the oracle LoRA 90.0%"] {
            XCTAssertTrue(agg.text.contains(line), line)
        }
        // Round trip through seeds.json's snake-case keys.
        let data = try JSONEncoder().encode(agg)
        let json = String(decoding: data, as: UTF8.self)
        for key in ["\"cosine_fine_tuned\"", "\"generated_pairwise\"", "\"zoo_pairwise\"", "\"fit_cosine\"", "\"overhead\""] {
            XCTAssertTrue(json.contains(key), key)
        }
        let back = try JSONDecoder().decode(SeedBench.self, from: data)
        XCTAssertEqual(back.geometry, agg.geometry)
        XCTAssertEqual(back.fitCosine, agg.fitCosine)
        let s = SeedBench.settings(DemoSettings.preset(.small), seed: 3)
        XCTAssertEqual(s.seed, DemoSettings.preset(.small).seed + 3)
        XCTAssertEqual(s.finetune.seed, DemoSettings.preset(.small).finetune.seed + 3)
        XCTAssertEqual(s.generator.seed, DemoSettings.preset(.small).generator.seed + 3)
    }
}
