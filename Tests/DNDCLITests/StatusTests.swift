import DNDTestSupport
import Foundation
import Workspace
import XCTest

final class StatusTests: XCTestCase {
    func testStatusOfARootWhereNoDaemonRuns() throws {
        let root = TestSupport.temporaryDirectory("dnd-cli-status")
        let layout = RootLayout(root: root)
        try layout.prepare()
        try Data("{\"prompt\":\"a\"}".utf8).write(to: layout.inbox.appendingPathComponent("waiting.jsonl"))
        try Data().write(to: layout.inbox.appendingPathComponent(".ignored"))
        let r = try TestSupport.runDND(["status", "--root", root.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
        root: \(layout.root.path)
        daemon: not running, never ran on this root
        queue: inbox 1, queued 0, running 0, done 0, failed 0, outbox 0

        """)
        let j = try TestSupport.runDND(["status", "--root", root.path, "--json"])
        let obj = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(obj["running"] as? Bool, false)
        XCTAssertEqual((obj["queue"] as? [String: Int])?["inbox"], 1)
        XCTAssertNil(obj["status"])
    }

    func testStatusOfAMissingRoot() throws {
        let r = try TestSupport.runDND(["status", "--root", "/nonexistent/dnd-root"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: /nonexistent/dnd-root: no dnd root here; start `dnd serve` (or pass --root DIR)\n")
    }

    func testStatusReadsTheRootFromDNDRoot() throws {
        let root = TestSupport.temporaryDirectory("dnd-cli-status")
        try RootLayout(root: root).prepare()
        let r = try TestSupport.runDND(["status"], environment: ["DND_ROOT": root.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("root: \(RootLayout(root: root).root.path)\n"), r.stdout)
    }
}
