import DaemonTestSupport
import DNDTestSupport
import Foundation
import LoRA
import TensorCore
import XCTest
import Prompts

/// `dnd install-generator`: validated against the root, installed by the store's atomic swap, refused while the
/// daemon runs. (A generator from dnd_torch is installed and served in TorchTrainingTests.)
final class InstallGeneratorTests: XCTestCase {
    /// A generator folder trained by `dnd train` on another root with the same zoo shapes, copied out.
    static func generatorFolder() throws -> URL {
        let other = try ServeTests.trainedRoot()
        let copy = TestSupport.temporaryDirectory("dnd-gen").appendingPathComponent("gen")
        try FileManager.default.copyItem(at: other.appendingPathComponent("state/generator").resolvingSymlinksInPath(), to: copy)
        return copy
    }

    func testInstallsAValidatedCopyAndSwapsTheLink() throws {
        let gen = try Self.generatorFolder()
        let root = TestSupport.temporaryDirectory("dnd-install")
        try ServeTests.addDatasets(["upper"], to: root, seed: 4)
        let r = try TestSupport.runDND(["install-generator", gen.path, "--root", root.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("note: trained on datasets not in this root's checkpoints/: digits, lower"), r.stdout)
        let identity = try XCTUnwrap((TestSupport.json(gen.appendingPathComponent("pipeline.json")) as? [String: Any])?["identity"] as? String)
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: root.appendingPathComponent("state/generator").path)
        XCTAssertEqual(link, "generators/\(identity)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: gen.appendingPathComponent("generator.safetensors").path), "the source stays")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("state").path)
        XCTAssertFalse(names.contains { $0.hasPrefix(".install") }, "\(names)")
        let prompts = root.appendingPathComponent("new.jsonl"), out = root.appendingPathComponent("adapter")
        try PromptFile.write([PromptRecord(prompt: "Rewrite item 40 in upper style.", line: 1)], to: prompts)
        let g = try TestSupport.runDND(["generate", "--prompts", prompts.path, "--out", out.path, "--root", root.path])
        XCTAssertEqual(g.status, 0, g.stderr)
    }

    func testRejectsAGeneratorThatDoesNotFitTheRoot() throws {
        let gen = try Self.generatorFolder()
        // Rank 2 checkpoints: the generator emits rank 4.
        let root = TestSupport.temporaryDirectory("dnd-install-misfit")
        let folder = root.appendingPathComponent("checkpoints/wide")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try PromptFile.write([PromptRecord(prompt: "one", line: 1)], to: folder.appendingPathComponent("prompts.jsonl"))
        var rng = SeededRNG(seed: 1)
        var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for l in 0..<2 {
            w[LoRASite(layer: l, module: .q_proj)] = (Tensor.randomNormal([2, 64], rng: &rng), Tensor.randomNormal([64, 2], rng: &rng))
            w[LoRASite(layer: l, module: .v_proj)] = (Tensor.randomNormal([2, 64], rng: &rng), Tensor.randomNormal([32, 2], rng: &rng))
        }
        try LoRAAdapter(config: LoRAConfig(r: 2, loraAlpha: 4, targetModules: [.q_proj, .v_proj], baseModel: "tiny-qwen2"), weights: w)
            .write(to: folder.appendingPathComponent("checkpoint-1"))
        let r = try TestSupport.runDND(["install-generator", gen.path, "--root", root.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("emits rank 4 adapters") && r.stderr.contains("are rank 2"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("state/generator").path))

        // Weights changed after pipeline.json was written.
        let tampered = root.appendingPathComponent("tampered")
        try FileManager.default.copyItem(at: gen, to: tampered)
        var meta = try XCTUnwrap(TestSupport.json(tampered.appendingPathComponent("pipeline.json")) as? [String: Any])
        meta["identity"] = "gen-0000000000000000"
        try JSONSerialization.data(withJSONObject: meta).write(to: tampered.appendingPathComponent("pipeline.json"))
        let t = try TestSupport.runDND(["install-generator", tampered.path, "--root", TestSupport.temporaryDirectory("dnd-install-t").path])
        XCTAssertNotEqual(t.status, 0)
        XCTAssertTrue(t.stderr.contains("but the weights hash to"), t.stderr)
        let missing = try TestSupport.runDND(["install-generator", root.path, "--root", root.path])
        XCTAssertTrue(missing.stderr.contains("no trained generator here"), missing.stderr)
    }

    func testRefusedWhileTheDaemonRuns() throws {
        let gen = try Self.generatorFolder()
        let root = TestSupport.temporaryDirectory("dnd-install-busy")
        let daemon = try DaemonProcess(root: root, daemon: DaemonUnderTest(binary: TestSupport.dndBinary, arguments: ["serve"]))
        defer { daemon.killHard() }
        XCTAssertTrue(waitUntil(timeout: 60) { (try? TestSupport.runDND(["status", "--root", root.path]))?.stdout.contains(", pid ") ?? false }, daemon.log)
        let r = try TestSupport.runDND(["install-generator", gen.path, "--root", root.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("`dnd serve` is running on this root"), r.stderr)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(timeout: 30), 0, daemon.log)
    }
}
