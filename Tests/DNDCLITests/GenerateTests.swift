import DNDTestSupport
import Foundation
import LoRA
import Prompts
import XCTest

/// `dnd generate` refuses bad prompt files with one line naming the file, the line and the problem.
final class GenerateTests: XCTestCase {
    func testBadInputsGiveOneLineErrors() throws {
        let dir = TestSupport.temporaryDirectory()
        let cases: [(String, Data, [String])] = [
            ("empty.jsonl", Data(), ["empty"]),
            ("broken.jsonl", Data("{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n{\"prompt\": oops}\n".utf8), ["line 3", "not valid JSON"]),
            ("noprompt.jsonl", Data("{\"question\": \"a\"}\n".utf8), ["line 1", "no \"prompt\" field"]),
            ("binary.jsonl", Data([0x00, 0x01, 0xFE, 0xFF, 0x00]), ["binary data"]),
        ]
        for (name, data, parts) in cases {
            let file = dir.appendingPathComponent(name)
            try data.write(to: file)
            let r = try TestSupport.runDND(["generate", "--prompts", file.path, "--out", dir.appendingPathComponent("out-\(name)").path,
                                            "--generator", dir.path])
            XCTAssertNotEqual(r.status, 0, name)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(file.path), r.stderr)
            for p in parts { XCTAssertTrue(r.stderr.contains(p), "\(name): '\(p)' in \(r.stderr)") }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("out-\(name)").path))
        }
    }

    func testMissingGeneratorSaysHowToGetOne() throws {
        let dir = TestSupport.temporaryDirectory()
        let file = dir.appendingPathComponent("ok.jsonl")
        try Data("{\"prompt\": \"a\"}\n".utf8).write(to: file)
        let r = try TestSupport.runDND(["generate", "--prompts", file.path, "--out", dir.appendingPathComponent("o").path, "--generator", dir.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no trained generator") && r.stderr.contains("dnd train"), r.stderr)
    }

    /// A real generation from a trained root: base_model_name_or_path by the rules, adapter.gguf written with the rest,
    /// nothing left beside the folder.
    func testGeneratedFoldersCarryTheBaseModelsNameAndAdapterGGUF() throws {
        let root = try ServeTests.trainedRoot()
        let prompts = root.appendingPathComponent("new.jsonl")
        try PromptFile.write([PromptRecord(prompt: "Rewrite item 40 in upper style.", line: 1)], to: prompts)
        let base = TestSupport.fixture("tiny-qwen2").standardizedFileURL.path
        func generate(_ out: String, _ extra: [String]) throws -> (status: Int32, stdout: String, stderr: String, config: [String: Any]) {
            let r = try TestSupport.runDND(["generate", "--prompts", prompts.path, "--out", root.appendingPathComponent(out).path, "--root", root.path] + extra)
            let cfg = (try? TestSupport.json(root.appendingPathComponent("\(out)/adapter_config.json"))) as? [String: Any] ?? [:]
            return (r.status, r.stdout, r.stderr, cfg)
        }
        // No base model known and the zoo's name "tiny-qwen2" is relative: null, and no adapter.gguf.
        let plain = try generate("plain", [])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.config["base_model_name_or_path"] is NSNull, "\(plain.config)")
        XCTAssertTrue(plain.stdout.contains("base_model_name_or_path: null (the generator's zoo names 'tiny-qwen2', a relative path"), plain.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("plain/adapter.gguf").path))
        // --base: its absolute path, and adapter.gguf.
        let withBase = try generate("with-base", ["--base", TestSupport.fixture("tiny-qwen2").path])
        XCTAssertEqual(withBase.status, 0, withBase.stderr)
        XCTAssertEqual(withBase.config["base_model_name_or_path"] as? String, base)
        XCTAssertTrue(withBase.stdout.contains("adapter.gguf: qwen2"), withBase.stdout)
        let folder = root.appendingPathComponent("with-base")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(),
                       ["adapter.gguf", "adapter_config.json", "adapter_model.safetensors", "report.html", "report.json"])
        XCTAssertEqual(try GGUFLoRA.check(folder.appendingPathComponent("adapter.gguf")), Set(try LoRAAdapter(folder: folder).sites))
        // --base-model-name overrides; a relative path in it is made absolute.
        let named = try generate("named", ["--base", TestSupport.fixture("tiny-qwen2").path, "--base-model-name", "Qwen/tiny-test"])
        XCTAssertEqual(named.config["base_model_name_or_path"] as? String, "Qwen/tiny-test")
        let relative = try generate("relative", ["--base-model-name", "./models/tiny"])
        XCTAssertEqual(relative.config["base_model_name_or_path"] as? String,
                       URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("models/tiny").standardizedFileURL.path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasPrefix(".") }, [], "no temporary folder left")
        let report = try XCTUnwrap(TestSupport.json(folder.appendingPathComponent("report.json")) as? [String: Any])
        XCTAssertEqual((report["gguf"] as? [String: Any])?["file"] as? String, "adapter.gguf")
        XCTAssertTrue(((report["usage"] as? [String: [String]])?["peft"] ?? []).contains("model = PeftModel.from_pretrained(base, \"\(folder.path)\")"))
    }
}
