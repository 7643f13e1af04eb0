import DNDTestSupport
import Foundation
import SafeTensors
import XCTest

final class DebugEmbedTests: XCTestCase {
    func testOutputMatchesExpectedSafetensors() throws {
        let out = TestSupport.temporaryDirectory().appendingPathComponent("out.safetensors")
        let r = try TestSupport.runDND(["debug", "embed", "--model", TestSupport.encoderModel.path,
                                        "--input", TestSupport.fixture("minilm/sentences.json").path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = try SafeTensorsFile(url: out), expected = try SafeTensorsFile(url: TestSupport.fixture("minilm/expected.safetensors"))
        XCTAssertEqual(Set(got.names), Set(expected.names))
        var worst: Float = 0
        for name in expected.names {
            let a = try got.tensor(name), b = try expected.tensor(name)
            XCTAssertEqual(a.shape, b.shape, name)
            if a.shape == b.shape { worst = max(worst, a.maxAbsDifference(b)) }
        }
        print("dnd debug embed vs expected.safetensors: max abs diff \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-4)
    }

    func testMissingModelFolderIsAOneLineError() throws {
        let dir = TestSupport.temporaryDirectory()
        let r = try TestSupport.runDND(["debug", "embed", "--model", dir.appendingPathComponent("none").path,
                                        "--input", TestSupport.fixture("minilm/sentences.json").path, "--out", dir.appendingPathComponent("o.safetensors").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no such encoder folder"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }
}
