import Daemon
import DaemonTestSupport
import DNDTestSupport
import Foundation
import XCTest

final class SystemdNotifyTests: XCTestCase {
    func testSendsDatagramsToThePathInNotifySocket() {
        let dir = TestSupport.temporaryDirectory("dnd-notify")
        let sock = NotifySocket(path: dir.appendingPathComponent("notify").path)
        let n = SystemdNotify(environment: ["NOTIFY_SOCKET": sock.path])
        XCTAssertTrue(n.isActive)
        n.ready(status: "idle")
        n.watchdog()
        n.status("running a")
        n.stopping(status: "bye")
        XCTAssertEqual(sock.receive(for: 0.3), ["READY=1\nSTATUS=idle", "WATCHDOG=1", "STATUS=running a", "STOPPING=1\nSTATUS=bye"])
    }

    func testWithoutNotifySocketNothingIsSent() {
        let n = SystemdNotify(environment: [:])
        XCTAssertFalse(n.isActive)
        XCTAssertFalse(n.send("READY=1"))
        XCTAssertNil(n.watchdogInterval)
    }

    func testWatchdogIntervalIsHalfOfWatchdogUsecForThisProcess() {
        XCTAssertEqual(SystemdNotify(environment: ["WATCHDOG_USEC": "4000000"]).watchdogInterval, 2)
        XCTAssertEqual(SystemdNotify(environment: ["WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "\(getpid())"]).watchdogInterval, 2)
        XCTAssertNil(SystemdNotify(environment: ["WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"]).watchdogInterval)
        XCTAssertNil(SystemdNotify(environment: ["WATCHDOG_USEC": "0"]).watchdogInterval)
    }
}
