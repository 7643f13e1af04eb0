import DNDTestSupport
import Foundation
import Generator
import SafeTensors
import TensorCore
import XCTest

final class HyperConvGeneratorTests: XCTestCase {
    /// Output, loss and every gradient against `shared/fixtures/hyperconv` (PyTorch).
    func testMatchesHyperconvFixture() throws {
        let dir = TestSupport.fixture("hyperconv")
        let meta = try XCTUnwrap(TestSupport.json(dir.appendingPathComponent("config.json")) as? [String: Any])
        let chain = try XCTUnwrap(meta["chain"] as? [[Int]])
        let kernel = try XCTUnwrap(meta["kernel"] as? Int)
        let params = try SafeTensorsFile(url: dir.appendingPathComponent("params.safetensors")).allTensors()
        let input = try SafeTensorsFile(url: dir.appendingPathComponent("input.safetensors"))
        let (x, t, w) = (try input.tensor("x"), try input.tensor("t"), try input.tensor("w"))
        let yRef = try SafeTensorsFile(url: dir.appendingPathComponent("output.safetensors")).tensor("y")
        let gradsRef = try SafeTensorsFile(url: dir.appendingPathComponent("grads.safetensors")).allTensors()
        let lossRef = try XCTUnwrap((TestSupport.json(dir.appendingPathComponent("loss.json")) as? [String: Any])?["loss"] as? Double)

        let g = try HyperConvGenerator(config: GeneratorConfig(chain: chain, kernel: kernel), parameters: params, source: "fixture")
        let (y, cache) = try g.forwardWithCache(x)
        XCTAssertEqual(y.shape, yRef.shape)
        let yDiff = y.maxAbsDifference(yRef)
        print("hyperconv fixture: y max |diff| = \(yDiff)")
        XCTAssertLessThanOrEqual(yDiff, 1e-5)

        let loss = WeightedMSE.forward(y, target: t, weights: w)
        let lossRel = abs(Double(loss) - lossRef) / lossRef
        print("hyperconv fixture: loss \(loss) vs \(lossRef), relative diff \(lossRel)")
        XCTAssertLessThanOrEqual(lossRel, 1e-6)

        var grads: [String: Tensor] = [:]
        let dx = g.backward(&grads, dOut: WeightedMSE.backward(y, target: t, weights: w), cache: cache)
        grads["x"] = dx
        XCTAssertEqual(Set(grads.keys), Set(gradsRef.keys), "gradient names")
        XCTAssertEqual(gradsRef.count, 19)
        let lastBlock = chain.count - 2
        for name in gradsRef.keys.sorted() {
            let ref = gradsRef[name]!, got = try XCTUnwrap(grads[name], name)
            XCTAssertEqual(got.shape, ref.shape, name)
            if name.hasSuffix("channel.bias") && name != "blocks.\(lastBlock).channel.bias" {
                // LayerNorm of the next block removes a per-slice constant: the true gradient is exactly 0.
                let absDiff = got.maxAbsDifference(ref)
                print("hyperconv fixture: \(name) max |diff| = \(absDiff) (absolute; exact value 0)")
                XCTAssertLessThanOrEqual(absDiff, 1e-5, name)
            } else {
                let rel = TestSupport.relativeError(got, ref)
                print("hyperconv fixture: \(name) relative max diff = \(rel)")
                XCTAssertLessThanOrEqual(rel, 1e-4, name)
            }
        }
    }

    /// Every gradient (input and all parameters) against central finite differences, on a chain with kernel 5
    /// and shapes that shrink, grow and change every axis.
    func testBackwardMatchesFiniteDifferencesWithKernel5() throws {
        let config = try GeneratorConfig(chain: [[3, 6, 5], [5, 4, 7], [2, 5, 4]], kernel: 5)
        let g = HyperConvGenerator(config: config, seed: 11)
        var rng = SeededRNG(seed: 12)
        // Perturb the LayerNorm affine and biases away from 1 / 0 so that their gradients are exercised generally.
        var p = g.parameters
        for (name, t) in p where !name.hasSuffix(".weight") || name.hasSuffix("norm.weight") {
            p[name] = t + Tensor.randomNormal(t.shape, std: 0.3, rng: &rng)
        }
        try g.setParameters(p)
        let x = Tensor.randomNormal([2] + config.conditionShape, rng: &rng)
        let probe = Tensor.randomNormal([2] + config.tokenShape, rng: &rng)
        let (_, cache) = try g.forwardWithCache(x)
        var grads: [String: Tensor] = [:]
        let dx = g.backward(&grads, dOut: probe, cache: cache)

        func loss(_ params: [String: Tensor], _ input: Tensor) -> Double {
            let gg = try! HyperConvGenerator(config: config, parameters: params)
            return TestSupport.dot(try! gg.forward(input), probe)
        }
        let base = g.parameters
        let nx = TestSupport.numericGradient(x, h: 1e-2) { loss(base, $0) }
        let ex = TestSupport.relativeError(dx, nx)
        print("finite differences (k=5): x relative error \(ex)")
        XCTAssertLessThan(ex, 2e-3)
        for name in base.keys.sorted() {
            let n = TestSupport.numericGradient(base[name]!, h: 1e-2) { v in
                var q = base; q[name] = v; return loss(q, x)
            }
            let got = try XCTUnwrap(grads[name], name)
            if name.hasSuffix("channel.bias") && name != "blocks.1.channel.bias" {
                print("finite differences (k=5): \(name) max |grad| \(got.maxAbs()) (exactly 0 in theory)")
                XCTAssertLessThan(got.maxAbs(), 1e-4, name)
                continue
            }
            let e = TestSupport.relativeError(got, n)
            print("finite differences (k=5): \(name) relative error \(e)")
            XCTAssertLessThan(e, 2e-3, name)
        }
    }

