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

final class InspectAdapterTests: XCTestCase {
    func testInspectSummarisesAnAdapterFolder() throws {
        let dir = TestSupport.fixture("lora-tokens/adapter")
        let r = try TestSupport.runDND(["inspect", dir.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("for tiny-qwen2"), r.stdout)
        XCTAssertTrue(r.stdout.contains("rank 4, lora_alpha 8, scaling 2 (lora_alpha/r), dtype F32"), r.stdout)
        XCTAssertTrue(r.stdout.contains("layers 0…1 (2), 7 modules, 14 sites, 8192 parameters"), r.stdout)
        let rows = r.stdout.split(separator: "\n").filter { line in LoRAModuleNames.all.contains { line.hasPrefix($0 + " ") } }
        XCTAssertEqual(rows.map { String($0.split(separator: " ")[0]) }, LoRAModuleNames.all)
        let down = try XCTUnwrap(rows.last)
        XCTAssertTrue(down.contains("128 → 64"), String(down))
        // Three finite positive norms per module.
        let norms = down.split(separator: " ").suffix(3).compactMap { Double($0) }
        XCTAssertEqual(norms.count, 3, String(down))
        XCTAssertTrue(norms.allSatisfy { $0 > 0 && $0.isFinite })
    }

    func testInspectRefusesAFolderThatIsNotAnAdapter() throws {
        let dir = TestSupport.temporaryDirectory()
        let r = try TestSupport.runDND(["inspect", dir.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(dir.path) && r.stderr.contains("adapter_config.json"), r.stderr)
    }
}

/// Module names in DnD order (the CLI tests do not link the LoRA module).
enum LoRAModuleNames {
    static let all = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "gate_proj", "down_proj"]
}
