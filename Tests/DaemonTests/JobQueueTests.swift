import Daemon
import DNDTestSupport
import FileKit
import Foundation
import Workspace
import XCTest

/// Every transition, and recovery from a stop at each point between them (the crash windows of JobQueue's doc).
final class JobQueueTests: XCTestCase {
    var layout: RootLayout!
    var queue: JobQueue!

    override func setUpWithError() throws {
        layout = RootLayout(root: TestSupport.temporaryDirectory("dnd-queue"))
        try layout.prepare()
        queue = JobQueue(layout: layout)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: layout.root) }

    func drop(_ name: String, _ text: String = "{\"prompt\":\"p\"}\n") throws {
        try Data(text.utf8).write(to: layout.inbox.appendingPathComponent(name))
    }

    func names(_ dir: URL) -> [String] { Rename.names(dir) }

    /// Writes complete fake results into tmp/<job>/.
    func writeResults(_ job: String) throws {
        let out = try queue.prepareOutput(job)
        for f in JobResults.files { try Data("x".utf8).write(to: out.appendingPathComponent(f)) }
    }

    func testClaimMovesTheFileIntoAJobFolder() throws {
        try drop("my prompts.jsonl", "{\"prompt\":\"hi\"}\n")
        let job = try queue.claim("my prompts.jsonl")
        XCTAssertEqual(job, "my_prompts")
        XCTAssertEqual(names(layout.inbox), [])
        XCTAssertEqual(names(queue.jobFolder(job, .queued)), ["my prompts.jsonl"])
        XCTAssertEqual(try String(contentsOf: queue.input(job, .queued)!, encoding: .utf8), "{\"prompt\":\"hi\"}\n")
    }

    func testClaimedNamesAreUniqueAcrossEveryState() throws {
        // One job named "a" in each place a name can be taken.
        try FileManager.default.createDirectory(at: layout.outbox.appendingPathComponent("a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: layout.failed.appendingPathComponent("a-2"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: layout.done.appendingPathComponent("a-3"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: layout.running.appendingPathComponent("a-4"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: layout.tmp.appendingPathComponent("a-5"), withIntermediateDirectories: true)
        try drop("a.jsonl")
        XCTAssertEqual(try queue.claim("a.jsonl"), "a-6")
        try drop("a.txt")
        XCTAssertEqual(try queue.claim("a.txt"), "a-7")
    }

    func testOurErrorFileNameIsNeverTheInputsName() throws {
        try drop("error.json", "[\"p\"]")
        let job = try queue.claim("error.json")
        XCTAssertEqual(names(queue.jobFolder(job, .queued)), ["original-error.json"])
        XCTAssertEqual(JobQueue.originalName("original-error.json"), "error.json")
        XCTAssertEqual(queue.input(job, .queued)?.lastPathComponent, "original-error.json")
    }

    func testHappyPathTransitions() throws {
        try drop("a.jsonl")
        let job = try queue.claim("a.jsonl")
        try queue.perform(.start, job: job)
        XCTAssertEqual(queue.jobs(.running), [job])
        XCTAssertEqual(queue.jobs(.queued), [])
        try writeResults(job)
        XCTAssertThrowsError(try queue.perform(.publish, job: job)) {  // publish only after the commit
            XCTAssertTrue("\($0)".contains("publish before complete"), "\($0)")
        }
        try queue.perform(.complete, job: job)
        XCTAssertEqual(queue.jobs(.done), [job])
        XCTAssertEqual(names(layout.outbox), [])  // committed, not yet visible
        try queue.perform(.publish, job: job)
        XCTAssertEqual(names(layout.outbox), [job])
        XCTAssertEqual(names(queue.delivered(job)), JobResults.files.sorted())
        XCTAssertEqual(names(layout.tmp), [])
    }

    func testRequeueAndFail() throws {
        try drop("a.jsonl", "oops")
        let job = try queue.claim("a.jsonl")
        try queue.perform(.start, job: job)
        try queue.perform(.requeue, job: job)
        XCTAssertEqual(queue.jobs(.queued), [job])
        try queue.perform(.start, job: job)
        let report = FailedJob.Report(job: job, file: "a.jsonl", kind: .input, what: "bad", where: "line 1", line: 1, fix: "fix it", failedAt: Date(timeIntervalSince1970: 0))
        try FailedJob.write(report, into: queue.jobFolder(job, .running))
        try queue.perform(.fail, job: job)
        XCTAssertEqual(names(layout.failed.appendingPathComponent(job)), ["a.jsonl", "error.json"])
        XCTAssertEqual(try String(contentsOf: layout.failed.appendingPathComponent(job).appendingPathComponent("a.jsonl"), encoding: .utf8), "oops")
        XCTAssertEqual(try FailedJob.read(layout.failed.appendingPathComponent(job)), report)
    }

    func testMovesNeverReplace() throws {
        try drop("a.jsonl")
        let job = try queue.claim("a.jsonl")
        try FileManager.default.createDirectory(at: queue.jobFolder(job, .running), withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: queue.jobFolder(job, .running).appendingPathComponent("other"))
        XCTAssertThrowsError(try queue.perform(.start, job: job)) { XCTAssertTrue("\($0)".contains("already exists"), "\($0)") }
        XCTAssertEqual(queue.jobs(.queued), [job])
        XCTAssertEqual(names(queue.jobFolder(job, .running)), ["other"])
    }

    func testJobsAreListedOldestFirst() throws {
        for (i, n) in ["c", "a", "b"].enumerated() {
            try drop("\(n).jsonl")
            try queue.claim("\(n).jsonl")
            let t = Date(timeIntervalSince1970: 1_000_000 + Double(i) * 10)
            try FileManager.default.setAttributes([.modificationDate: t], ofItemAtPath: queue.jobFolder(n, .queued).path)
        }
        XCTAssertEqual(queue.jobs(.queued), ["c", "a", "b"])
    }

    // MARK: - Recovery, one test per crash window

    func testRecoveryAfterACrashBetweenMkdirAndRenameOfAClaim() throws {
        try drop("a.jsonl")
        try FileManager.default.createDirectory(at: queue.jobFolder("a", .queued), withIntermediateDirectories: true)
        let r = try queue.recover()
        XCTAssertEqual(r.removedEmpty, ["a"])
        XCTAssertEqual(names(layout.queued), [])
        XCTAssertEqual(names(layout.inbox), ["a.jsonl"])  // claimed again by the next scan
    }

    func testRecoveryAfterACrashWhileRunningRequeuesAndDiscardsPartialResults() throws {
        try drop("a.jsonl")
        let job = try queue.claim("a.jsonl")
        try queue.perform(.start, job: job)
        let out = try queue.prepareOutput(job)
        try Data("half".utf8).write(to: out.appendingPathComponent("adapter_config.json"))
        let r = try queue.recover()
        XCTAssertEqual(r.requeued, [job])
        XCTAssertEqual(r.removedOutputs, [job])
        XCTAssertEqual(queue.jobs(.queued), [job])
        XCTAssertEqual(names(layout.tmp), [])
        XCTAssertEqual(names(layout.outbox), [])
    }

    func testRecoveryAfterACrashWithCompleteButUncommittedResultsRunsTheJobAgain() throws {
        try drop("a.jsonl")
        let job = try queue.claim("a.jsonl")
        try queue.perform(.start, job: job)
        try writeResults(job)
        let r = try queue.recover()
        XCTAssertEqual(r.requeued, [job])
        XCTAssertEqual(queue.jobs(.queued), [job])
        XCTAssertEqual(names(layout.outbox), [])
    }

    func testRecoveryAfterACrashBetweenCommitAndPublishPublishesOnce() throws {
        try drop("a.jsonl")
        let job = try queue.claim("a.jsonl")
        try queue.perform(.start, job: job)
        try writeResults(job)
        try queue.perform(.complete, job: job)
        let r = try queue.recover()
        XCTAssertEqual(r.published, [job])
        XCTAssertEqual(names(layout.outbox), [job])
        XCTAssertEqual(names(queue.delivered(job)), JobResults.files.sorted())
        // A second recovery (crash right after the first) changes nothing.
        XCTAssertEqual(try queue.recover(), JobQueue.Recovery())
        XCTAssertEqual(names(layout.outbox), [job])
        XCTAssertEqual(queue.jobs(.done), [job])
        XCTAssertEqual(queue.jobs(.queued), [])
    }

    func testRecoveryAfterPublishDoesNothingEvenWhenTheUserTookTheResults() throws {
        try drop("a.jsonl")
        let job = try queue.claim("a.jsonl")
        try queue.perform(.start, job: job)
        try writeResults(job)
        try queue.perform(.complete, job: job)
        try queue.perform(.publish, job: job)
        try FileManager.default.removeItem(at: queue.delivered(job))  // collected
        XCTAssertEqual(try queue.recover(), JobQueue.Recovery())
        XCTAssertEqual(names(layout.outbox), [])
        XCTAssertEqual(queue.jobs(.queued), [])
    }

    func testRecoveryPublishesBesideAHandMadeOutboxFolder() throws {
        try drop("a.jsonl")
        let job = try queue.claim("a.jsonl")
        try queue.perform(.start, job: job)
        try writeResults(job)
        try queue.perform(.complete, job: job)
        try FileManager.default.createDirectory(at: queue.delivered(job).appendingPathComponent("mine"), withIntermediateDirectories: true)
        let r = try queue.recover()
        XCTAssertEqual(r.published, [job])
        XCTAssertEqual(names(layout.outbox), ["a", "a-2"])
        XCTAssertEqual(names(layout.outbox.appendingPathComponent("a")), ["mine"])
        XCTAssertEqual(names(layout.outbox.appendingPathComponent("a-2")), JobResults.files.sorted())
    }

    func testRecoveryAfterACrashBeforeTheFailRenameRequeuesWithoutTheStaleReport() throws {
        try drop("a.jsonl", "oops")
        let job = try queue.claim("a.jsonl")
        try queue.perform(.start, job: job)
        let report = FailedJob.Report(job: job, file: "a.jsonl", kind: .input, what: "bad", where: nil, line: nil, fix: "fix", failedAt: Date())
        try FailedJob.write(report, into: queue.jobFolder(job, .running))
        try Data("partial".utf8).write(to: queue.jobFolder(job, .running).appendingPathComponent(".error.json.tmp-1-2"))
        let r = try queue.recover()
        XCTAssertEqual(r.requeued, [job])
        XCTAssertEqual(names(queue.jobFolder(job, .queued)), ["a.jsonl"])
    }

    func testRecoveryRemovesOrphanOutputs() throws {
        try FileManager.default.createDirectory(at: layout.tmp.appendingPathComponent("ghost"), withIntermediateDirectories: true)
        let r = try queue.recover()
        XCTAssertEqual(r.removedOutputs, ["ghost"])
        XCTAssertEqual(names(layout.tmp), [])
    }

    func testPruneDoneKeepsRecentJobs() throws {
        try drop("a.jsonl")
        let job = try queue.claim("a.jsonl")
        try queue.perform(.start, job: job)
        try queue.perform(.complete, job: job)
        XCTAssertEqual(queue.pruneDone(olderThanDays: 1), 0)
        XCTAssertEqual(queue.pruneDone(olderThanDays: 1, now: Date().addingTimeInterval(2 * 86_400)), 1)
        XCTAssertEqual(queue.jobs(.done), [])
    }
}
