import DNDTestSupport
import Demo
import Foundation
import XCTest

final class BenchReportTests: XCTestCase {
    /// Two datasets: DnD wins everything on the first; on the second it loses to the nearest LoRA and the upper bound.
    func sample() -> BenchReport {
        let a = BenchReport.Row(dataset: "sub-bracket", role: "in-domain", records: 40, base: 0, meanLoRA: 0.25,
                                trainingLoRAs: ["add-bracket": 1, "add-paren": 0, "even-star": 0, "greater-colon": 0],
                                nearest: .init(dataset: "add-paren", cosine: 0.85, accuracy: 0, seconds: 0.01),
                                dnd: 1, dndSeconds: 0.02, fineTuned: 1, fineTuneSeconds: 2.0, fineTuneSteps: 150,
                                fineTuneStepsToDnD: 30, fineTuneSecondsToDnD: 0.4)
        let b = BenchReport.Row(dataset: "next-<paren>", role: "cross-domain", records: 40, base: 0.1, meanLoRA: 0.2,
                                trainingLoRAs: ["add-paren": 0.8, "add-star": 0],
                                nearest: .init(dataset: "add-paren", cosine: 0.64, accuracy: 0.8, seconds: 0.01),
                                dnd: 0.6, dndSeconds: 0.03, fineTuned: 0.95, fineTuneSeconds: 3.0, fineTuneSteps: 150,
                                fineTuneStepsToDnD: nil, fineTuneSecondsToDnD: nil)
        return BenchReport(root: "/r", generator: "gen-1", trainedOn: ["add-bracket", "add-paren"], metric: "exact match", rows: [a, b], dndVersion: "0.1.0")
    }

    func testRatiosAndShortfalls() {
        let r = sample()
        XCTAssertEqual(r.rows[0].overhead, 100, accuracy: 1e-9)
        XCTAssertEqual(r.rows[0].overheadAtEqualAccuracy!, 20, accuracy: 1e-9)
        XCTAssertNil(r.rows[1].overheadAtEqualAccuracy)
        XCTAssertEqual(r.overallOverhead, 5.0 / 0.05, accuracy: 1e-9)
        XCTAssertEqual(r.overallOverheadAtEqualAccuracy!, 20, accuracy: 1e-9, "only the datasets where the fine-tune matched DnD")
        let short = r.shortfalls
        XCTAssertEqual(short.count, 2, "\(short)")
        XCTAssertTrue(short[0].contains("next-<paren>") && short[0].contains("does not beat the nearest training LoRA add-paren (80.0%)"))
        XCTAssertTrue(short[1].contains("upper bound (95.0%)"))
        XCTAssertFalse(short.contains { $0.contains("sub-bracket") })
        // A tie with the nearest LoRA is reported too: DnD does not beat it.
        var tie = r
        tie.rows[0].nearest.accuracy = 1
        XCTAssertEqual(tie.shortfalls.filter { $0.contains("sub-bracket") }, ["sub-bracket: DnD (100.0%) does not beat the nearest training LoRA add-paren (100.0%)"])
    }

    func testTextTableHasEveryColumnAndTheMeans() {
        let t = sample().text
        let lines = t.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("held-out dataset") && lines[0].contains("nearest LoRA") && lines[0].contains("fine-tuned") && lines[0].contains("ratio"))
        let sub = lines.first { $0.hasPrefix("sub-bracket") }!
        for cell in ["in-domain", "0.0%", "25.0%", "add-paren (0.85)", "100.0%", "0.020", "2.00", "100×"] { XCTAssertTrue(sub.contains(cell), "\(cell) in \(sub)") }
        let mean = lines.first { $0.hasPrefix("mean") }!
        for cell in ["5.0%", "22.5%", "40.0%", "80.0%", "97.5%", "100×"] { XCTAssertTrue(mean.contains(cell), "\(cell) in \(mean)") }
        XCTAssertTrue(t.contains("Where DnD falls short:"))
        XCTAssertTrue(t.contains("At equal accuracy"))
        // Columns line up: every table row is as wide as the header up to the ratio column.
        let header = lines[0].count
        for l in lines.prefix(4) { XCTAssertEqual(l.count, header, l) }
    }

    func testJSONRoundTripsWithSnakeCaseKeys() throws {
        let r = sample()
        let dir = TestSupport.temporaryDirectory()
        try r.write(to: dir)
        let data = try Data(contentsOf: dir.appendingPathComponent("bench.json"))
        let json = String(decoding: data, as: UTF8.self)
        for key in ["\"mean_lora\"", "\"fine_tuned\"", "\"dnd_seconds\"", "\"fine_tune_seconds_to_dnd\"", "\"trained_on\"", "\"training_loras\""] {
            XCTAssertTrue(json.contains(key), key)
        }
        let back = try JSONDecoder().decode(BenchReport.self, from: data)
        XCTAssertEqual(back.rows, r.rows)
        XCTAssertEqual(back.generator, "gen-1")
    }

    func testHTMLIsSelfContainedWithOneChartPerDataset() throws {
        let h = sample().html
        XCTAssertTrue(h.hasPrefix("<!DOCTYPE html>"))
        XCTAssertFalse(h.contains("<script"))
        XCTAssertFalse(h.contains("src=") || h.contains("href="), "nothing to load from elsewhere")
        XCTAssertEqual(h.components(separatedBy: "<svg").count - 1, 3, "two accuracy charts and the time chart")
        XCTAssertTrue(h.contains("next-&lt;paren&gt;"), "names are escaped")
        XCTAssertFalse(h.contains("next-<paren>"))
        XCTAssertTrue(h.contains("class=\"warn\""), "the shortfalls are on the page")
    }
}
