import Daemon
import DaemonTestSupport
import DNDTestSupport
import Foundation
import XCTest

final class WatcherTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = TestSupport.temporaryDirectory("dnd-watch") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func testReadinessRules() throws {
        var r = InboxReadiness(settleSeconds: 10)
        let t0 = Date()
        try Data("x".utf8).write(to: dir.appendingPathComponent("early.jsonl"))
        try Data("x".utf8).write(to: dir.appendingPathComponent(".hidden.jsonl"))
        try Data("x".utf8).write(to: dir.appendingPathComponent("draft.jsonl~"))
        XCTAssertEqual(r.candidates(in: dir, now: t0), ["early.jsonl"])  // present at start-up
        r.forget("early.jsonl")
        try FileManager.default.removeItem(at: dir.appendingPathComponent("early.jsonl"))
        // A file that appears later is taken on its inotify event, or after it settled.
        try Data("x".utf8).write(to: dir.appendingPathComponent("writing.jsonl"))
        try Data("x".utf8).write(to: dir.appendingPathComponent("done.jsonl"))
        r.markReady("done.jsonl")
        XCTAssertEqual(r.candidates(in: dir, now: t0), ["done.jsonl"])
        XCTAssertEqual(r.candidates(in: dir, now: t0 + 9), ["done.jsonl"])
        XCTAssertEqual(Set(r.candidates(in: dir, now: t0 + 10)), ["done.jsonl", "writing.jsonl"])
        // A change restarts the settle time.
        try Data("xy".utf8).write(to: dir.appendingPathComponent("writing.jsonl"))
        XCTAssertEqual(r.candidates(in: dir, now: t0 + 11), ["done.jsonl"])
        // Links and FIFOs are taken as soon as seen (and refused later).
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link.jsonl").path, withDestinationPath: "/etc/hostname")
        XCTAssertEqual(mkfifo(dir.appendingPathComponent("fifo.jsonl").path, 0o644), 0)
        XCTAssertEqual(Set(r.candidates(in: dir, now: t0 + 12)), ["done.jsonl", "link.jsonl", "fifo.jsonl"])
    }

    func testReadyNamesWaitFirstInFirstOutWithoutListingTheInbox() throws {
        var r = InboxReadiness(settleSeconds: 10)
        for n in ["b.jsonl", "a.jsonl", ".hidden.jsonl", "draft.jsonl~", "b.jsonl", "c.jsonl"] { r.markReady(n) }
        XCTAssertEqual(r.waitingCount, 3)  // ignored names never wait, a second report is one name
        XCTAssertEqual(r.next(), "b.jsonl")
        r.forget("b.jsonl")
        r.forget("c.jsonl")  // gone before its turn
        XCTAssertEqual(r.next(), "a.jsonl")
        XCTAssertNil(r.next())
        XCTAssertFalse(r.hasWaiting)
        // The listing (start-up, rescans) adds what is there, once.
        try Data("x".utf8).write(to: dir.appendingPathComponent("old.jsonl"))
        XCTAssertEqual(r.rescan(dir), 1)
        XCTAssertEqual(r.rescan(dir), 0)
        XCTAssertEqual(r.next(), "old.jsonl")
        for i in 0..<5000 { r.markReady("n\(i)") }
        for i in 0..<5000 { XCTAssertEqual(r.next(), "n\(i)") }
        XCTAssertNil(r.next())
    }

    func testInotifyReportsCompletedFilesOnlyAndCheckpointChanges() throws {
        let inbox = dir.appendingPathComponent("inbox"), ckpt = dir.appendingPathComponent("checkpoints")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: ckpt.appendingPathComponent("ds"), withIntermediateDirectories: true)
        final class Wakes: @unchecked Sendable {
            let lock = NSLock()
            var list: [Watcher.Wake] = []
            func add(_ w: Watcher.Wake) { lock.lock(); list.append(w); lock.unlock() }
            func get() -> [Watcher.Wake] { lock.lock(); defer { lock.unlock() }; return list }
            func clear() { lock.lock(); list = []; lock.unlock() }
        }
        let wakes = Wakes()
        let w = Watcher(inbox: inbox, checkpoints: ckpt) { wakes.add($0) }
        try w.start()
        defer { w.stop() }
        func seen() -> [Watcher.Wake] { wakes.get() }
        // Open for writing, not closed: no event yet.
        let fd = open(inbox.appendingPathComponent("slow.jsonl").path, O_WRONLY | O_CREAT, 0o644)
        _ = write(fd, "abc", 3)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(seen(), [])
        close(fd)
        XCTAssertTrue(waitUntil(timeout: 5) { seen() == [.inbox(name: "slow.jsonl")] }, "\(seen())")
        // Moved in (an atomic drop).
        try Data("x".utf8).write(to: dir.appendingPathComponent("staged.jsonl"))
        try FileManager.default.moveItem(at: dir.appendingPathComponent("staged.jsonl"), to: inbox.appendingPathComponent("moved.jsonl"))
        XCTAssertTrue(waitUntil(timeout: 5) { seen().contains(.inbox(name: "moved.jsonl")) }, "\(seen())")
        // A file deep under checkpoints/, including in a folder created after start.
        try Data("x".utf8).write(to: ckpt.appendingPathComponent("ds/prompts.jsonl"))
        XCTAssertTrue(waitUntil(timeout: 5) { seen().contains(.checkpoints) }, "\(seen())")
        wakes.clear()
        try FileManager.default.createDirectory(at: ckpt.appendingPathComponent("ds2/ckpt-1"), withIntermediateDirectories: true)
        XCTAssertTrue(waitUntil(timeout: 5) { seen().contains(.checkpoints) })
        Thread.sleep(forTimeInterval: 0.3)  // the new folder's watch is added by the event thread
        wakes.clear()
        try Data("x".utf8).write(to: ckpt.appendingPathComponent("ds2/ckpt-1/adapter_config.json"))
        XCTAssertTrue(waitUntil(timeout: 5) { seen().contains(.checkpoints) }, "\(seen())")
    }
}
