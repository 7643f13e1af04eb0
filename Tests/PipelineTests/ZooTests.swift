import DNDTestSupport
import Foundation
import LoRA
import Pipeline
import TensorCore
import XCTest

/// Writes a small zoo: `datasets` folders, each with prompts.jsonl and `checkpoints` random adapters.
func makeZoo(at root: URL, datasets: [String], checkpoints: Int = 2, rank: Int = 2, layers: Int = 2, hidden: Int = 8,
             modules: [LoRAModule] = [.q_proj, .v_proj], outFeatures: [LoRAModule: Int] = [:], baseModel: String = "tiny",
             prompts: ((String, Int) -> String)? = nil, seed: UInt64 = 1) throws {
    var rng = SeededRNG(seed: seed)
    for d in datasets {
        let folder = root.appendingPathComponent(d)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let lines = (0..<6).map { "{\"prompt\": \"\(prompts?(d, $0) ?? "\(d) question \($0)")\"}" }.joined(separator: "\n")
        try Data(lines.utf8).write(to: folder.appendingPathComponent("prompts.jsonl"))
        for c in 0..<checkpoints {
            var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
            for l in 0..<layers {
                for m in modules {
                    w[LoRASite(layer: l, module: m)] = (Tensor.randomNormal([rank, hidden], std: 0.1, rng: &rng),
                                                       Tensor.randomNormal([outFeatures[m] ?? hidden, rank], std: 0.1, rng: &rng))
                }
            }
            let a = LoRAAdapter(config: LoRAConfig(r: rank, loraAlpha: Float(2 * rank), targetModules: modules, baseModel: baseModel), weights: w)
            try a.write(to: folder.appendingPathComponent("checkpoint-\(c + 9)"))
        }
    }
}

final class ZooTests: XCTestCase {
    func testScanFindsDatasetsInNaturalOrderAndHonoursHoldout() throws {
        let root = TestSupport.temporaryDirectory()
        try makeZoo(at: root, datasets: ["alpha", "beta", "gamma"])
        let zoo = try Zoo.scan(root)
        XCTAssertEqual(zoo.datasets.map(\.name), ["alpha", "beta", "gamma"])
        XCTAssertEqual(zoo.datasets[0].checkpoints.map(\.lastPathComponent), ["checkpoint-9", "checkpoint-10"])
        XCTAssertEqual(zoo.datasets[0].prompts.count, 6)
        XCTAssertEqual(try Zoo.scan(root, holdout: ["beta"]).datasets.map(\.name), ["alpha", "gamma"])
        XCTAssertThrowsError(try Zoo.scan(root, holdout: ["delta"])) { XCTAssertTrue("\($0)".contains("--holdout delta")) }
    }

    func testMismatchedRanksNameBothFolders() throws {
        let root = TestSupport.temporaryDirectory()
        try makeZoo(at: root, datasets: ["a"], rank: 2)
        try makeZoo(at: root, datasets: ["b"], rank: 3)
        XCTAssertThrowsError(try Zoo.scan(root)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("r = 3 vs r = 2"), m)
            XCTAssertTrue(m.contains("/b/checkpoint-") && m.contains("/a/checkpoint-"), m)
        }
    }

    func testIncompleteDatasetsAreSkippedWithWarning() throws {
        let root = TestSupport.temporaryDirectory()
        try makeZoo(at: root, datasets: ["a"])
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".partial"), withIntermediateDirectories: true)
        let zoo = try Zoo.scan(root)
        XCTAssertEqual(zoo.datasets.map(\.name), ["a"])
        XCTAssertEqual(zoo.warnings.count, 1)
        XCTAssertTrue(zoo.warnings[0].contains("empty") && zoo.warnings[0].contains("no prompts.jsonl"))
    }

    func testFingerprintChangesWhenACheckpointIsAdded() throws {
        let root = TestSupport.temporaryDirectory()
        try makeZoo(at: root, datasets: ["a"])
        let f1 = Zoo.fingerprint(root)
        XCTAssertEqual(f1, Zoo.fingerprint(root))
        XCTAssertEqual(f1.count, 64)
        try makeZoo(at: root, datasets: ["b"])
        XCTAssertNotEqual(f1, Zoo.fingerprint(root))
    }

    /// The one fingerprint of checkpoints/ (the daemon's retraining trigger too): files only, hidden ones skipped.
    func testFingerprintSeesAddedChangedAndRemovedFilesButNotHiddenOnesOrFolders() throws {
        let dir = TestSupport.temporaryDirectory("dnd-zoo")
        XCTAssertEqual(Zoo.fingerprint(dir), Zoo.emptyFingerprint)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("ds/ckpt"), withIntermediateDirectories: true)
        XCTAssertEqual(Zoo.fingerprint(dir), Zoo.emptyFingerprint)  // folders alone hold nothing to train on
        try Data("a".utf8).write(to: dir.appendingPathComponent("ds/prompts.jsonl"))
        let f1 = Zoo.fingerprint(dir)
        XCTAssertNotEqual(f1, Zoo.emptyFingerprint)
        try Data("x".utf8).write(to: dir.appendingPathComponent("ds/.rsync-tmp"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(".incoming/ds2"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent(".incoming/ds2/prompts.jsonl"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("ds/link").path, withDestinationPath: "/etc/hostname")
        XCTAssertEqual(Zoo.fingerprint(dir), f1)
        try Data("bb".utf8).write(to: dir.appendingPathComponent("ds/prompts.jsonl"))
        let f2 = Zoo.fingerprint(dir)
        XCTAssertNotEqual(f2, f1)
        try Data("c".utf8).write(to: dir.appendingPathComponent("ds/ckpt/adapter_config.json"))
        XCTAssertNotEqual(Zoo.fingerprint(dir), f2)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("ds/ckpt/adapter_config.json"))
        XCTAssertEqual(Zoo.fingerprint(dir), f2)
    }
}

final class TrainCommandTests: XCTestCase {
    func testZooWithMismatchedRanksIsRefusedByDndTrain() throws {
        let root = TestSupport.temporaryDirectory()
        try makeZoo(at: root.appendingPathComponent("checkpoints"), datasets: ["a"], rank: 2)
        try makeZoo(at: root.appendingPathComponent("checkpoints"), datasets: ["b"], rank: 4)
        let r = try TestSupport.runDND(["train", "--root", root.path, "--steps", "1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("r = 4 vs r = 2") && r.stderr.contains("checkpoints/b/checkpoint-"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }
}
