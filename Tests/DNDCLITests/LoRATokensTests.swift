import DNDTestSupport
import Foundation
import SafeTensors
import XCTest

final class LoRATokensTests: XCTestCase {
    func testWritesTheFixtureTokensAndIndex() throws {
        for (adapter, cw, tokens, index) in [("adapter", 20, "tokens_cw20.safetensors", "index_cw20.json"), ("edge_adapter", 4, "tokens_edge.safetensors", "index_edge.json")] {
            let dir = TestSupport.temporaryDirectory()
            let out = dir.appendingPathComponent("tokens.safetensors"), layout = dir.appendingPathComponent("layout.json")
            let r = try TestSupport.runDND(["debug", "lora-tokens", "--adapter", TestSupport.fixture("lora-tokens/\(adapter)").path,
                                            "--chunk-width", String(cw), "--out", out.path, "--layout", layout.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            let got = try SafeTensorsFile(url: out).tensor("tokens")
            let want = try SafeTensorsFile(url: TestSupport.fixture("lora-tokens/\(tokens)")).tensor("tokens")
            XCTAssertEqual(got.shape, want.shape)
            let d = got.maxAbsDifference(want)
            print("dnd debug lora-tokens \(adapter) cw \(cw): max |tokens − \(tokens)| = \(d)")
            XCTAssertLessThanOrEqual(d, 1e-6)
            XCTAssertEqual(try TestSupport.json(layout) as? NSDictionary, try TestSupport.json(TestSupport.fixture("lora-tokens/\(index)")) as? NSDictionary)
        }
    }

    func testLayoutIsOptional() throws {
        let out = TestSupport.temporaryDirectory().appendingPathComponent("t.safetensors")
        let r = try TestSupport.runDND(["debug", "lora-tokens", "--adapter", TestSupport.fixture("lora-tokens/adapter").path, "--chunk-width", "16", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try SafeTensorsFile(url: out).info("tokens")?.shape, [128, 6, 18])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.deletingLastPathComponent().path), ["t.safetensors"])
    }

    func testBadInputGivesOneLineErrors() throws {
        let dir = TestSupport.temporaryDirectory()
        let out = dir.appendingPathComponent("t.safetensors").path
        let missing = dir.appendingPathComponent("nope").path
        let r = try TestSupport.runDND(["debug", "lora-tokens", "--adapter", missing, "--chunk-width", "4", "--out", out])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(missing) && r.stderr.contains("adapter_config.json"), r.stderr)
        let z = try TestSupport.runDND(["debug", "lora-tokens", "--adapter", TestSupport.fixture("lora-tokens/adapter").path, "--chunk-width", "0", "--out", out])
        XCTAssertNotEqual(z.status, 0)
        XCTAssertTrue(z.stderr.contains("--chunk-width"), z.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
