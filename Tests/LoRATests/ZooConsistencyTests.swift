import DNDTestSupport
import Foundation
import LoRA
import TensorCore
import XCTest

final class ZooConsistencyTests: XCTestCase {
    func checkpoint(_ name: String, r: Int = 2, alpha: Float = 4, sites: [LoRASite: (in: Int, out: Int)]) -> LoRAAdapter {
        var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for (s, d) in sites { w[s] = (Tensor(zeros: [r, d.in]), Tensor(zeros: [d.out, r])) }
        return LoRAAdapter(config: LoRAConfig(r: r, loraAlpha: alpha, targetModules: Array(Set(sites.keys.map(\.module))), baseModel: nil),
                           weights: w, folder: URL(fileURLWithPath: "/zoo/\(name)"))
    }

    let q = LoRASite(layer: 0, module: .q_proj), v = LoRASite(layer: 0, module: .v_proj)

    func assertMismatch(_ zoo: [LoRAAdapter], _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ZooConsistency.check(zoo), file: file, line: line) { e in
            for p in parts { XCTAssertTrue("\(e)".contains(p), "'\(p)' in: \(e)", file: file, line: line) }
        }
    }

    func testAgreeingCheckpointsPass() throws {
        let sites: [LoRASite: (in: Int, out: Int)] = [q: (8, 8), v: (8, 4)]
        try ZooConsistency.check([checkpoint("a", sites: sites), checkpoint("b", sites: sites), checkpoint("c", sites: sites)])
        try ZooConsistency.check([checkpoint("a", sites: sites)])
        XCTAssertThrowsError(try ZooConsistency.check([]))
    }

    func testDisagreementsNameBothFoldersAndTheTensor() {
        let sites: [LoRASite: (in: Int, out: Int)] = [q: (8, 8), v: (8, 4)]
        let ref = checkpoint("a", sites: sites)
        assertMismatch([ref, checkpoint("b", sites: [q: (8, 8), v: (8, 6)])], ["/zoo/a", "/zoo/b", v.key("B"), "[6, 2]", "[4, 2]"])
        assertMismatch([ref, checkpoint("b", sites: [q: (8, 8), v: (9, 4)])], ["/zoo/a", "/zoo/b", v.key("A")])
        assertMismatch([ref, checkpoint("b", sites: [q: (8, 8)])], ["/zoo/a", "/zoo/b", v.key("A"), "not in /zoo/b"])
        assertMismatch([ref, checkpoint("b", sites: [q: (8, 8), v: (8, 4), LoRASite(layer: 1, module: .q_proj): (8, 8)])],
                       ["/zoo/b", "layers.1.self_attn.q_proj.lora_A", "not in /zoo/a"])
        assertMismatch([ref, checkpoint("b", r: 4, sites: sites)], ["/zoo/a", "/zoo/b", "r = 4"])
        assertMismatch([ref, checkpoint("b", alpha: 8, sites: sites)], ["/zoo/a", "/zoo/b", "lora_alpha"])
    }
}