    func testSaveLoadReproducesOutputsBitForBit() throws {
        let config = try GeneratorConfig(chain: [[3, 6, 10], [8, 5, 7], [12, 4, 6]], kernel: 3, encoderIdentity: "test-encoder",
                                         targetModules: ["q_proj"], baseModel: "tiny")
        let g = HyperConvGenerator(config: config, seed: 5)
        var rng = SeededRNG(seed: 6)
        let x = Tensor.randomNormal([3] + config.conditionShape, rng: &rng)
        let y = try g.forward(x)
        let dir = TestSupport.temporaryDirectory().appendingPathComponent("gen")
        try g.save(to: dir)
        let back = try HyperConvGenerator(folder: dir)
        XCTAssertEqual(back.config, config)
        XCTAssertEqual(try back.forward(x), y)
        for (name, t) in g.parameters { XCTAssertEqual(back.parameters[name], t, name) }
        // Saving again over the existing folder replaces it and leaves no temporary folder behind.
        let g2 = HyperConvGenerator(config: config, seed: 7)
        try g2.save(to: dir)
        XCTAssertEqual(try HyperConvGenerator(folder: dir).forward(x), try g2.forward(x))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.deletingLastPathComponent().path)
        XCTAssertEqual(leftovers, ["gen"])
    }

    func testSameSeedSameWeightsAndFanInScale() throws {
        let config = try GeneratorConfig(chain: [[4, 8, 16], [16, 6, 12], [32, 4, 6]], kernel: 3)
        let a = HyperConvGenerator(config: config, seed: 1), b = HyperConvGenerator(config: config, seed: 1)
        XCTAssertEqual(a.parameters, b.parameters)
        XCTAssertNotEqual(a.parameters, HyperConvGenerator(config: config, seed: 2).parameters)
        let w = a.parameters["blocks.1.channel.weight"]!                  // fan-in 16·3·3
        let std = (w.sumOfSquares() / Float(w.count)).squareRoot()
        XCTAssertEqual(std, 1 / Float(16 * 9).squareRoot(), accuracy: 0.01)
        XCTAssertEqual(a.parameters["blocks.0.norm.weight"]!.minValue(), 1)
        XCTAssertEqual(a.parameters["blocks.0.bias"]!.maxAbs(), 0)
        XCTAssertEqual(a.parameterCount, config.parameterCount)
    }

    func testLoadRefusesMismatchedWeightsWithClearErrors() throws {
        let config = try GeneratorConfig(chain: [[3, 6, 10], [8, 5, 7]], kernel: 3)
        let g = HyperConvGenerator(config: config, seed: 5)
        var p = g.parameters
        p["blocks.0.bias"] = Tensor(zeros: [5, 8])
        XCTAssertThrowsError(try HyperConvGenerator(config: config, parameters: p, source: "p.safetensors")) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("p.safetensors") && m.contains("blocks.0.bias") && m.contains("[5, 7]"), m)
        }
        p = g.parameters
        p["blocks.0.h_first.weight"] = nil
        XCTAssertThrowsError(try g.setParameters(p)) { XCTAssertTrue("\($0)".contains("missing tensor blocks.0.h_first.weight")) }
        p = g.parameters
        p["blocks.1.norm.weight"] = Tensor(zeros: [1])
        XCTAssertThrowsError(try g.setParameters(p)) { XCTAssertTrue("\($0)".contains("unexpected tensor blocks.1.norm.weight")) }
        XCTAssertThrowsError(try g.forward(Tensor(zeros: [1, 3, 6, 9]))) { XCTAssertTrue("\($0)".contains("[B, 3, 6, 10]"), "\($0)") }
        let missing = TestSupport.temporaryDirectory()
        XCTAssertThrowsError(try HyperConvGenerator(folder: missing)) { XCTAssertTrue("\($0)".contains("generator.json"), "\($0)") }
    }
}
