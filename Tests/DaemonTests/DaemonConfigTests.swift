import Daemon
import DNDTestSupport
import Foundation
import Prompts
import Workspace
import XCTest

final class DaemonConfigTests: XCTestCase {
    func testMissingFileMeansDefaults() throws {
        let layout = RootLayout(root: TestSupport.temporaryDirectory("dnd-config"))
        let (config, set) = try DaemonConfig.load(layout)
        XCTAssertEqual(config, DaemonConfig())
        XCTAssertEqual(set, [])
        XCTAssertEqual(config.maxFileBytes, 64 << 20)
        XCTAssertEqual(config.debounceSeconds, 30)
        XCTAssertEqual(config.evaluation, .auto)
    }

    func testEveryKeyParses() throws {
        let text = """
        max_file_bytes = 1000
        max_prompts = 5
        max_prompt_chars = 50
        max_record_bytes = 900
        max_queue = 7
        debounce_seconds = 0.5
        rescan_seconds = 2
        settle_seconds = 0
        base_model = "models/qwen"
        base_model_name = "Qwen/Qwen2.5-0.5B-Instruct"
        evaluation = "off"
        retrain = false
        stop_grace_seconds = 3
        keep_done_days = 0
        watchdog = false
        """
        let (c, set) = try DaemonConfig.parse(text, origin: "config.toml")
        XCTAssertEqual(set.count, 15)
        XCTAssertEqual(c.maxFileBytes, 1000); XCTAssertEqual(c.maxPrompts, 5); XCTAssertEqual(c.maxPromptChars, 50)
        XCTAssertEqual(c.maxQueue, 7); XCTAssertEqual(c.debounceSeconds, 0.5); XCTAssertEqual(c.rescanSeconds, 2)
        XCTAssertEqual(c.settleSeconds, 0); XCTAssertEqual(c.baseModel, "models/qwen"); XCTAssertEqual(c.evaluation, .off)
        XCTAssertEqual(c.baseModelName, "Qwen/Qwen2.5-0.5B-Instruct")
        XCTAssertEqual(JobOptions.make(tag: .configDefault, config: c, baseModel: nil).baseModelName, "Qwen/Qwen2.5-0.5B-Instruct")
        XCTAssertNil(JobOptions.make(tag: .configDefault, config: DaemonConfig(), baseModel: nil).baseModelName, "\"\" is no setting")
        XCTAssertFalse(c.retrain); XCTAssertEqual(c.stopGraceSeconds, 3); XCTAssertEqual(c.keepDoneDays, 0); XCTAssertFalse(c.watchdog)
        XCTAssertEqual(c.limits, PromptLimits(maxFileBytes: 1000, maxPrompts: 5, maxPromptChars: 50, maxRecordBytes: 900))
        let layout = RootLayout(root: URL(fileURLWithPath: "/r"))
        XCTAssertEqual(c.baseModelFolder(layout)?.path, "/r/models/qwen")
        // Every key is documented, in the same set as the decoder knows.
        XCTAssertEqual(Set(c.documented().map(\.key)), set)
        XCTAssertEqual(c.documented().first { $0.key == "evaluation" }?.value, "\"off\"")
        XCTAssertEqual(c.documented().first { $0.key == "evaluation" }?.defaultValue, "\"auto\"")
    }

    func testErrorsNameTheFileKeyAndFix() {
        func message(_ text: String) -> String {
            do { _ = try DaemonConfig.parse(text, origin: "/r/config.toml"); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertEqual(message("max_prompt = 3"),
                       "/r/config.toml: unknown key 'max_prompt'; known keys: max_file_bytes, max_prompts, max_prompt_chars, max_record_bytes, max_queue, debounce_seconds, rescan_seconds, settle_seconds, base_model, base_model_name, evaluation, retrain, stop_grace_seconds, keep_done_days, watchdog (see `dnd config`)")
        XCTAssertEqual(message("max_prompts = \"many\""), "/r/config.toml: `max_prompts` must be an integer, e.g. max_prompts = 100000")
        XCTAssertEqual(message("max_queue = 0"), "/r/config.toml: `max_queue` = 0 must be at least 1")
        XCTAssertEqual(message("debounce_seconds = -1"), "/r/config.toml: `debounce_seconds` = -1 must be at least 0")
        XCTAssertTrue(message("base_model_name = 3").hasPrefix("/r/config.toml: `base_model_name` must be a string"), message("base_model_name = 3"))
        XCTAssertEqual(message("evaluation = \"sometimes\""), "/r/config.toml: `evaluation` must be one of \"auto\", \"off\"")
        XCTAssertEqual(message("retrain = 1"), "/r/config.toml: `retrain` must be true or false")
        XCTAssertTrue(message("a = = 1").hasPrefix("/r/config.toml: line 1: "), message("a = = 1"))
        XCTAssertTrue(message("root = \"/x\"").contains("unknown key 'root'; the root is moved with --root, DND_ROOT or `root` in"))
    }

    func testBaseModelDefaultsToRootBaseWhenPresent() throws {
        let layout = RootLayout(root: TestSupport.temporaryDirectory("dnd-config"))
        XCTAssertNil(DaemonConfig().baseModelFolder(layout))
        try FileManager.default.createDirectory(at: layout.base, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: layout.base.appendingPathComponent("config.json"))
        XCTAssertEqual(DaemonConfig().baseModelFolder(layout), layout.base)
    }

    /// base/ may hold a GGUF file (llama.cpp / Ollama) instead of a Hugging Face folder.
    func testBaseFolderHoldingAGGUFFileIsTheBaseModel() throws {
        let layout = RootLayout(root: TestSupport.temporaryDirectory("dnd-config"))
        try FileManager.default.createDirectory(at: layout.base, withIntermediateDirectories: true)
        try Data("not a model".utf8).write(to: layout.base.appendingPathComponent("README"))
        XCTAssertNil(DaemonConfig().baseModelFolder(layout))
        try FileManager.default.copyItem(at: TestSupport.fixture("gguf/tiny-qwen2/tiny-qwen2.gguf"), to: layout.base.appendingPathComponent("tiny.gguf"))
        XCTAssertEqual(DaemonConfig().baseModelFolder(layout), layout.base)
    }
}
