import DNDTestSupport
import Foundation
import Pipeline
import XCTest

/// `dnd export-training`: a complete, validated export; a rerun keeps what is complete and rebuilds what is not;
/// the Python reader (dnd_torch.export) checks the same manifest.
final class ExportTrainingTests: XCTestCase {
    func validateInPython(_ export: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        try TestSupport.run(TestSupport.torchPython, ["-m", "dnd_torch.export", export.path], environment: TestSupport.torchEnvironment)
    }

    func testExportIsCompleteResumableAndValidatedByBothReaders() throws {
        let root = TestSupport.temporaryDirectory("dnd-export")
        try ServeTests.addDatasets(["upper", "lower"], to: root, seed: 3)
        let out = root.appendingPathComponent("export")
        let args = ["export-training", root.path, out.path, "--steps", "6", "--prompts", "4", "--length", "16", "--batch", "2", "--budget-parameters", "800000"]
        let first = try TestSupport.runDND(args)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("6 shards (6 written, 0 kept)"), first.stdout)
        let m = try TrainingExportManifest.validate(folder: out, full: true)
        XCTAssertEqual(m.datasets.map(\.name), ["lower", "upper"])
        XCTAssertEqual(m.datasets.map(\.checkpoints), [["checkpoint-1", "checkpoint-2"], ["checkpoint-1", "checkpoint-2"]])
        XCTAssertEqual(m.conditionShape, [4, 16, 384])
        XCTAssertEqual(m.tokenShape, [8, 6, 66])     // 2 layers × (q: 1 + 1, v: 1 + 1) chunks of 64
        XCTAssertEqual(m.training.steps, 6)
        XCTAssertEqual(m.training.batchSize, 2)
        let py = try validateInPython(out)
        XCTAssertEqual(py.status, 0, py.stderr)
        XCTAssertTrue(py.stdout.contains("2 datasets, 4 checkpoints, 16 prompts"), py.stdout)

        // A rerun keeps every shard; a damaged one is rebuilt, and only that one.
        let again = try TestSupport.runDND(args)
        XCTAssertTrue(again.stdout.contains("(0 written, 6 kept)"), again.stdout)
        let shard = out.appendingPathComponent(m.datasets[0].targetShards[0])
        var bytes = try Data(contentsOf: shard)
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: shard)
        let py2 = try validateInPython(out)
        XCTAssertNotEqual(py2.status, 0)
        XCTAssertTrue(py2.stderr.contains("SHA-256"), py2.stderr)
        XCTAssertThrowsError(try TrainingExportManifest.validate(folder: out, full: true)) { XCTAssertTrue("\($0)".contains("SHA-256"), "\($0)") }
        let repaired = try TestSupport.runDND(args)
        XCTAssertEqual(repaired.status, 0, repaired.stderr)
        XCTAssertTrue(repaired.stdout.contains("(1 written, 5 kept)"), repaired.stdout)

        // Other settings change only the small files; a truncated shard and a missing manifest are named.
        let longer = try TestSupport.runDND(args.map { $0 == "6" ? "9" : $0 })
        XCTAssertTrue(longer.stdout.contains("(0 written, 6 kept)"), longer.stdout)
        XCTAssertEqual(try TrainingExportManifest.validate(folder: out, full: false).training.steps, 9)
        let handle = try FileHandle(forWritingTo: shard)
        try handle.truncate(atOffset: 100); try handle.close()
        XCTAssertTrue(try validateInPython(out).stderr.contains("bytes but the manifest says"))
        try FileManager.default.removeItem(at: out.appendingPathComponent("manifest.json"))
        XCTAssertTrue(try validateInPython(out).stderr.contains("incomplete"))
        XCTAssertThrowsError(try TrainingExportManifest.validate(folder: out, full: false)) { XCTAssertTrue("\($0)".contains("incomplete"), "\($0)") }
    }

    func testBadInputIsNamed() throws {
        let root = TestSupport.temporaryDirectory("dnd-export-bad")
        let r = try TestSupport.runDND(["export-training", root.path, root.appendingPathComponent("x").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no checkpoint zoo here"), r.stderr)
        let s = try TestSupport.runDND(["export-training", root.path, root.appendingPathComponent("x").path, "--shard-mb", "0"])
        XCTAssertNotEqual(s.status, 0)
        XCTAssertTrue(s.stderr.contains("--shard-mb"), s.stderr)
    }
}
