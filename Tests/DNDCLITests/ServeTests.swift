import Daemon
import DaemonTestSupport
import DNDTestSupport
import Foundation
import LLM
import LoRA
import Prompts
import TensorCore
import Workspace
import XCTest

/// The real `dnd serve` (pipeline worker) on a root trained with `dnd train`, with the tiny-qwen2 fixture as base model.
final class ServeTests: XCTestCase {
    /// A root whose zoo holds adapters shaped for tiny-qwen2 (q_proj 64→64, v_proj 64→32), trained with `dnd train`.
    static func trainedRoot(config: String = "") throws -> URL {
        let root = TestSupport.temporaryDirectory("dnd-serve")
        try addDatasets(["upper", "lower", "digits"], to: root, seed: 9)
        try Data("base_model = \"\(TestSupport.fixture("tiny-qwen2").path)\"\n\(config)".utf8).write(to: root.appendingPathComponent("config.toml"))
        let r = try TestSupport.runDND(["train", "--root", root.path, "--steps", "12", "--prompts", "4", "--length", "16", "--batch", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("trained generator gen-"), r.stdout)
        return root
    }

    /// Datasets of random tiny-qwen2-shaped checkpoints, written into a hidden folder and renamed into place.
    static func addDatasets(_ names: [String], to root: URL, seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        for d in names {
            let folder = root.appendingPathComponent("checkpoints/.\(d).part")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try PromptFile.write((0..<8).map { PromptRecord(prompt: "Rewrite item \($0) in \(d) style.", line: $0 + 1) },
                                 to: folder.appendingPathComponent("prompts.jsonl"))
            for c in 1...2 {
                var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
                for l in 0..<2 {
                    w[LoRASite(layer: l, module: .q_proj)] = (Tensor.randomNormal([4, 64], std: 0.1, rng: &rng), Tensor.randomNormal([64, 4], std: 0.01, rng: &rng))
                    w[LoRASite(layer: l, module: .v_proj)] = (Tensor.randomNormal([4, 64], std: 0.1, rng: &rng), Tensor.randomNormal([32, 4], std: 0.01, rng: &rng))
                }
                try LoRAAdapter(config: LoRAConfig(r: 4, loraAlpha: 8, targetModules: [.q_proj, .v_proj], baseModel: "tiny-qwen2"), weights: w)
                    .write(to: folder.appendingPathComponent("checkpoint-\(c)"))
            }
            XCTAssertEqual(rename(folder.path, root.appendingPathComponent("checkpoints/\(d)").path), 0)
        }
    }

    func drop(_ records: [PromptRecord], as name: String, into root: URL) throws {
        let tmp = root.appendingPathComponent(".\(name).part")
        try PromptFile.write(records, to: tmp)
        XCTAssertEqual(rename(tmp.path, root.appendingPathComponent("inbox/\(name)").path), 0)
    }

    func testDroppedSampleWithResponsesIsEvaluatedAgainstTheBaseModel() throws {
        let root = try Self.trainedRoot()
        let daemon = try DaemonProcess(root: root, daemon: DaemonUnderTest(binary: TestSupport.dndBinary, arguments: ["serve"]))
        defer { daemon.killHard() }
        XCTAssertTrue(waitUntil(timeout: 60) { FileManager.default.fileExists(atPath: root.appendingPathComponent("inbox").path) }, daemon.log)
        let records = (0..<5).map { PromptRecord(prompt: "Rewrite item \($0 + 20) in upper style.", response: "ITEM \($0 + 20)", line: $0 + 1) }
            + [PromptRecord(prompt: "Pick one for item 3.", choices: ["yes", "no"], correctChoice: 1, line: 6)]
        try drop(records, as: "sample.jsonl", into: root)
        try drop([PromptRecord(prompt: "no answers here", line: 1)], as: "plain.noeval.jsonl", into: root)
        let report = root.appendingPathComponent("outbox/sample/report.json")
        let plain = root.appendingPathComponent("outbox/plain/report.json")
        XCTAssertTrue(waitUntil(timeout: 120) { FileManager.default.fileExists(atPath: report.path) && FileManager.default.fileExists(atPath: plain.path) },
                      "no report; daemon log:\n\(daemon.log)")
        let json = try XCTUnwrap(TestSupport.json(report) as? [String: Any])
        let eval = try XCTUnwrap(json["evaluation"] as? [String: Any], "report: \(json)")
        let rows = try XCTUnwrap(eval["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["name"] as? String }, ["base", "base + dnd adapter"])
        XCTAssertEqual(rows.map { $0["records"] as? Int }, [6, 6])
        XCTAssertEqual(eval["metric"] as? String, "exact match (responses) and choice likelihood (choices)")
        XCTAssertEqual((json["generator"] as? [String: Any])?["trained_on"] as? [String], ["digits", "lower", "upper"])
        let folder = report.deletingLastPathComponent()
        let adapter = try LoRAAdapter(folder: folder)
        let base = TestSupport.fixture("tiny-qwen2").standardizedFileURL.path
        XCTAssertEqual(adapter.config.baseModelNameOrPath, base, "the base model's absolute path: its config.json names no hub id")
        let named = try XCTUnwrap(json["base_model"] as? [String: Any])
        XCTAssertEqual(named["rule"] as? String, "absolute path")
        // adapter.gguf came with the rest of the job, and dnd's engine reads it back to the PEFT adapter's logits.
        XCTAssertEqual(try GGUFLoRA.check(folder.appendingPathComponent("adapter.gguf")), Set(adapter.sites))
        let model = try CausalLM.load(TestSupport.fixture("tiny-qwen2"))
        let gguf = try model.loadAdapter(folder.appendingPathComponent("adapter.gguf"))
        XCTAssertEqual(try model.logits([5, 6, 7], adapter: gguf).maxAbsDifference(model.logits([5, 6, 7], adapter: adapter)), 0)
        let usage = try XCTUnwrap(json["usage"] as? [String: [String]])
        XCTAssertEqual(usage["llama_cpp"]?.last, "llama-server -m BASE.gguf --lora \(root.appendingPathComponent("outbox/sample/adapter.gguf").standardizedFileURL.path)")
        XCTAssertTrue(usage["vllm"]?.first?.hasPrefix("vllm serve \(base) --enable-lora --lora-modules sample=") ?? false, "\(usage)")
        let plainJSON = try XCTUnwrap(TestSupport.json(plain) as? [String: Any])
        XCTAssertNil(plainJSON["evaluation"])
        XCTAssertTrue((plainJSON["evaluation_skipped"] as? String)?.contains(".noeval") == true, "\(plainJSON)")

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(timeout: 30), 0, daemon.log)
        let status = try TestSupport.runDND(["status", "--root", root.path])
        XCTAssertEqual(status.status, 0, status.stderr)
    }

    func testNewCheckpointsRetrainTheGeneratorAndLaterJobsUseIt() throws {
        let root = try Self.trainedRoot(config: "debounce_seconds = 0.5\nbase_model_name = \"Qwen/tiny-qwen2-test\"\n")
        let daemon = try DaemonProcess(root: root, daemon: DaemonUnderTest(binary: TestSupport.dndBinary, arguments: ["serve"]))
        defer { daemon.killHard() }
        let first = root.appendingPathComponent("outbox/before/report.json")
        try drop([PromptRecord(prompt: "Rewrite item 1 in upper style.", line: 1)], as: "before.noeval.jsonl", into: root)
        XCTAssertTrue(waitUntil(timeout: 60) { FileManager.default.fileExists(atPath: first.path) }, daemon.log)
        let oldID = ((try TestSupport.json(first) as? [String: Any])?["generator"] as? [String: Any])?["identity"] as? String
        XCTAssertNotNil(oldID)

        try Self.addDatasets(["title"], to: root, seed: 10)
        XCTAssertTrue(waitUntil(timeout: 120) { daemon.log.contains("retraining finished: generator") }, daemon.log)
        let after = root.appendingPathComponent("outbox/after/report.json")
        try drop([PromptRecord(prompt: "Rewrite item 2 in title style.", line: 1)], as: "after.noeval.jsonl", into: root)
        XCTAssertTrue(waitUntil(timeout: 60) { FileManager.default.fileExists(atPath: after.path) }, daemon.log)
        let gen = try XCTUnwrap((TestSupport.json(after) as? [String: Any])?["generator"] as? [String: Any])
        XCTAssertNotEqual(gen["identity"] as? String, oldID)
        XCTAssertEqual(try LoRAAdapter(folder: after.deletingLastPathComponent()).config.baseModelNameOrPath, "Qwen/tiny-qwen2-test",
                       "base_model_name in config.toml wins")
        XCTAssertEqual(gen["trained_on"] as? [String], ["digits", "lower", "title", "upper"])
        XCTAssertEqual(daemon.log.components(separatedBy: "retraining started").count - 1, 1, daemon.log)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(timeout: 30), 0, daemon.log)
    }

    /// Issue 15.5: a daemon without its encoder says so at start-up, in `dnd status` and by never sending READY; it
    /// takes no file (none lands in failed/) and exits 78, which the unit does not restart in a loop.
    func testAMissingEncoderIsSaidAtStartUpInStatusAndByNoReady() throws {
        let root = TestSupport.temporaryDirectory("dnd-serve-noenc")
        let layout = RootLayout(root: root)
        try layout.prepare()
        try PromptFile.write([PromptRecord(prompt: "waiting", line: 1)], to: layout.inbox.appendingPathComponent("waiting.jsonl"))
        let sock = NotifySocket(path: root.appendingPathComponent("notify").path)
        let daemon = try DaemonProcess(root: root, environment: ["NOTIFY_SOCKET": sock.path],
                                       daemon: DaemonUnderTest(binary: TestSupport.dndBinary, arguments: ["serve", "--encoder", "/nonexistent/encoder"]))
        defer { daemon.killHard() }
        XCTAssertEqual(daemon.waitForExit(timeout: 60), 78, daemon.log)
        XCTAssertEqual(sock.receive(for: 0.3).filter { $0.contains("READY=1") }, [])
        XCTAssertTrue(daemon.log.contains("cannot serve: the sentence encoder is missing or unusable: /nonexistent/encoder: no such encoder folder"), daemon.log)
        let status = try XCTUnwrap(try StatusFile.read(layout: layout))
        XCTAssertEqual(status.state, .unusable)
        XCTAssertEqual(status.problems?.count, 1)
        XCTAssertEqual(Rename.names(layout.inbox), ["waiting.jsonl"])
        XCTAssertEqual(Rename.names(layout.failed), [])
        let r = try TestSupport.runDND(["status", "--root", root.path, "--encoder", "/nonexistent/encoder"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("daemon: not running (last seen unusable at "), r.stdout)
        XCTAssertEqual(r.stdout.components(separatedBy: "CANNOT SERVE: the sentence encoder is missing or unusable").count - 1, 1, r.stdout)
    }
}
