import DNDTestSupport
import Generator
import TensorCore
import XCTest

final class HyperConvBlockTests: XCTestCase {
    /// The block written out literally as in `shared/fixtures/hyperconv/README.md` (permutes and direct-loop
    /// convolutions), the plain twin of `HyperConvBlock.forward`.
    func literalBlock(_ x: Tensor, _ w: HyperConvBlock.Weights, _ block: HyperConvBlock) -> Tensor {
        let (hi, wi) = (block.input[1], block.input[2]), (ho, wo) = (block.output[1], block.output[2])
        let (y, _) = LayerNorm.forward(x, weight: w.normWeight, bias: w.normBias, n: hi * wi, eps: 1e-5)
        let p1 = Conv2D.referenceForward(input: Conv2D.referenceForward(input: y.permuted([0, 3, 1, 2]), weight: w.wFirst).permuted([0, 3, 2, 1]),
                                         weight: w.hSecond).permuted([0, 2, 1, 3])
        let p2 = Conv2D.referenceForward(input: Conv2D.referenceForward(input: y.permuted([0, 2, 1, 3]), weight: w.hFirst).permuted([0, 3, 2, 1]),
                                         weight: w.wSecond).permuted([0, 2, 3, 1])
        var q = p1 + p2.map { tanhf($0) }
        let slices = q.count / (ho * wo)
        q.withUnsafeMutableBufferPointer { b in
            for s in 0..<slices { for j in 0..<(ho * wo) { b[s * ho * wo + j] = (b[s * ho * wo + j] + w.bias[flat: j]) / 3 } }
        }
        return Conv2D.referenceForward(input: q, weight: w.channelWeight, bias: w.channelBias)
    }

    func testForwardMatchesTheLiteralDefinition() throws {
        var rng = SeededRNG(seed: 61)
        for (input, output, k) in [([4, 8, 12], [6, 5, 7], 3), ([3, 6, 5], [5, 4, 7], 5), ([2, 3, 9], [7, 9, 2], 7), ([5, 1, 4], [1, 2, 1], 1)] {
            let block = HyperConvBlock(input: input, output: output, kernel: k)
            let w = HyperConvBlock.Weights(block.parameterShapes.mapValues { Tensor.randomNormal($0, std: 0.5, rng: &rng) }, prefix: "")
            let x = Tensor.randomNormal([2] + input, rng: &rng)
            let (y, cache) = block.forward(x, w)
            let ref = literalBlock(x, w, block)
            let diff = y.maxAbsDifference(ref)
            print("block \(input) → \(output), k=\(k): max |diff| vs literal definition \(diff)")
            XCTAssertLessThan(diff, 1e-4 * max(1, ref.maxAbs()))
            XCTAssertGreaterThan(cache.bytes, 0)
        }
    }

    func testBackwardAccumulatesIntoExistingGradients() {
        var rng = SeededRNG(seed: 62)
        let block = HyperConvBlock(input: [3, 4, 5], output: [4, 3, 6], kernel: 3)
        let w = HyperConvBlock.Weights(block.parameterShapes.mapValues { Tensor.randomNormal($0, std: 0.5, rng: &rng) }, prefix: "")
        let x = Tensor.randomNormal([2, 3, 4, 5], rng: &rng), dOut = Tensor.randomNormal([2, 4, 3, 6], rng: &rng)
        let (_, cache) = block.forward(x, w)
        var once = block.zeroWeights()
        _ = block.backward(&once, dOut: dOut, cache: cache, weights: w)
        var twice = once
        _ = block.backward(&twice, dOut: dOut, cache: cache, weights: w)
        let a = once.named(prefix: ""), b = twice.named(prefix: "")
        for (name, t) in a { XCTAssertLessThan(b[name]!.maxAbsDifference(t * 2), 1e-4 * max(1, t.maxAbs()), name) }
        XCTAssertEqual(block.parameterCount, block.parameterShapes.values.reduce(0) { $0 + $1.reduce(1, *) })
    }
}
