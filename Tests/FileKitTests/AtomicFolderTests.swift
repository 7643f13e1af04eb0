import DNDTestSupport
import Foundation
import FileKit
import XCTest

final class AtomicFolderTests: XCTestCase {
    func testCreatesReplacesAndLeavesNothingBehindOnFailure() throws {
        let parent = TestSupport.temporaryDirectory()
        let dest = parent.appendingPathComponent("out")
        try AtomicFolder.write(dest) { try Data("one".utf8).write(to: $0.appendingPathComponent("a.txt")) }
        XCTAssertEqual(try String(contentsOf: dest.appendingPathComponent("a.txt"), encoding: .utf8), "one")
        try AtomicFolder.write(dest) { try Data("two".utf8).write(to: $0.appendingPathComponent("b.txt")) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dest.path), ["b.txt"])
        // A fill that throws keeps the previous folder whole and removes its temporary folder.
        XCTAssertThrowsError(try AtomicFolder.write(dest) { tmp in
            try Data("half".utf8).write(to: tmp.appendingPathComponent("c.txt"))
            throw DNDError("disk full")
        })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dest.path), ["b.txt"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent.path), ["out"])
        // A plain file in the way is refused with its path.
        let file = parent.appendingPathComponent("file")
        try Data().write(to: file)
        XCTAssertThrowsError(try AtomicFolder.write(file) { _ in }) { XCTAssertTrue("\($0)".contains(file.path)) }
    }
}
