import DNDTestSupport
import Foundation
import SafeTensors
import TensorCore
import XCTest

final class DebugHyperconvTests: XCTestCase {
    let fixture = TestSupport.fixture("hyperconv")

    func testMatchesFixture() throws {
        let dir = TestSupport.temporaryDirectory()
        let out = dir.appendingPathComponent("o.safetensors"), grads = dir.appendingPathComponent("g.safetensors")
        let r = try TestSupport.runDND(["debug", "hyperconv", "--params", fixture.appendingPathComponent("params.safetensors").path,
                                        "--input", fixture.appendingPathComponent("input.safetensors").path, "--kernel", "3",
                                        "--out", out.path, "--grads", grads.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let last = try XCTUnwrap(r.stdout.split(separator: "\n").last)
        XCTAssertTrue(last.hasPrefix("loss "), r.stdout)
        let loss = try XCTUnwrap(Double(last.dropFirst(5)))
        let ref = try XCTUnwrap((TestSupport.json(fixture.appendingPathComponent("loss.json")) as? [String: Any])?["loss"] as? Double)
        print("dnd debug hyperconv: loss \(loss) vs \(ref)")
        XCTAssertEqual(loss, ref, accuracy: 1e-6 * ref)
        let y = try SafeTensorsFile(url: out).tensor("y")
        let yRef = try SafeTensorsFile(url: fixture.appendingPathComponent("output.safetensors")).tensor("y")
        print("dnd debug hyperconv: y max |diff| \(y.maxAbsDifference(yRef))")
        XCTAssertLessThanOrEqual(y.maxAbsDifference(yRef), 1e-5)
        let g = try SafeTensorsFile(url: grads).allTensors()
        let gRef = try SafeTensorsFile(url: fixture.appendingPathComponent("grads.safetensors")).allTensors()
        XCTAssertEqual(Set(g.keys), Set(gRef.keys))
        var worst: Float = 0
        for (name, ref) in gRef {
            let got = try XCTUnwrap(g[name], name)
            let e = ref.maxAbs() == 0 ? got.maxAbs() : TestSupport.relativeError(got, ref)
            worst = max(worst, e)
            XCTAssertLessThanOrEqual(e, 1e-4, name)
        }
        print("dnd debug hyperconv: worst gradient difference \(worst)")
    }

    func testForwardOnlyWithoutTargetPrintsNoLoss() throws {
        let dir = TestSupport.temporaryDirectory()
        let x = try SafeTensorsFile(url: fixture.appendingPathComponent("input.safetensors")).tensor("x")
        let input = dir.appendingPathComponent("x.safetensors"), out = dir.appendingPathComponent("o.safetensors")
        try SafeTensorsWriter.write(["x": x], to: input)
        let r = try TestSupport.runDND(["debug", "hyperconv", "--params", fixture.appendingPathComponent("params.safetensors").path,
                                        "--input", input.path, "--kernel", "3", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.contains("loss"))
        XCTAssertEqual(try SafeTensorsFile(url: out).tensor("y").shape, [2, 9, 4, 6])
        let noGrads = try TestSupport.runDND(["debug", "hyperconv", "--params", fixture.appendingPathComponent("params.safetensors").path,
                                              "--input", input.path, "--kernel", "3", "--out", out.path, "--grads", dir.appendingPathComponent("g.safetensors").path])
        XCTAssertNotEqual(noGrads.status, 0)
        XCTAssertTrue(noGrads.stderr.contains("--grads needs t and w"), noGrads.stderr)
    }

    func testRefusesParametersThatDoNotChain() throws {
        let dir = TestSupport.temporaryDirectory()
        var p = try SafeTensorsFile(url: fixture.appendingPathComponent("params.safetensors")).allTensors()
        p["blocks.1.channel.weight"] = Tensor(zeros: [9, 5, 3, 3])          // block 0 outputs 6 channels, not 5
        let params = dir.appendingPathComponent("p.safetensors")
        try SafeTensorsWriter.write(p, to: params)
        let r = try TestSupport.runDND(["debug", "hyperconv", "--params", params.path,
                                        "--input", fixture.appendingPathComponent("input.safetensors").path, "--kernel", "3",
                                        "--out", dir.appendingPathComponent("o.safetensors").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(params.path) && r.stderr.contains("do not chain") && r.stderr.contains("blocks.1"), r.stderr)
        let k = try TestSupport.runDND(["debug", "hyperconv", "--params", fixture.appendingPathComponent("params.safetensors").path,
                                        "--input", fixture.appendingPathComponent("input.safetensors").path, "--kernel", "5",
                                        "--out", dir.appendingPathComponent("o.safetensors").path])
        XCTAssertNotEqual(k.status, 0)
        XCTAssertTrue(k.stderr.contains("--kernel 3"), k.stderr)
    }
}
