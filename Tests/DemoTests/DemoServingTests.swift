import DNDTestSupport
import Daemon
@testable import Demo
import Foundation
import Pipeline
import Prompts
import Workspace
import XCTest

/// The demo's folder protocol with a daemon, without one: drops, results matched by input file, failures, cleanup.
final class DemoServingTests: XCTestCase {
    func serving() throws -> DemoServing {
        let root = TestSupport.temporaryDirectory("dnd-serving")
        let layout = RootLayout(root: root)
        try layout.prepare()
        return DemoServing(layout: layout, paths: DemoPaths(root: layout.root), book: StageBook(folder: DemoPaths(root: layout.root).stages))
    }

    func report(job: String, file: String) -> GenerationReport {
        GenerationReport(job: job, dndVersion: "test", seed: 0,
                         input: .init(file: file, records: [PromptRecord(prompt: "p", response: "r")], used: 1, sampled: false),
                         timings: [], generator: .init(identity: "gen-x", trainedOn: [], trainedAt: nil, steps: nil, finalLoss: nil, chain: [], kernel: 3, parameters: 0),
                         similarity: [], adapter: .init(rank: 1, alpha: 2, modules: [], layers: 0, tokens: 0, norms: []),
                         evaluation: nil, evaluationSkipped: "test", warnings: [])
    }

    func testDropsCompleteFilesWithTheEvalTag() throws {
        let s = try serving()
        let suite = try TaskSuite.standard(trainSize: 2, testSize: 3, plan: [.init("add", "bracket", "train"), .init("sub", "star", "in-domain")])
        let files = try s.drop(suite.filter(\.isHeldOut))
        XCTAssertEqual(files, ["sub-star": "sub-star.eval.jsonl"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: s.layout.inbox.path), ["sub-star.eval.jsonl"], "no temporary left")
        XCTAssertEqual(try PromptFile.read(s.layout.inbox.appendingPathComponent("sub-star.eval.jsonl")), suite[1].test.enumerated().map {
            var r = $1; r.line = $0 + 1; return r
        })
        XCTAssertEqual(JobName.parse(fileName: "sub-star.eval.jsonl").evaluation, .on)
    }

    func testFindsReportsByInputFileEvenUnderAnotherJobName() throws {
        let s = try serving()
        for (job, file) in [("sub-star-2", "sub-star.eval.jsonl"), ("mine", "mine.jsonl")] {
            let dir = s.layout.outbox.appendingPathComponent(job)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try report(job: job, file: file).write(to: dir)
        }
        var seen: [(Int, Int)] = []
        let found = try s.wait(for: ["sub-star": "sub-star.eval.jsonl"], alive: { nil }, logTail: { "" }, timeout: 60) { seen.append(($0, $1)) }
        XCTAssertEqual(found["sub-star"]?.job, "sub-star-2")
        XCTAssertEqual(seen.last.map { [$0.0, $0.1] }, [1, 1])
    }

    func testFailedDropAndDeadDaemonAreErrorsNamingWhereToLook() throws {
        let s = try serving()
        let failed = s.layout.failed.appendingPathComponent("sub-star")
        try FileManager.default.createDirectory(at: failed, withIntermediateDirectories: true)
        let err = FailedJob.Report(job: "sub-star", file: "sub-star.eval.jsonl", kind: .input, what: "line 2 is not valid JSON", where: "line 2",
                                   line: 2, fix: "fix the line", failedAt: Date())
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .iso8601
        try enc.encode(err).write(to: failed.appendingPathComponent("error.json"))
        XCTAssertThrowsError(try s.wait(for: ["sub-star": "sub-star.eval.jsonl"], alive: { nil }, logTail: { "" }, timeout: 60) { _, _ in }) {
            let m = "\($0)"
            XCTAssertTrue(m.contains(failed.path) && m.contains("line 2 is not valid JSON") && m.contains("daemon.log"), m)
        }
        XCTAssertThrowsError(try s.wait(for: ["x": "x.eval.jsonl"], alive: { 3 }, logTail: { "  the last line" }, timeout: 60) { _, _ in }) {
            let m = "\($0)"
            XCTAssertTrue(m.contains("exited (status 3)") && m.contains("the last line"), m)
        }
    }

    func testRemovesOnlyTheDemosOwnResults() throws {
        let s = try serving()
        for name in ["sub-star", "old-job", "mine"] {
            try FileManager.default.createDirectory(at: s.layout.outbox.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        try s.recordResults(["old-job"])
        try s.removePreviousResults(names: ["sub-star"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: s.layout.outbox.path), ["mine"])
    }

    func testDefaultConfigIsWrittenOnlyWhenAbsent() throws {
        let s = try serving()
        try DemoServing.writeDefaultConfig(s.layout)
        let (config, keys) = try DaemonConfig.load(s.layout)
        XCTAssertEqual(config.keepDoneDays, 0)
        XCTAssertEqual(keys, ["keep_done_days"])
        try Data("debounce_seconds = 5\n".utf8).write(to: s.layout.configFile)
        try DemoServing.writeDefaultConfig(s.layout)
        XCTAssertEqual(try String(contentsOf: s.layout.configFile, encoding: .utf8), "debounce_seconds = 5\n", "the user's config is kept")
    }
}
