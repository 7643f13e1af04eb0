import DNDTestSupport
import Foundation
import SafeTensors
import XCTest

/// `dnd debug logits` against the tiny-qwen2 reference logits.
final class DebugLogitsTests: XCTestCase {
    static let folder = TestSupport.fixture("tiny-qwen2")

    func run(adapter: Bool, expected: String) throws {
        let out = TestSupport.temporaryDirectory().appendingPathComponent("logits.safetensors")
        var args = ["debug", "logits", "--model", Self.folder.path, "--input", Self.folder.appendingPathComponent("inputs.json").path, "--out", out.path]
        if adapter { args += ["--adapter", Self.folder.appendingPathComponent("adapter").path] }
        let r = try TestSupport.runDND(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = try SafeTensorsFile(url: out), want = try SafeTensorsFile(url: Self.folder.appendingPathComponent(expected))
        XCTAssertEqual(Set(got.names), Set(want.names))
        var worst: Float = 0
        for n in want.names { worst = max(worst, try got.tensor(n).maxAbsDifference(want.tensor(n))) }
        print("dnd debug logits vs \(expected): max |Δ| = \(worst)")
        XCTAssertLessThan(worst, 1e-4)
    }

    func testMatchesReferenceWithAndWithoutAdapter() throws {
        try run(adapter: false, expected: "expected.safetensors")
        try run(adapter: true, expected: "expected_lora.safetensors")
    }

    func testBadInputsGiveOneLineErrors() throws {
        let dir = TestSupport.temporaryDirectory()
        let input = dir.appendingPathComponent("in.json")
        try "[[1, 2], [3, \"x\"]]".write(to: input, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("o.safetensors").path
        var r = try TestSupport.runDND(["debug", "logits", "--model", Self.folder.path, "--input", input.path, "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("element 1"), r.stderr)
        try "[[1, 2, 4000]]".write(to: input, atomically: true, encoding: .utf8)
        r = try TestSupport.runDND(["debug", "logits", "--model", Self.folder.path, "--input", input.path, "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("sequence 0") && r.stderr.contains("4000"), r.stderr)
        r = try TestSupport.runDND(["debug", "logits", "--model", dir.path, "--input", input.path, "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("config.json"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }
}
