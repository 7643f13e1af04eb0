import DNDTestSupport
import Foundation
import LoRA
import TensorCore
import XCTest

final class LossWeightsTests: XCTestCase {
    let site = LoRASite(layer: 0, module: .q_proj)

    func adapter(a: [Float], b: [Float]) -> LoRAAdapter {
        LoRAAdapter(config: LoRAConfig(r: 1, loraAlpha: 1, targetModules: [.q_proj], baseModel: nil),
                    weights: [site: (Tensor(shape: [1, a.count], data: a), Tensor(shape: [b.count, 1], data: b))])
    }

    /// r = 1, in = 3, out = 2, cw = 2: tokens A[0:2], A[2:3], Bᵀ[0:2].
    /// Element std (n−1) of A over {[1,2,3], [3,2,1]} is [√2, 0, √2]; of B over {[0,0], [1,1]} is [1/√2, 1/√2].
    /// Token means: √2/2, √2, √2/2; their mean is 2√2/3, so the weights are 3/4, 3/2, 3/4.
    func testHandComputedExample() throws {
        let zoo = [adapter(a: [1, 2, 3], b: [0, 0]), adapter(a: [3, 2, 1], b: [1, 1])]
        let layout = try TokenLayout(adapter: zoo[0], chunkWidth: 2)
        let w = try LossWeights.perToken(checkpoints: zoo, layout: layout)
        XCTAssertEqual(w.count, 3)
        let want: [Float] = [0.75, 1.5, 0.75]
        let d = zip(w, want).map { abs($0 - $1) }.max()!
        print("loss weights hand example: max |w − expected| = \(d)")
        XCTAssertLessThanOrEqual(d, 1e-6)
    }

    func testDegenerateZoosGiveUniformWeights() throws {
        let one = [adapter(a: [1, 2, 3], b: [0, 5])]
        let layout = try TokenLayout(adapter: one[0], chunkWidth: 2)
        XCTAssertEqual(try LossWeights.perToken(checkpoints: one, layout: layout), [1, 1, 1])
        let same = [adapter(a: [1, 2, 3], b: [0, 5]), adapter(a: [1, 2, 3], b: [0, 5]), adapter(a: [1, 2, 3], b: [0, 5])]
        XCTAssertEqual(try LossWeights.perToken(checkpoints: same, layout: layout), [1, 1, 1])
        XCTAssertThrowsError(try LossWeights.perToken(checkpoints: [], layout: layout))
    }

    func testRandomZooHasMeanOneAndFollowsTheSpread() throws {
        var rng = SeededRNG(seed: 11)
        let dims: [LoRAModule: (in: Int, out: Int)] = [.v_proj: (30, 12), .up_proj: (30, 50)]
        var zoo = (0..<4).map { _ in LoRATestData.randomAdapter(rank: 4, layers: 2, modules: [.v_proj, .up_proj], dims: dims, constantEvery: 8, rng: &rng) }
        // Make one module's B identical across checkpoints: its tokens must get weight 0.
        let frozen = LoRASite(layer: 1, module: .v_proj)
        for k in 1..<4 { zoo[k].weights[frozen]!.b = zoo[0].weights[frozen]!.b }
        let layout = try TokenLayout(adapter: zoo[0], chunkWidth: 8)
        let w = try LossWeights.perToken(checkpoints: zoo, layout: layout)
        XCTAssertEqual(w.count, layout.count)
        XCTAssertEqual(Double(w.reduce(0, +)) / Double(w.count), 1, accuracy: 1e-5)
        for t in layout.shape(of: frozen)!.tokens(.B) { XCTAssertEqual(w[t], 0) }
        XCTAssertTrue(w.allSatisfy { $0 >= 0 && $0.isFinite })
    }

    func testAverageOverDatasets() throws {
        XCTAssertEqual(try LossWeights.average([[0.5, 1.5], [1.5, 0.5], [1, 1]]), [1, 1])
        XCTAssertEqual(try LossWeights.average([[2, 0]]), [2, 0])
        XCTAssertThrowsError(try LossWeights.average([])) { XCTAssertTrue("\($0)".contains("no datasets"), "\($0)") }
        XCTAssertThrowsError(try LossWeights.average([[1, 1], [1]])) { XCTAssertTrue("\($0)".contains("dataset 1"), "\($0)") }
    }

    func testMismatchedCheckpointsAreRefused() throws {
        let zoo = [adapter(a: [1, 2, 3], b: [0, 0]), adapter(a: [3, 2, 1, 0], b: [1, 1])]
        let layout = try TokenLayout(adapter: zoo[0], chunkWidth: 2)
        XCTAssertThrowsError(try LossWeights.perToken(checkpoints: zoo, layout: layout)) {
            XCTAssertTrue("\($0)".contains(site.key("A")) && "\($0)".contains("[1, 4]"), "\($0)")
        }
    }
}
