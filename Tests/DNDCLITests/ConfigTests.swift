import DNDTestSupport
import Foundation
import XCTest

final class ConfigTests: XCTestCase {
    func testEveryKeyWithValueDefaultAndHelp() throws {
        let root = TestSupport.temporaryDirectory("dnd-cli-config")
        try Data("max_queue = 5\nevaluation = \"off\"\n".utf8).write(to: root.appendingPathComponent("config.toml"))
        let r = try TestSupport.runDND(["config", "--root", root.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "# root: \(root.standardizedFileURL.path) (from --root)")
        let keys = lines.filter { !$0.hasPrefix("#") }.map { String($0.prefix { $0 != " " }) }
        XCTAssertEqual(keys, ["max_file_bytes", "max_prompts", "max_prompt_chars", "max_record_bytes", "max_queue", "debounce_seconds", "rescan_seconds",
                              "settle_seconds", "base_model", "base_model_name", "evaluation", "retrain", "stop_grace_seconds", "keep_done_days", "watchdog"])
        XCTAssertTrue(lines.contains { $0.hasPrefix("max_queue = 5 ") && $0.hasSuffix("# most jobs queued at once; further files wait in inbox/; default 1000 (set in config.toml)") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("debounce_seconds = 30 ") && $0.hasSuffix("; default 30") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("evaluation = \"off\" ") }, r.stdout)
    }

    func testABadConfigIsReportedWithItsFile() throws {
        let root = TestSupport.temporaryDirectory("dnd-cli-config")
        try Data("max_queue = 0\n".utf8).write(to: root.appendingPathComponent("config.toml"))
        let r = try TestSupport.runDND(["config", "--root", root.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: \(root.standardizedFileURL.path)/config.toml: `max_queue` = 0 must be at least 1\n")
    }
}
