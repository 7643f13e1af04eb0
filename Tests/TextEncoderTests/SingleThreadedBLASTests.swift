import Foundation
import TensorCore
@testable import TextEncoder
import XCTest

final class SingleThreadedBLASTests: XCTestCase {
    func testNestedAndConcurrentRegionsRestoreTheThreadCount() {
        let before = BLAS.threads
        SingleThreadedBLAS.run {
            XCTAssertEqual(BLAS.threads, 1)
            SingleThreadedBLAS.run { XCTAssertEqual(BLAS.threads, 1) }
            XCTAssertEqual(BLAS.threads, 1, "an inner region does not restore early")
        }
        XCTAssertEqual(BLAS.threads, before)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            SingleThreadedBLAS.run { XCTAssertEqual(BLAS.threads, 1); usleep(2000) }
        }
        XCTAssertEqual(BLAS.threads, before)
    }
}
