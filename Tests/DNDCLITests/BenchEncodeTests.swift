import DNDTestSupport
import Foundation
import XCTest

/// Runs the benchmark at a tiny size to check it works end to end (its numbers are not asserted).
final class BenchEncodeTests: XCTestCase {
    func testPrintsOneRowPerLength() throws {
        let r = try TestSupport.runDND(["bench", "encode", "--model", TestSupport.encoderModel.path, "--batch", "2",
                                        "--lengths", "8", "--lengths", "16", "--repeats", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("8 ") || $0.trimmingCharacters(in: .whitespaces).hasPrefix("16 ") }
        XCTAssertEqual(rows.count, 2, r.stdout)
        XCTAssertTrue(r.stdout.contains("prompts/s") && r.stdout.contains("% of sgemm"), r.stdout)
        let tooLong = try TestSupport.runDND(["bench", "encode", "--model", TestSupport.encoderModel.path, "--lengths", "300", "--repeats", "1"])
        XCTAssertNotEqual(tooLong.status, 0)
        XCTAssertTrue(tooLong.stderr.contains("over the encoder's limit of 256"), tooLong.stderr)
    }
}
