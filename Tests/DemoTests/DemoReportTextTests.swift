@testable import Demo
import Foundation
import XCTest

final class DemoReportTextTests: XCTestCase {
    func testResultsTableHasOneLinePerDatasetAndTheMeans() {
        let rows = [
            DemoRunner.HeldOutResult(dataset: "sub-bracket", role: "in-domain", job: "sub-bracket", records: 40, baseAccuracy: 0,
                                     dndAccuracy: 0.9, baseNLL: 1, dndNLL: 0.1, generationSeconds: 0.031),
            DemoRunner.HeldOutResult(dataset: "next-paren", role: "cross-domain", job: "next-paren", records: 40, baseAccuracy: 0.1,
                                     dndAccuracy: 1, baseNLL: nil, dndNLL: nil, generationSeconds: 0.02),
        ]
        let t = DemoReportText.results(rows)
        let lines = t.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 5)
        XCTAssertTrue(lines[2].contains("sub-bracket") && lines[2].contains("in-domain") && lines[2].contains("0.0%") && lines[2].contains("90.0%") && lines[2].contains("0.031 s"), lines[2])
        XCTAssertTrue(lines[4].hasPrefix("  mean") && lines[4].contains("5.0%") && lines[4].contains("95.0%"), lines[4])
    }

    func testStagesListTimesAndWhatWasCached() {
        let summary = DemoRunner.Summary(root: "/r", stages: [
            .init(name: "data", seconds: 0.2, cached: true, detail: ""), .init(name: "generator", seconds: 61.5, cached: false, detail: ""),
        ], results: [], totalSeconds: 62)
        let t = DemoReportText.stages(summary)
        XCTAssertTrue(t.contains("data              0.2 s  (cached)"), t)
        XCTAssertTrue(t.contains("generator        61.5 s\n"), t)
        XCTAssertTrue(t.hasSuffix("total            62.0 s"), t)
    }
}
