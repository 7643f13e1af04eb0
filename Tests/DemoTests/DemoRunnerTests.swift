import DNDTestSupport
import Demo
import Foundation
import Pipeline
import Workspace
import XCTest

/// `dnd demo --size small`: the same path as `make demo` (pretraining, fine-tunes, generator training, the real daemon
/// as a child process, a held-out drop evaluated by it) at toy scale, then its caching and its bench.
final class DemoRunnerTests: XCTestCase {
    func demo(_ root: URL, _ extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try TestSupport.runDND(["demo", "--size", "small", "--root", root.path] + extra)
    }

    func testSmallDemoEndToEndThenCachedThenPartlyRebuilt() throws {
        let root = TestSupport.temporaryDirectory("dnd-demo").appendingPathComponent("root")
        let layout = RootLayout(root: root)

        // First run: every stage builds, the daemon evaluates the held-out drop.
        let first = try demo(root)
        XCTAssertEqual(first.status, 0, first.stderr + first.stdout)
        for stage in ["[1/5] data", "[2/5] base model", "[3/5] checkpoints", "[4/5] generator", "[5/5] serve"] {
            XCTAssertTrue(first.stdout.contains(stage), stage)
        }
        XCTAssertFalse(first.stdout.contains("cached:"), first.stdout)
        XCTAssertTrue(first.stdout.contains("dnd serve --root \(layout.root.path)"), "tells the user how to reuse the root")

        let report = try JSONDecoder().decode(GenerationReport.self, from: Data(contentsOf: layout.outbox.appendingPathComponent("sub-bracket/report.json")))
        let table = try XCTUnwrap(report.evaluation, report.evaluationSkipped ?? "no evaluation")
        XCTAssertEqual(table.rows.map(\.name), ["base", "base + dnd adapter"])
        XCTAssertEqual(table.rows.map(\.records), [6, 6])
        XCTAssertEqual(report.input.file, "sub-bracket.eval.jsonl")
        for f in ["adapter_config.json", "adapter_model.safetensors", "report.html"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: layout.outbox.appendingPathComponent("sub-bracket/\(f)").path), f)
        }
        XCTAssertTrue(first.stdout.contains("sub-bracket      in-domain"), first.stdout)

        // The zoo never holds the held-out dataset; the generator says what it was trained on and what was held out.
        XCTAssertFalse(FileManager.default.fileExists(atPath: layout.checkpoints.appendingPathComponent("sub-bracket").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: layout.checkpoints.appendingPathComponent("add-paren/checkpoint-6/adapter_model.safetensors").path))
        let bundle = try GeneratorBundle(folder: layout.generatorLink.resolvingSymlinksInPath())
        XCTAssertEqual(bundle.metadata.datasets, ["add-bracket", "add-paren"])
        XCTAssertEqual(bundle.metadata.holdout, ["sub-bracket"])
        XCTAssertEqual(report.generator.identity, bundle.metadata.identity)

        // The daemon was a real process, stopped by SIGTERM.
        let log = try String(contentsOf: DemoPaths(root: root).daemonLog, encoding: .utf8)
        XCTAssertTrue(log.contains("delivered job sub-bracket"), log)
        XCTAssertTrue(log.contains("stopped"), log)
        XCTAssertFalse(InstanceLock.isHeld(layout))

        // Second run: the four build stages are cached; the drop gets the same job name again.
        let second = try demo(root)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertEqual(second.stdout.components(separatedBy: "cached:").count - 1, 4, second.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: layout.outbox.appendingPathComponent("sub-bracket/report.json").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: layout.outbox.appendingPathComponent("sub-bracket-2").path))

        // A deleted dataset folder: only it is fine-tuned again, and the generator retrained on the changed zoo.
        try FileManager.default.removeItem(at: layout.checkpoints.appendingPathComponent("add-paren"))
        let third = try demo(root)
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertTrue(third.stdout.contains("cached: 3 datasets"), "data cached")
        XCTAssertTrue(third.stdout.contains("fine-tuned 1 of 2 datasets"), third.stdout)
        XCTAssertEqual(third.stdout.components(separatedBy: "cached:").count - 1, 2, "data and base model only: \(third.stdout)")
        let retrained = try GeneratorBundle(folder: layout.generatorLink.resolvingSymlinksInPath())
        XCTAssertEqual(retrained.metadata.datasets, ["add-bracket", "add-paren"])

        // The bench on the same root: every column for the held-out dataset, the fit on the zoo, JSON and HTML.
        let bench = try TestSupport.runDND(["bench", "dnd", "--root", root.path, "--seeds", "2"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let b = try JSONDecoder().decode(BenchReport.self, from: Data(contentsOf: DemoPaths(root: root).bench.appendingPathComponent("bench.json")))
        XCTAssertEqual(b.rows.map(\.dataset), ["sub-bracket"])
        XCTAssertEqual(Set(b.rows[0].trainingLoRAs.keys), ["add-bracket", "add-paren"])
        XCTAssertTrue(["add-bracket", "add-paren"].contains(b.rows[0].nearest.name ?? ""))
        XCTAssertTrue(["add-bracket", "add-paren"].contains(b.rows[0].oracle.name ?? ""))
        XCTAssertEqual(b.rows[0].oracle.accuracy, b.rows[0].trainingLoRAs.values.max())
        XCTAssertNotNil(b.rows[0].dnd.nll)
        XCTAssertGreaterThan(b.rows[0].geometry.dndNorm, 0)
        XCTAssertEqual(b.fit.map(\.dataset), ["add-bracket", "add-paren"])
        XCTAssertEqual(b.zooPairwise.count, 1)
        XCTAssertGreaterThan(b.rows[0].dndSeconds, 0)
        XCTAssertGreaterThan(b.rows[0].fineTuneSeconds, 0)
        XCTAssertTrue(bench.stdout.contains("held-out dataset"), bench.stdout)
        let seeds = try JSONDecoder().decode(SeedBench.self, from: Data(contentsOf: DemoPaths(root: root).bench.appendingPathComponent("seeds.json")))
        XCTAssertEqual(seeds.seeds, [0, 1])
        XCTAssertEqual(seeds.roots.last, DemoPaths(root: root).demo.appendingPathComponent("seeds/seed-1").path)
        XCTAssertEqual(seeds.columns.first { $0.name == "DnD" }!.perDataset.keys.sorted(), ["sub-bracket"])
        XCTAssertTrue(bench.stdout.contains("over 2 seeds"), bench.stdout)
        XCTAssertEqual(seeds.geometry.keys.sorted(), ["sub-bracket"])
        // --aggregate-only rebuilds the same seeds.json from the two bench.json files; a third seed was never run.
        let again = try TestSupport.runDND(["bench", "dnd", "--root", root.path, "--seeds", "2", "--aggregate-only"])
        XCTAssertEqual(again.status, 0, again.stderr)
        let rebuilt = try JSONDecoder().decode(SeedBench.self, from: Data(contentsOf: DemoPaths(root: root).bench.appendingPathComponent("seeds.json")))
        XCTAssertEqual(rebuilt.columns, seeds.columns)
        XCTAssertEqual(rebuilt.geometry, seeds.geometry)
        XCTAssertEqual(rebuilt.roots, seeds.roots)
        let missing = try TestSupport.runDND(["bench", "dnd", "--root", root.path, "--seeds", "3", "--aggregate-only"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("seeds/seed-2/demo/bench/bench.json: no bench report; run `dnd bench dnd`"), missing.stderr)
        let html = try String(contentsOf: DemoPaths(root: root).bench.appendingPathComponent("bench.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg"))
    }

    func testHeldOutDatasetInTheZooStopsTheCheckpointStage() throws {
        let root = TestSupport.temporaryDirectory("dnd-demo").appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("checkpoints/sub-bracket"), withIntermediateDirectories: true)
        let r = try demo(root)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("demo stage 'checkpoints' failed"), r.stderr)
        XCTAssertTrue(r.stderr.contains("checkpoints/sub-bracket"), r.stderr)
    }

    func testBenchWithoutDemoSaysWhatToRun() throws {
        let root = TestSupport.temporaryDirectory("dnd-demo")
        let r = try TestSupport.runDND(["bench", "dnd", "--root", root.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("run `dnd demo --root"), r.stderr)
    }
}
