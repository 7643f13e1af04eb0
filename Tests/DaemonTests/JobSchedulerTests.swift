@testable import Daemon
import Foundation
import XCTest

final class JobSchedulerTests: XCTestCase {
    func testTheQueueIsFirstInFirstOutAndFollowsTheFolderAtRescans() {
        var s = JobScheduler(settleSeconds: 60)
        for j in ["a", "b", "c", "b"] { s.queuedJob(j) }
        XCTAssertEqual(s.queued.count, 3)
        XCTAssertEqual(s.takeNext(), "a")
        // queued/ now holds b (c was removed by hand) and d (put there by hand): the order follows, d last.
        s.reconcile(queuedListing: ["b", "d"])
        XCTAssertEqual(s.queued.all, ["b", "d"])
        XCTAssertEqual(s.takeNext(), "b")
        XCTAssertEqual(s.takeNext(), "d")
        XCTAssertNil(s.takeNext())
        for i in 0..<5000 { s.queuedJob("j\(i)") }
        for i in 0..<5000 { XCTAssertEqual(s.takeNext(), "j\(i)") }
        XCTAssertTrue(s.queued.isEmpty)
    }
}
