import DNDTestSupport
import Foundation
import XCTest

final class InspectTests: XCTestCase {
    func testVersionAndHelp() throws {
        let v = try TestSupport.runDND(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertEqual(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
        let h = try TestSupport.runDND(["--help"])
        XCTAssertTrue(h.stdout.contains("inspect"))
        XCTAssertTrue(h.stdout.contains("bench"))
    }

    func testInspectListsFixtureTensors() throws {
        let r = try TestSupport.runDND(["inspect", TestSupport.fixture("hyperconv/input.safetensors").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("3 tensors"))
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("x ") })
        XCTAssertTrue(line.contains("F32"))
        XCTAssertTrue(line.contains("[2, 4, 8, 12]"))
    }

    func testInspectRefusesBadFilesWithOneLineError() throws {
        let dir = TestSupport.temporaryDirectory()
        let data = try Data(contentsOf: TestSupport.fixture("hyperconv/input.safetensors"))
        let cut = dir.appendingPathComponent("cut.safetensors")
        try data.prefix(data.count / 2).write(to: cut)
        let r = try TestSupport.runDND(["inspect", cut.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(cut.path) && r.stderr.contains("truncated"), r.stderr)
    }
}
