import DNDTestSupport
import Demo
import Foundation
import Prompts
import XCTest

final class TaskSuiteTests: XCTestCase {
    func testSuiteShapeAndHoldoutRoles() throws {
        let suite = try TaskSuite.standard()
        XCTAssertGreaterThanOrEqual(suite.count, 10)
        XCTAssertGreaterThanOrEqual(Set(suite.map(\.family)).count, 3)
        let train = suite.filter { !$0.isHeldOut }
        let trainFamilies = Set(train.map(\.family)), trainFormats = Set(train.map(\.format))
        let inDomain = suite.filter { $0.role == "in-domain" }, cross = suite.filter { $0.role == "cross-domain" }
        XCTAssertFalse(inDomain.isEmpty); XCTAssertFalse(cross.isEmpty)
        for d in inDomain { XCTAssertTrue(trainFamilies.contains(d.family), d.name) }
        for d in cross { XCTAssertFalse(trainFamilies.contains(d.family), d.name) }
        for d in suite where d.isHeldOut {
            XCTAssertTrue(trainFormats.contains(d.format), "\(d.name): its format is taught by some training dataset")
            XCTAssertFalse(train.contains { $0.name == d.name })
        }
        XCTAssertEqual(Set(suite.map(\.name)).count, suite.count)
        // Every format is taught by at least two training tasks, so the generator can tell format from content.
        for f in trainFormats { XCTAssertGreaterThanOrEqual(train.filter { $0.format == f }.count, 2, f) }
    }

    func testDeterministicAndCorrect() throws {
        let a = try TaskSuite.standard(seed: 3), b = try TaskSuite.standard(seed: 3), c = try TaskSuite.standard(seed: 4)
        XCTAssertEqual(a[0].train, b[0].train)
        XCTAssertNotEqual(a[0].train, c[0].train)
        let add = a.first { $0.name == "add-bracket" }!
        for r in add.train.prefix(20) {
            // "What is A plus B? Write the answer between square brackets." → "[A+B]"
            let nums = r.prompt.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }
            XCTAssertEqual(r.response, "[\(nums[0] + nums[1])]", r.prompt)
            XCTAssertTrue(r.prompt.hasSuffix(" " + (try TaskSuite.format(add.format)).instruction))
            XCTAssertNil(r.system)
        }
        let prev = a.first { $0.name == "prev-colon" }!
        for r in prev.test {
            let letter = r.prompt.split(separator: " ")[4].first!   // "Which letter comes before X? …"
            XCTAssertEqual(r.response, "Answer: \(Character(UnicodeScalar(letter.asciiValue! - 1)))", r.prompt)
        }
    }

    func testInstructionsAreDistinct() {
        let stop: Set<Substring> = ["the", "a", "an", "and", "with", "in", "your"]
        let words = TaskSuite.formats.map { Set($0.instruction.lowercased().split { !$0.isLetter }).subtracting(stop) }
        for i in words.indices { for j in words.indices where i < j {
            // At most one word ("answer") in common besides stop words: the prompts must tell the formats apart.
            XCTAssertLessThanOrEqual(words[i].intersection(words[j]).count, 1, "\(TaskSuite.formats[i].name) vs \(TaskSuite.formats[j].name)")
        } }
    }

    /// The base learns every content and every format, but a format only under a system code the datasets never use;
    /// a format instruction in the user turn is always answered plainly.
    func testPretrainingTeachesContentAndFormatsButNotTheInstructions() throws {
        let pre = TaskSuite.pretrainRecords(count: 2000)
        XCTAssertEqual(pre.count, 2000)
        let codes = Set(TaskSuite.formats.indices.map(TaskSuite.formatCode))
        let plain = pre.filter { $0.system == nil }, coded = pre.filter { $0.system != nil }
        XCTAssertGreaterThan(plain.count, 600); XCTAssertGreaterThan(coded.count, 600)
        for r in coded { XCTAssertTrue(codes.contains(r.system!), r.system!) }
        for (i, f) in TaskSuite.formats.enumerated() {
            let mine = coded.filter { $0.system == TaskSuite.formatCode(i) }
            XCTAssertFalse(mine.isEmpty)
            for r in mine { XCTAssertEqual(r.response, f.wrap(unwrap(r.response!)), "\(f.name): \(r.prompt)") }
        }
        let wrapped = { (s: String) in s.hasPrefix("[") || s.hasPrefix("(") || s.hasPrefix("*") || s.hasPrefix("Answer:") }
        for r in plain { XCTAssertFalse(wrapped(r.response!), "no system code, plain answer: \(r.prompt) → \(r.response!)") }
        for f in TaskSuite.formats {
            XCTAssertTrue(plain.contains { $0.prompt.hasSuffix(f.instruction) }, "\(f.name)'s instruction is seen, and answered plainly")
        }
        // Every task is pretrained, held-out ones included.
        for (t, word) in zip(TaskSuite.tasks.map(\.name), ["plus", "minus", "greater", "even", "after", "before"]) {
            XCTAssertTrue(pre.contains { $0.prompt.contains(" \(word) ") }, t)
        }
        for d in try TaskSuite.standard() { XCTAssertTrue(d.train.allSatisfy { $0.system == nil } && d.test.allSatisfy { $0.system == nil }) }
    }

    func testContentProbeIsPlain() {
        let probe = TaskSuite.contentProbe(perTask: 3)
        XCTAssertEqual(probe.count, 3 * TaskSuite.tasks.count)
        for r in probe {
            XCTAssertFalse(TaskSuite.formats.contains { r.prompt.contains($0.instruction) }, r.prompt)
            XCTAssertNil(r.system)
        }
    }

    func testUnwrapUndoesEveryFormat() {
        for f in TaskSuite.formats {
            for a in ["7", "True", "c", "18"] { XCTAssertEqual(TaskSuite.unwrap(f.wrap(a)), a, f.name) }
        }
        for plain in ["7", "[", "()", "Answer:", "*"] { XCTAssertEqual(TaskSuite.unwrap(plain), plain) }
    }

    func testValidateRejectsBadPlans() {
        XCTAssertThrowsError(try TaskSuite.standard(plan: [.init("add", "bracket", "train"), .init("add", "bracket", "in-domain")]))
        XCTAssertThrowsError(try TaskSuite.standard(plan: [.init("add", "bracket", "test"), .init("sub", "star", "in-domain")]))
        XCTAssertThrowsError(try TaskSuite.standard(plan: [.init("sub", "star", "in-domain")]))
        XCTAssertNoThrow(try TaskSuite.standard(trainSize: 2, testSize: 1, plan: [.init("add", "bracket", "train"), .init("sub", "star", "in-domain")]))
    }

    func testRecordsRoundTripThroughJSONL() throws {
        let recs = try TaskSuite.standard(trainSize: 5, testSize: 2)[0].train + [PromptRecord(prompt: "c?", choices: ["x", "y"], correctChoice: 1, line: 6)]
        let url = TestSupport.temporaryDirectory().appendingPathComponent("r.jsonl")
        try PromptFile.write(recs, to: url)
        let back = try PromptFile.read(url)
        XCTAssertEqual(back.map(\.prompt), recs.map(\.prompt))
        XCTAssertEqual(back.map(\.response), recs.map { $0.response ?? ($0.choices.map { $0[$0.count - 1] }) })
        XCTAssertEqual(back.last?.correctChoice, 1)
    }

    /// The plain answer inside a formatted one.
    func unwrap(_ s: String) -> String {
        if s.hasPrefix("Answer: ") { return String(s.dropFirst(8)) }
        return String(s.dropFirst().dropLast())
    }
}
