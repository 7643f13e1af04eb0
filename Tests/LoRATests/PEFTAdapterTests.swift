import DNDTestSupport
import Foundation
import LoRA
import SafeTensors
import TensorCore
import XCTest

final class PEFTAdapterTests: XCTestCase {
    func testReadsFixtureAdapter() throws {
        let a = try LoRAAdapter(folder: TestSupport.fixture("tiny-qwen2/adapter"))
        XCTAssertEqual(a.rank, 4)
        XCTAssertEqual(a.scaling, 2)
        XCTAssertEqual(a.weights.count, 14)
        XCTAssertEqual(a.layerCount, 2)
        XCTAssertEqual(a.modules, LoRAModule.allCases)
        let q = try XCTUnwrap(a.weights[LoRASite(layer: 0, module: .q_proj)])
        XCTAssertEqual(q.a.shape, [4, 64])
        XCTAssertEqual(q.b.shape, [64, 4])
        XCTAssertEqual(a.weights[LoRASite(layer: 1, module: .down_proj)]?.a.shape, [4, 128])
    }

    func testWriteThenReadIsBitExactAndCarriesRequiredKeys() throws {
        let a = try LoRAAdapter(folder: TestSupport.fixture("lora-tokens/edge_adapter"))
        let out = TestSupport.temporaryDirectory().appendingPathComponent("adapter")
        try a.write(to: out)
        let b = try LoRAAdapter(folder: out)
        XCTAssertEqual(b.config, a.config)
        for site in a.sites {
            XCTAssertEqual(b.weights[site]!.a, a.weights[site]!.a)
            XCTAssertEqual(b.weights[site]!.b, a.weights[site]!.b)
        }
        let cfg = try XCTUnwrap(TestSupport.json(out.appendingPathComponent("adapter_config.json")) as? [String: Any])
        for key in ["peft_type", "r", "lora_alpha", "target_modules", "base_model_name_or_path"] { XCTAssertNotNil(cfg[key], key) }
        XCTAssertEqual(cfg["peft_type"] as? String, "LORA")
        XCTAssertTrue(cfg["modules_to_save"] is NSNull)
    }

    func testRsLoRAScaling() {
        let c = LoRAConfig(r: 16, loraAlpha: 8, targetModules: [.q_proj], useRslora: true, baseModel: nil)
        XCTAssertEqual(c.scaling, 2)
    }

    func writeAdapter(_ tensors: [String: Tensor], config: String) -> URL {
        let dir = TestSupport.temporaryDirectory().appendingPathComponent("bad")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try! config.write(to: dir.appendingPathComponent("adapter_config.json"), atomically: true, encoding: .utf8)
        try! SafeTensorsWriter.write(tensors, to: dir.appendingPathComponent("adapter_model.safetensors"))
        return dir
    }

    func assertRejects(_ dir: URL, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try LoRAAdapter(folder: dir), file: file, line: line) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains(dir.path), m, file: file, line: line)
            for p in parts { XCTAssertTrue(m.contains(p), "'\(p)' in: \(m)", file: file, line: line) }
        }
    }

    func testRejectsMissingB() {
        let site = LoRASite(layer: 0, module: .q_proj)
        let dir = writeAdapter([site.key("A"): Tensor(zeros: [2, 8])], config: #"{"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"]}"#)
        assertRejects(dir, [site.key("B"), "missing"])
    }

    func testRejectsRankMismatch() {
        let site = LoRASite(layer: 1, module: .v_proj)
        let dir = writeAdapter([site.key("A"): Tensor(zeros: [3, 8]), site.key("B"): Tensor(zeros: [8, 3])],
                               config: #"{"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["v_proj"]}"#)
        assertRejects(dir, [site.key("A"), "rank is 2"])
    }

    func testRejectsNaNAndUnknownKeys() {
        let site = LoRASite(layer: 0, module: .o_proj)
        var a = Tensor(zeros: [1, 4]); a[flat: 2] = .nan
        assertRejects(writeAdapter([site.key("A"): a, site.key("B"): Tensor(zeros: [4, 1])],
                                   config: #"{"peft_type":"LORA","r":1,"lora_alpha":1,"target_modules":["o_proj"]}"#), ["NaN", site.key("A")])
        assertRejects(writeAdapter(["base_model.model.lm_head.weight": Tensor(zeros: [2, 2])],
                                   config: #"{"peft_type":"LORA","r":1,"lora_alpha":1,"target_modules":["o_proj"]}"#), ["lm_head", "not a LoRA weight"])
    }

    func testRefusesPerModuleRanksAlphasAndDoRA() {
        let site = LoRASite(layer: 0, module: .q_proj)
        let t = [site.key("A"): Tensor(zeros: [2, 4]), site.key("B"): Tensor(zeros: [4, 2])]
        let base = #""peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"]"#
        assertRejects(writeAdapter(t, config: "{\(base),\"rank_pattern\":{\"q_proj\":8}}"), ["rank_pattern", "q_proj"])
        assertRejects(writeAdapter(t, config: "{\(base),\"alpha_pattern\":{\"v_proj\":2}}"), ["alpha_pattern"])
        assertRejects(writeAdapter(t, config: "{\(base),\"use_dora\":true}"), ["use_dora"])
        // Empty patterns, as PEFT writes them by default, are fine.
        XCTAssertNoThrow(try LoRAAdapter(folder: writeAdapter(t, config: "{\(base),\"rank_pattern\":{},\"alpha_pattern\":{},\"use_dora\":false}")))
    }

    func testRemembersItsFolder() throws {
        let dir = TestSupport.fixture("lora-tokens/edge_adapter")
        XCTAssertEqual(try LoRAAdapter(folder: dir).origin, dir.path)
    }

    func testTargetListParsing() throws {
        XCTAssertEqual(try LoRAModule.parseList("v_proj,q_proj"), [.q_proj, .v_proj])
        XCTAssertEqual(try LoRAModule.parseList("all").count, 7)
        XCTAssertThrowsError(try LoRAModule.parseList("q_proj,lm_head")) { XCTAssertTrue("\($0)".contains("lm_head")) }
    }
}
