import DNDTestSupport
import Demo
import Foundation
import Pipeline
import XCTest

final class TaskSuiteTests: XCTestCase {
    func testSuiteShapeAndHoldoutRoles() {
        let suite = TaskSuite.standard()
        XCTAssertGreaterThanOrEqual(suite.count, 10)
        XCTAssertGreaterThanOrEqual(Set(suite.map(\.task.family)).count, 3)
        let train = suite.filter { !$0.isHeldOut }
        let trainFamilies = Set(train.map(\.task.family)), trainFormats = Set(train.map(\.format.name))
        let inDomain = suite.filter { $0.role == "in-domain" }, cross = suite.filter { $0.role == "cross-domain" }
        XCTAssertFalse(inDomain.isEmpty); XCTAssertFalse(cross.isEmpty)
        for d in inDomain { XCTAssertTrue(trainFamilies.contains(d.task.family), d.name) }
        for d in cross { XCTAssertFalse(trainFamilies.contains(d.task.family), d.name) }
        for d in suite where d.isHeldOut {
            XCTAssertTrue(trainFormats.contains(d.format.name), "\(d.name): its format is taught by some training dataset")
            XCTAssertFalse(train.contains { $0.name == d.name })
        }
        XCTAssertEqual(Set(suite.map(\.name)).count, suite.count)
    }

    func testDeterministicAndCorrect() {
        let a = TaskSuite.standard(seed: 3), b = TaskSuite.standard(seed: 3), c = TaskSuite.standard(seed: 4)
        XCTAssertEqual(a[0].train, b[0].train)
        XCTAssertNotEqual(a[0].train, c[0].train)
        let add = a.first { $0.name == "add-bracket" }!
        for r in add.train.prefix(20) {
            // "What is A plus B? Answer in square brackets." → "[A+B]"
            let nums = r.prompt.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }
            XCTAssertEqual(r.response, "[\(nums[0] + nums[1])]", r.prompt)
            XCTAssertTrue(r.prompt.hasSuffix("Answer in square brackets."))
        }
        let pre = TaskSuite.pretrainRecords(count: 60)
        XCTAssertEqual(pre.count, 60)
        XCTAssertFalse(pre.contains { $0.prompt.contains("Answer") || $0.prompt.contains("Wrap") })
    }

    func testRecordsRoundTripThroughJSONL() throws {
        let recs = TaskSuite.standard(trainSize: 5, testSize: 2)[0].train + [PromptRecord(prompt: "c?", choices: ["x", "y"], correctChoice: 1, line: 6)]
        let url = TestSupport.temporaryDirectory().appendingPathComponent("r.jsonl")
        try PromptFile.write(recs, to: url)
        let back = try PromptFile.read(url)
        XCTAssertEqual(back.map(\.prompt), recs.map(\.prompt))
        XCTAssertEqual(back.map(\.response), recs.map { $0.response ?? ($0.choices.map { $0[$0.count - 1] }) })
        XCTAssertEqual(back.last?.correctChoice, 1)
    }
}
