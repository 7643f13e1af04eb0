import Daemon
import DNDTestSupport
import Foundation
import Workspace
import XCTest

final class StatusFileTests: XCTestCase {
    func sample(now: Date) -> DaemonStatus {
        var s = DaemonStatus(state: .running, pid: 42, root: "/r", startedAt: now - 3600, updatedAt: now - 1,
                             queue: ["queued": 2], runningJob: .init(job: "a", file: "a b.jsonl", startedAt: now - 5, generator: "gen-1"),
                             generator: .init(identity: "gen-1", id: "gen-1", datasets: ["arc", "boolq"], trainedAt: Date(timeIntervalSince1970: 0)),
                             retraining: .init(state: .waiting, since: now - 2, completed: 3, succeeded: 2, lastOK: false,
                                               lastError: "broken/prompts.jsonl: line 1: not valid JSON", lastFinishedAt: now - 600),
                             delivered: 7, failed: 1, lastErrors: [])
        for i in 0..<12 { s.recordError("e\(i)", job: i == 11 ? "j" : nil, now: Date(timeIntervalSince1970: Double(i))) }
        return s
    }

    func testErrorsKeepTheLastTen() {
        let s = sample(now: Date())
        XCTAssertEqual(s.lastErrors.map(\.message), (2..<12).map { "e\($0)" })
    }

    func testRoundTripAndRender() throws {
        let layout = RootLayout(root: TestSupport.temporaryDirectory("dnd-status"))
        try layout.prepare()
        XCTAssertNil(try StatusFile.read(layout: layout))
        let now = Date(timeIntervalSince1970: 2_000_000_000)
        let s = sample(now: now)
        try StatusFile.write(s, layout: layout)
        XCTAssertEqual(try StatusFile.read(layout: layout), s)
        let live = ["inbox": 1, "queued": 2, "running": 1, "done": 7, "failed": 1, "outbox": 7]
        let text = StatusFile.render(s, live: live, running: true, layout: layout, now: now)
        XCTAssertEqual(text, """
        root: \(layout.root.path)
        daemon: running, pid 42, up since 2033-05-18T02:33:20Z (status 1 s ago)
        queue: inbox 1, queued 2, running 1, done 7, failed 1, outbox 7
        running job: a (a b.jsonl), started 5 s ago, generator gen-1
        generator: gen-1, trained on arc, boolq at 1970-01-01T00:00:00Z
        retraining: waiting since 2 s ago, 3 finished (2 installed); last FAILED 10 min ago: broken/prompts.jsonl: line 1: not valid JSON (old generator kept)
        since start: 7 delivered, 1 failed
        last errors:
          1970-01-01T00:00:07Z e7
          1970-01-01T00:00:08Z e8
          1970-01-01T00:00:09Z e9
          1970-01-01T00:00:10Z e10
          1970-01-01T00:00:11Z [j] e11

        """)
        let stopped = StatusFile.render(s, live: live, running: false, layout: layout, now: now)
        XCTAssertTrue(stopped.contains("daemon: not running (last seen running at 2033-05-18T03:33:19Z)"), stopped)
        XCTAssertFalse(stopped.contains("running job: a"))
    }

    func testDaemonIsRunningFollowsTheLock() throws {
        let layout = RootLayout(root: TestSupport.temporaryDirectory("dnd-status"))
        try layout.prepare()
        XCTAssertFalse(InstanceLock.isHeld(layout))
        let fd = open(layout.lockFile.path, O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        XCTAssertFalse(InstanceLock.isHeld(layout))
        // flock locks belong to the open file description: a second open in this process sees it as another holder.
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        XCTAssertTrue(InstanceLock.isHeld(layout))
        flock(fd, LOCK_UN)
        XCTAssertFalse(InstanceLock.isHeld(layout))
    }
}
