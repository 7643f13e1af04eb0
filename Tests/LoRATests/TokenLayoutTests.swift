import DNDTestSupport
import Foundation
import LoRA
import TensorCore
import XCTest

final class TokenLayoutTests: XCTestCase {
    func testLayoutFromShapesEqualsLayoutFromAdapter() throws {
        for name in ["adapter", "edge_adapter"] {
            let adapter = try LoRAAdapter(folder: TestSupport.fixture("lora-tokens/\(name)"))
            for cw in [1, 3, 4, 16, 20, 33, 200] {
                let fromAdapter = try TokenLayout(adapter: adapter, chunkWidth: cw)
                // The generator lists sites in whatever order the base model yields them.
                let shapes = adapter.sites.reversed().map { s in (s, in: adapter.weights[s]!.a.shape[1], out: adapter.weights[s]!.b.shape[0]) }
                let fromShapes = try TokenLayout(rank: adapter.rank, chunkWidth: cw, sites: shapes)
                XCTAssertEqual(fromShapes, fromAdapter, "\(name) cw \(cw)")
                XCTAssertEqual(fromShapes.sites.map(\.site), adapter.sites)
                let expected = adapter.sites.reduce(0) { n, s in
                    n + (adapter.weights[s]!.a.shape[1] + cw - 1) / cw + (adapter.weights[s]!.b.shape[0] + cw - 1) / cw
                }
                XCTAssertEqual(fromShapes.count, expected)
                // JSON round trip recovers the site shapes from the chunk widths.
                XCTAssertEqual(try JSONDecoder().decode(TokenLayout.self, from: fromShapes.jsonData()), fromShapes)
            }
        }
    }

    /// DESIGN.md's reference scale: Qwen2.5-0.5B (24 layers, hidden 896, k/v 128, MLP 4864), r = 8, all seven
    /// modules, cw = 128 gives 4296 tokens of 10×130.
    func testReferenceScaleTokenCount() throws {
        let dims: [LoRAModule: (in: Int, out: Int)] = [.q_proj: (896, 896), .k_proj: (896, 128), .v_proj: (896, 128), .o_proj: (896, 896),
                                                       .up_proj: (896, 4864), .gate_proj: (896, 4864), .down_proj: (4864, 896)]
        let sites = (0..<24).flatMap { l in LoRAModule.allCases.map { m in (LoRASite(layer: l, module: m), in: dims[m]!.in, out: dims[m]!.out) } }
        let layout = try TokenLayout(rank: 8, chunkWidth: 128, sites: sites)
        XCTAssertEqual(layout.shape, [4296, 10, 130])
    }

    func testSiteRangesAndOrder() throws {
        let q = LoRASite(layer: 1, module: .q_proj), up = LoRASite(layer: 0, module: .up_proj), gate = LoRASite(layer: 0, module: .gate_proj)
        let layout = try TokenLayout(rank: 2, chunkWidth: 4, sites: [(q, in: 8, out: 5), (gate, in: 3, out: 9), (up, in: 4, out: 4)])
        XCTAssertEqual(layout.sites.map(\.site), [up, gate, q]) // up before gate, layer 0 before layer 1
        XCTAssertEqual(layout.shape, [1 + 1 + 1 + 3 + 2 + 2, 4, 6])
        let s = try XCTUnwrap(layout.shape(of: q))
        XCTAssertEqual(s.tokens(.A), 6..<8); XCTAssertEqual(s.tokens(.B), 8..<10)
        XCTAssertEqual(layout.tokens[9], TokenLayout.Token(layer: 1, module: .q_proj, matrix: .B, chunk: 1, width: 1, start: 4))
        XCTAssertEqual(layout.tokens[9].key, "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight")
    }

    func testRejectsBadShapesAndIndexes() throws {
        let q = LoRASite(layer: 0, module: .q_proj)
        XCTAssertThrowsError(try TokenLayout(rank: 2, chunkWidth: 0, sites: [(q, in: 4, out: 4)])) { XCTAssertTrue("\($0)".contains("chunk width 0"), "\($0)") }
        XCTAssertThrowsError(try TokenLayout(rank: 0, chunkWidth: 4, sites: [(q, in: 4, out: 4)])) { XCTAssertTrue("\($0)".contains("rank 0"), "\($0)") }
        XCTAssertThrowsError(try TokenLayout(rank: 2, chunkWidth: 4, sites: [(q, in: 4, out: 4), (q, in: 4, out: 4)])) { XCTAssertTrue("\($0)".contains("listed twice"), "\($0)") }
        XCTAssertThrowsError(try TokenLayout(rank: 2, chunkWidth: 4, sites: [(q, in: 0, out: 4)])) { XCTAssertTrue("\($0)".contains("in = 0"), "\($0)") }

        // An index whose tokens are out of DnD order, or whose key disagrees, is refused with the file's path.
        let dir = TestSupport.temporaryDirectory()
        var index = try XCTUnwrap(TestSupport.json(TestSupport.fixture("lora-tokens/index_edge.json")) as? [String: Any])
        var tokens = index["tokens"] as! [[String: Any]]
        tokens.swapAt(0, 1)
        index["tokens"] = tokens
        let swapped = dir.appendingPathComponent("swapped.json")
        try JSONSerialization.data(withJSONObject: index).write(to: swapped)
        XCTAssertThrowsError(try TokenLayout.load(from: swapped)) {
            XCTAssertTrue("\($0)".contains(swapped.path) && "\($0)".contains("token 0"), "\($0)")
        }
        tokens.swapAt(0, 1)
        tokens[3]["key"] = "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"
        index["tokens"] = tokens
        let badKey = dir.appendingPathComponent("bad-key.json")
        try JSONSerialization.data(withJSONObject: index).write(to: badKey)
        XCTAssertThrowsError(try TokenLayout.load(from: badKey)) {
            XCTAssertTrue("\($0)".contains(badKey.path) && "\($0)".contains("k_proj"), "\($0)")
        }
        XCTAssertThrowsError(try TokenLayout.load(from: dir.appendingPathComponent("absent.json"))) {
            XCTAssertTrue("\($0)".contains("absent.json"), "\($0)")
        }
    }
}
