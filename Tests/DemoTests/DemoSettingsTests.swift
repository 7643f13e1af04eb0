import Demo
import Foundation
import LLM
import XCTest

final class DemoSettingsTests: XCTestCase {
    func testEmptyObjectIsTheFullDemo() throws {
        let s = try JSONDecoder().decode(DemoSettings.self, from: Data("{}".utf8))
        XCTAssertEqual(s, DemoSettings.preset(.full))
        XCTAssertEqual(s.plan, SmolSuite.standardPlan)
        XCTAssertEqual(s.world, .smollm2)
        let toy = try JSONDecoder().decode(DemoSettings.self, from: Data(#"{"world": "toy"}"#.utf8))
        XCTAssertEqual(toy, DemoSettings.preset(.toy), "a world's absent keys are its own preset's")
        XCTAssertEqual(toy.plan, TaskSuite.standardPlan)
    }

    func testRoundTripAndPartialKeys() throws {
        let small = DemoSettings.preset(.small)
        let back = try JSONDecoder().decode(DemoSettings.self, from: JSONEncoder().encode(small))
        XCTAssertEqual(back, small)
        let full = try JSONDecoder().decode(DemoSettings.self, from: JSONEncoder().encode(DemoSettings.preset(.full)))
        XCTAssertEqual(full, DemoSettings.preset(.full))
        let partial = try JSONDecoder().decode(DemoSettings.self, from: Data(#"{"test_size": 7, "finetune": {"steps": 12, "rank": 4}}"#.utf8))
        XCTAssertEqual(partial.testSize, 7)
        XCTAssertEqual(partial.finetune.steps, 12)
        XCTAssertEqual(partial.finetune.rank, 4)
        XCTAssertEqual(partial.finetune.learningRate, FinetuneOptions().learningRate, "a nested object is a `dnd finetune` recipe with its defaults")
        XCTAssertNil(partial.finetune.saveFrom)
        XCTAssertEqual(partial.trainSize, DemoSettings().trainSize)
        XCTAssertEqual(partial.pretrain, DemoSettings.toyPretrain, "absent objects are the preset's")
    }

    func testBadSettingsNameTheProblem() {
        func message(_ json: String) -> String {
            do { _ = try JSONDecoder().decode(DemoSettings.self, from: Data(json.utf8)); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(#"{"plan": [{"task": "mul", "format": "bracket", "role": "train"}]}"#).contains("unknown task 'mul'"))
        XCTAssertTrue(message(#"{"plan": [{"task": "add", "format": "bold", "role": "train"}]}"#).contains("unknown format 'bold'"))
        XCTAssertTrue(message(#"{"plan": [{"task": "add", "format": "bare", "role": "train"}]}"#).contains("holds no dataset out"))
        XCTAssertTrue(message(#"{"world": "toy", "plan": [{"task": "add", "format": "star", "role": "train"}]}"#).contains("holds no dataset out"))
        XCTAssertTrue(message(#"{"world": "toy", "plan": [{"task": "capital", "format": "star", "role": "train"}]}"#).contains("unknown task 'capital'"))
        XCTAssertTrue(message(#"{"world": "mars"}"#).contains("mars"))
        XCTAssertTrue(message(#"{"test_size": 0}"#).contains("test_size"))
        XCTAssertTrue(message(#"{"finetune": {"steps": 12, "save_from": 20}}"#).contains("save-from 20"))
    }

    func testPresetsSplitTrainingAndHeldOut() {
        for size in DemoSettings.Size.allCases {
            let s = DemoSettings.preset(size)
            XCTAssertFalse(s.trainingNames.isEmpty, size.rawValue)
            XCTAssertFalse(s.heldOutNames.isEmpty, size.rawValue)
            XCTAssertTrue(Set(s.trainingNames).isDisjoint(with: s.heldOutNames), size.rawValue)
        }
    }
}

