import DNDTestSupport
import Demo
import Foundation
import XCTest

final class StageBookTests: XCTestCase {
    func testCurrentNeedsTheSameKeyAndTheOutputs() throws {
        let book = StageBook(folder: TestSupport.temporaryDirectory().appendingPathComponent("stages"))
        XCTAssertNil(book.record("base"))
        XCTAssertNil(book.current("base", key: "k1", outputsPresent: { true }), "no record: the stage runs")
        try book.finish(.init(stage: "base", key: "k1", seconds: 2.5, detail: ["summary": "a model"]))
        XCTAssertEqual(book.current("base", key: "k1", outputsPresent: { true })?.detail["summary"], "a model")
        XCTAssertNil(book.current("base", key: "k2", outputsPresent: { true }), "other inputs: rebuilt")
        XCTAssertNil(book.current("base", key: "k1", outputsPresent: { false }), "a deleted output: rebuilt")
        XCTAssertEqual(book.stages(), ["base"])
        try book.forget("base")
        XCTAssertNil(book.record("base"))
        XCTAssertEqual(book.stages(), [])
        try book.forget("base")  // forgetting twice is fine
    }

    func testUnreadableRecordMeansNotBuilt() throws {
        let dir = TestSupport.temporaryDirectory()
        let book = StageBook(folder: dir)
        try Data("{not json".utf8).write(to: dir.appendingPathComponent("generator.json"))
        XCTAssertNil(book.record("generator"))
        XCTAssertNil(book.current("generator", key: "", outputsPresent: { true }))
    }

    func testKeysSeparatePartsAndFollowSettings() {
        XCTAssertNotEqual(StageBook.key(["ab", "c"]), StageBook.key(["a", "bc"]))
        XCTAssertEqual(StageBook.key(["x"]), StageBook.key(["x"]))
        var a = DemoSettings(), b = DemoSettings()
        XCTAssertEqual(StageBook.json(a.pretrain), StageBook.json(b.pretrain))
        b.pretrain.steps += 1
        XCTAssertNotEqual(StageBook.json(a.pretrain), StageBook.json(b.pretrain))
        a.finetune.seed = 3
        XCTAssertTrue(StageBook.json(a.finetune).contains("\"seed\":3"), StageBook.json(a.finetune))
    }
}
