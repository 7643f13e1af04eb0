import DNDTestSupport
import Generator
import TensorCore
import XCTest

final class ChainBuilderTests: XCTestCase {
    func testChainsEndAtTheTargetGeometryAndFitTheBudget() throws {
        let targets: [(n: Int, l: Int, h: Int, t: Int, r: Int, cw: Int)] = [
            (16, 64, 384, 256, 8, 32), (16, 64, 384, 4296, 8, 128), (8, 32, 384, 50, 4, 16), (128, 384, 384, 4296, 8, 128),
            (4, 8, 12, 9, 2, 4), (32, 16, 64, 3, 1, 1),
        ]
        for x in targets {
            for budget in [GeneratorBudget.automatic, .flops(40e9)] {
                for (blocks, kernel) in [(4, 3), (7, 9), (1, 3), (2, 5)] {
                    let c: GeneratorConfig
                    do {
                        c = try GeneratorConfig.cpuDefault(prompts: x.n, length: x.l, hidden: x.h, tokenCount: x.t, rank: x.r,
                                                           chunkWidth: x.cw, budget: budget, kernel: kernel, blocks: blocks)
                    } catch {
                        // Only a fixed budget may be too small, and the message then says how small the cheapest chain is.
                        guard case .flops = budget else { throw error }
                        XCTAssertTrue("\(error)".contains("too small") && "\(error)".contains("GFLOPs"), "\(error)")
                        continue
                    }
                    XCTAssertEqual(c.chain.first, [x.n, x.l, x.h])
                    XCTAssertEqual(c.chain.last, [x.t, x.r + 2, x.cw + 2])
                    XCTAssertEqual(c.chain.count, blocks + 1)
                    XCTAssertEqual(c.kernel, kernel)
                    if case let .flops(f) = budget { XCTAssertLessThanOrEqual(c.forwardFLOPs, f) }
                }
            }
        }
    }

    func testRuleDetails() throws {
        // Demo-like target: the automatic budget is 2 GFLOPs; the even profile (γ = 1) is too dear at C = 16, γ = 1/2 fits.
        let demo = try ChainBuilder.build(condition: [16, 64, 384], target: [256, 10, 34])
        let c = try GeneratorConfig(chain: demo, kernel: 3)
        XCTAssertLessThanOrEqual(c.forwardFLOPs, 2e9)
        XCTAssertEqual(demo, ChainBuilder.chain(condition: [16, 64, 384], target: [256, 10, 34], blocks: 4, width: demo[3][0], profile: 0.5))
        XCTAssertGreaterThanOrEqual(demo[3][0], 16)
        // One more channel of width would break the budget.
        let wider = ChainBuilder.chain(condition: [16, 64, 384], target: [256, 10, 34], blocks: 4, width: demo[3][0] + 1, profile: 0.5)
        XCTAssertGreaterThan(try GeneratorConfig(chain: wider, kernel: 3).forwardFLOPs, 2e9)
        // Spatial sizes shrink monotonically, channels grow monotonically up to the last block.
        for i in 1..<demo.count {
            XCTAssertLessThanOrEqual(demo[i][1], demo[i - 1][1])
            XCTAssertLessThanOrEqual(demo[i][2], demo[i - 1][2])
            XCTAssertGreaterThanOrEqual(demo[i][0], demo[i - 1][0])
        }
        // A parameter budget is honoured too.
        let small = try ChainBuilder.build(condition: [16, 64, 384], target: [256, 10, 34], budget: .parameters(600_000))
        XCTAssertLessThanOrEqual(try GeneratorConfig(chain: small, kernel: 3).parameterCount, 600_000)
        XCTAssertThrowsError(try ChainBuilder.build(condition: [16, 64, 384], target: [256, 10, 34], budget: .parameters(1000))) {
            XCTAssertTrue("\($0)".contains("too small") && "\($0)".contains("parameters"), "\($0)")
        }
        XCTAssertThrowsError(try ChainBuilder.build(condition: [16, 64, 384], target: [256, 10, 34], kernel: 4))
    }
}
