@testable import Daemon
import DaemonTestSupport
import DNDTestSupport
import FileKit
import Foundation
import Logging
import Workspace
import XCTest

/// The daemon's loop in this process, watched event by event: a flood is claimed in steps, and ticks (the watchdog)
/// and finished jobs are handled between them instead of waiting behind the whole burst.
final class DaemonLoopTests: XCTestCase {
    final class Recorder: @unchecked Sendable {
        let lock = NSLock()
        var events: [String] = []
        /// Files claimed when each event was taken up.
        var claimedAt: [Int] = []
        var claimed = 0
        var lines: [String] = []
        func add(_ e: Daemon.Event) {
            let kind: String
            switch e {
            case .wake: kind = "wake"
            case .tick: kind = "tick"
            case .claimMore: kind = "claimMore"
            case .jobDone: kind = "jobDone"
            case .retrainDone: kind = "retrainDone"
            case .shutdown: kind = "shutdown"
            }
            lock.lock(); events.append(kind); claimedAt.append(claimed); lock.unlock()
        }
        func log(_ line: String) {
            lock.lock(); lines.append(line); if line.hasPrefix("claimed ") { claimed += 1 }; lock.unlock()
        }
        var snapshot: (events: [String], claimedAt: [Int], lines: [String]) { lock.lock(); defer { lock.unlock() }; return (events, claimedAt, lines) }
    }

    struct MemoryLog: LogHandler {
        let recorder: Recorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
        func log(event: LogEvent) { recorder.log("\(event.message)") }
    }

    /// Polls without blocking Swift's cooperative pool (the daemon's loop runs there).
    func eventually(timeout: Double, _ condition: () -> Bool) async throws {
        let end = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < end else { XCTFail("timed out after \(timeout) s"); return }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    func testAFloodIsClaimedInStepsWithTicksAndFinishedJobsBetween() async throws {
        let dir = TestSupport.temporaryDirectory("dnd-loop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = RootLayout(root: dir.appendingPathComponent("root"))
        try layout.prepare()
        try Data("rescan_seconds = 600\nsettle_seconds = 600\n".utf8).write(to: layout.configFile)  // inotify alone
        try FakeWorker.installInitialGenerator(root: layout.root)
        let recorder = Recorder()
        let daemon = Daemon(layout: layout, worker: FakeWorker(), logger: Logger(label: "dnd") { _ in MemoryLog(recorder: recorder) },
                            tickSeconds: 0.005)
        daemon.observe = { recorder.add($0) }
        let serving = Task { try await daemon.run() }
        try await eventually(timeout: 20) { (try? StatusFile.read(layout: layout))??.state == .running }

        let files = 400
        let staging = dir.appendingPathComponent("staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        for i in 0..<files { try Data("{\"prompt\": \"flood \(i)\"}\n".utf8).write(to: staging.appendingPathComponent("f\(i).jsonl")) }
        for i in 0..<files {
            XCTAssertEqual(rename(staging.appendingPathComponent("f\(i).jsonl").path, layout.inbox.appendingPathComponent("f\(i).jsonl").path), 0)
        }
        try await eventually(timeout: 300) { FolderCount.entries(layout.outbox) { _ in true } == files }
        daemon.stop()
        _ = try await serving.value

        let (events, claimedAt, lines) = recorder.snapshot
        // 400 inotify events reached the loop as a handful of wakes.
        XCTAssertEqual(daemon.wakes.counts.added, files)
        XCTAssertLessThan(events.filter { $0 == "wake" }.count, files / 10, "\(events.filter { $0 == "wake" }.count) wakes")
        // Claimed in steps: no event claimed more than `claimBatch` files...
        let steps = zip(claimedAt, claimedAt.dropFirst() + [files]).map { $1 - $0 }
        XCTAssertLessThanOrEqual(steps.max() ?? 0, DaemonLoop.claimBatch)
        XCTAssertLessThanOrEqual(claimedAt.first ?? 0, DaemonLoop.claimBatch)
        // ...and between the first and the last step, ticks (the watchdog) and finished jobs were handled.
        let first = try XCTUnwrap(claimedAt.firstIndex { $0 > 0 }), last = try XCTUnwrap(claimedAt.lastIndex { $0 < files })
        XCTAssertTrue(events[first...last].contains("tick"), "no tick between the claim steps")
        XCTAssertTrue(events[first...last].contains("jobDone"), "no job finished between the claim steps")
        // The first adapter went out before the flood was claimed.
        let firstDelivered = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("delivered job") })
        let lastClaimed = try XCTUnwrap(lines.lastIndex { $0.hasPrefix("claimed ") })
        XCTAssertLessThan(firstDelivered, lastClaimed)
        // Each file exactly once.
        XCTAssertEqual(lines.filter { $0.hasPrefix("claimed ") }.count, files)
        XCTAssertEqual(Rename.names(layout.inbox), [])
        XCTAssertEqual(Rename.names(layout.queued), [])
        XCTAssertEqual(Rename.names(layout.done).count, files)
    }
}
