import Daemon
import Foundation
import XCTest

final class WakeCoalescerTests: XCTestCase {
    func testABurstPostsOneEventUntilTheLoopDrainsIt() {
        let w = WakeCoalescer()
        XCTAssertTrue(w.add(.inbox(name: "a")))
        for i in 0..<999 { XCTAssertFalse(w.add(.inbox(name: "f\(i)"))) }
        XCTAssertFalse(w.add(.checkpoints))
        let b = w.drain()
        XCTAssertEqual(b.names.count, 1000)
        XCTAssertEqual(b.names.first, "a")
        XCTAssertTrue(b.checkpoints)
        XCTAssertFalse(b.overflow)
        XCTAssertEqual(w.drain(), WakeCoalescer.Batch())
        XCTAssertTrue(w.add(.overflow))  // after a drain, the next wake posts again
        XCTAssertTrue(w.drain().overflow)
        XCTAssertEqual(w.counts.added, 1002)
        XCTAssertEqual(w.counts.posted, 2)
    }
}
