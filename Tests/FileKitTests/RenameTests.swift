import DNDTestSupport
import FileKit
import Foundation
import XCTest

final class RenameTests: XCTestCase {
    func testMoveNeverReplacesAndMovesLinksThemselves() throws {
        let dir = TestSupport.temporaryDirectory("dnd-rename")
        let a = dir.appendingPathComponent("a"), b = dir.appendingPathComponent("b")
        try Data("A".utf8).write(to: a)
        try Data("B".utf8).write(to: b)
        XCTAssertThrowsError(try Rename.move(a, to: b)) { XCTAssertEqual("\($0)", "\(b.path): already exists; cannot move \(a.path) there") }
        XCTAssertEqual(try String(contentsOf: b, encoding: .utf8), "B")
        let link = dir.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: a.path)
        let moved = dir.appendingPathComponent("moved")
        try Rename.move(link, to: moved)
        XCTAssertEqual(Rename.kind(moved), .symlink)
        XCTAssertEqual(Rename.kind(link), .missing)
        XCTAssertEqual(Rename.kind(a), .regular)
        XCTAssertThrowsError(try Rename.move(dir.appendingPathComponent("nothing"), to: dir.appendingPathComponent("x"))) {
            XCTAssertTrue("\($0)".contains("rename failed (No such file or directory)"), "\($0)")
        }
    }

    func testKinds() throws {
        let dir = TestSupport.temporaryDirectory("dnd-rename")
        XCTAssertEqual(Rename.kind(dir), .directory)
        XCTAssertEqual(Rename.kind(dir.appendingPathComponent("none")), .missing)
        XCTAssertEqual(mkfifo(dir.appendingPathComponent("f").path, 0o600), 0)
        XCTAssertEqual(Rename.kind(dir.appendingPathComponent("f")), .fifo)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("dangling").path, withDestinationPath: "/nonexistent")
        XCTAssertTrue(Rename.exists(dir.appendingPathComponent("dangling")))
        XCTAssertEqual(Rename.kind(URL(fileURLWithPath: "/dev/null")), .device)
    }
}
