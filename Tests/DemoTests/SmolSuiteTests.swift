@testable import Demo
import Foundation
import Prompts
import XCTest

final class SmolSuiteTests: XCTestCase {
    func testStandardPlanHoldsOutInDomainAndCrossDomainDatasets() throws {
        let suite = try SmolSuite.standard()
        XCTAssertEqual(suite.count, 16)
        XCTAssertEqual(Set(suite.map(\.family)).count, 4)
        let train = suite.filter { !$0.isHeldOut }
        XCTAssertEqual(train.count, 12)
        let trainTasks = Set(SmolSuite.standardPlan.filter { $0.role == "train" }.map(\.task))
        let trainFamilies = Set(train.map(\.family)), trainFormats = Set(train.map(\.format))
        for p in SmolSuite.standardPlan where p.role == "in-domain" {
            XCTAssertTrue(trainTasks.contains(p.task), p.name)
            XCTAssertTrue(trainFormats.contains(p.format), p.name)
            XCTAssertFalse(SmolSuite.standardPlan.contains { $0.role == "train" && $0.name == p.name })
        }
        for d in suite where d.role == "cross-domain" {
            XCTAssertFalse(trainFamilies.contains(d.family), d.name)
            XCTAssertTrue(trainFormats.contains(d.format), d.name)
        }
        for f in trainFormats { XCTAssertGreaterThanOrEqual(train.filter { $0.format == f }.count, 2, f) }
    }

    func testRecordsAreDeterministicPhrasedSeveralWaysAndTestItemsAreNeverTrainedOn() throws {
        let a = try SmolSuite.standard(seed: 3), b = try SmolSuite.standard(seed: 3), c = try SmolSuite.standard(seed: 4)
        XCTAssertEqual(a[0].train, b[0].train)
        XCTAssertNotEqual(a[0].train, c[0].train)
        for d in a {
            // Several question phrasings and several instructions per dataset.
            let prompts = Set(d.train.map { $0.prompt })
            XCTAssertGreaterThan(prompts.count, 20, d.name)
            let endings = Set(d.train.map { String($0.prompt.split(separator: "?", maxSplits: 1).last ?? "") })
            XCTAssertGreaterThan(endings.count, 2, d.name)
            XCTAssertTrue(d.train.allSatisfy { $0.system == nil && $0.response != nil }, d.name)
        }
        // Items are split: a test record's item (country, word) is never one a training record asks about.
        for pool in [SmolSuite.capitals, SmolSuite.languages, SmolSuite.antonyms, SmolSuite.plurals, SmolSuite.words] {
            let train = Set(SmolSuite.split(pool, .train).map(\.0)), test = Set(SmolSuite.split(pool, .test).map(\.0))
            XCTAssertTrue(train.isDisjoint(with: test))
            XCTAssertEqual(train.count + test.count, Set(pool.map(\.0)).count)
            XCTAssertGreaterThanOrEqual(test.count, 7)
        }
        for d in a where d.name.hasPrefix("add") || d.name.hasPrefix("sub") {
            func first(_ r: PromptRecord) -> Int { r.prompt.split { !$0.isNumber }.compactMap { Int($0) }[r.prompt.contains("Subtract") ? 1 : 0] }
            XCTAssertTrue(d.test.allSatisfy { [3, 7].contains(first($0)) }, d.name)
            XCTAssertTrue(d.train.allSatisfy { ![3, 7].contains(first($0)) }, d.name)
        }
        let json = a.first { $0.name == "plural-json" }!
        for r in json.train.prefix(10) {
            XCTAssertTrue(r.response!.hasPrefix("{\"answer\": \""), r.response!)
            XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(r.response!.utf8)), r.response!)
        }
        let add = a.first { $0.name == "add-colon" }!
        for r in add.test {
            let n = r.prompt.split { !$0.isNumber }.compactMap { Int($0) }
            XCTAssertEqual(r.response, "Answer: \(n[0] + n[1])", r.prompt)
        }
    }

    func testUnknownTasksAndFormatsAreNamed() {
        XCTAssertThrowsError(try SmolSuite.standard(plan: [.init("capital", "star", "train"), .init("add", "bare", "in-domain")])) {
            XCTAssertTrue("\($0)".contains("unknown format 'star'"), "\($0)")
        }
        XCTAssertThrowsError(try SmolSuite.standard(plan: [.init("greater", "bare", "train"), .init("add", "bare", "in-domain")])) {
            XCTAssertTrue("\($0)".contains("unknown task 'greater'"), "\($0)")
        }
    }
}
