import DNDTestSupport
import Demo
import Foundation
import XCTest

final class DemoSettingsTests: XCTestCase {
    func testEmptyObjectIsTheFullDemo() throws {
        let s = try JSONDecoder().decode(DemoSettings.self, from: Data("{}".utf8))
        XCTAssertEqual(s, DemoSettings.preset(.full))
        XCTAssertEqual(s.plan, TaskSuite.standardPlan)
    }

    func testRoundTripAndPartialKeys() throws {
        let small = DemoSettings.preset(.small)
        let back = try JSONDecoder().decode(DemoSettings.self, from: JSONEncoder().encode(small))
        XCTAssertEqual(back, small)
        let partial = try JSONDecoder().decode(DemoSettings.self, from: Data(#"{"test_size": 7, "finetune": {"steps": 12, "save_from": 10}}"#.utf8))
        XCTAssertEqual(partial.testSize, 7)
        XCTAssertEqual(partial.finetune.steps, 12)
        XCTAssertEqual(partial.finetune.learningRate, DemoSettings.fullFinetune.learningRate, "unset nested keys keep the demo's recipe")
        XCTAssertEqual(partial.finetune.saveFrom, 10)
        XCTAssertEqual(partial.pretrain, DemoSettings.fullPretrain)
        XCTAssertEqual(partial.trainSize, DemoSettings().trainSize)
    }

    func testBadSettingsNameTheProblem() {
        func message(_ json: String) -> String {
            do { _ = try JSONDecoder().decode(DemoSettings.self, from: Data(json.utf8)); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(#"{"plan": [{"task": "mul", "format": "bracket", "role": "train"}]}"#).contains("unknown task 'mul'"))
        XCTAssertTrue(message(#"{"plan": [{"task": "add", "format": "bold", "role": "train"}]}"#).contains("unknown format 'bold'"))
        XCTAssertTrue(message(#"{"plan": [{"task": "add", "format": "star", "role": "train"}]}"#).contains("holds no dataset out"))
        XCTAssertTrue(message(#"{"test_size": 0}"#).contains("test_size"))
        XCTAssertTrue(message(#"{"finetune": {"steps": 12}}"#).contains("save-from 131"), "the preset's save_from must fit the new steps")
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

