import DNDTestSupport
import Foundation
import XCTest

/// `dnd finetune` and `dnd eval` take the SmolLM2 GGUF file as it is (no conversion).
final class RealModelCommandsTests: XCTestCase {
    func testFinetuneThenEvalOnTheGGUFFile() throws {
        let model = try TestSupport.requireSmolLM2().path
        let dir = TestSupport.temporaryDirectory()
        let data = dir.appendingPathComponent("caps.jsonl")
        let lines = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid")].map {
            #"{"prompt": "What is the capital of \#($0.0)? Reply in the form Answer: <city>.", "response": "Answer: \#($0.1)", "system": "Be brief."}"#
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: data)
        let out = dir.appendingPathComponent("lora")
        let ft = try TestSupport.runDND(["finetune", "--base", model, "--data", data.path, "--out", out.path, "--rank", "2", "--alpha", "4",
                                         "--targets", "q_proj,v_proj", "--steps", "2", "--batch", "2", "--lr", "0.003", "--save-from", "2"])
        XCTAssertEqual(ft.status, 0, ft.stderr)
        let config = try XCTUnwrap(TestSupport.json(out.appendingPathComponent("checkpoint-2/adapter_config.json")) as? [String: Any])
        XCTAssertEqual(config["base_model_name_or_path"] as? String, URL(fileURLWithPath: model).standardizedFileURL.path,
                       "a file that names no public id: its absolute path")
        let json = dir.appendingPathComponent("eval.json")
        let ev = try TestSupport.runDND(["eval", "--base", model, "--data", data.path, "--adapter", out.appendingPathComponent("checkpoint-2").path,
                                         "--json", json.path])
        XCTAssertEqual(ev.status, 0, ev.stderr)
        let table = try XCTUnwrap(TestSupport.json(json) as? [String: Any])
        let rows = try XCTUnwrap(table["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["name"] as? String }, ["base", "checkpoint-2"])
        XCTAssertEqual(rows.map { $0["records"] as? Int }, [4, 4])
        XCTAssertTrue(ev.stdout.contains("base") && ev.stdout.contains("checkpoint-2"), ev.stdout)
    }
}
