import DNDTestSupport
import Foundation
import SafeTensors
import XCTest

/// `dnd debug train-step` against the PyTorch/PEFT training step of tiny-qwen2.
final class DebugTrainStepTests: XCTestCase {
    static let folder = TestSupport.fixture("tiny-qwen2")

    func testLossAndGradientsMatchReference() throws {
        let out = TestSupport.temporaryDirectory().appendingPathComponent("grads.safetensors")
        let r = try TestSupport.runDND(["debug", "train-step", "--model", Self.folder.path, "--adapter", Self.folder.appendingPathComponent("adapter").path,
                                        "--input", Self.folder.appendingPathComponent("train_step/batch.json").path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let last = try XCTUnwrap(r.stdout.split(separator: "\n").last)
        XCTAssertTrue(last.hasPrefix("loss "), String(last))
        let loss = try XCTUnwrap(Double(last.dropFirst(5)))
        XCTAssertEqual(loss, 6.6290404700597065, accuracy: 1e-5)
        let got = try SafeTensorsFile(url: out), want = try SafeTensorsFile(url: Self.folder.appendingPathComponent("train_step/grads.safetensors"))
        XCTAssertEqual(Set(got.names), Set(want.names))
        var worst: Float = 0
        for n in want.names { worst = max(worst, TestSupport.relativeError(try got.tensor(n), try want.tensor(n))) }
        print("dnd debug train-step: loss \(loss), worst relative gradient error \(worst) over \(want.names.count) tensors")
        XCTAssertLessThan(worst, 1e-4)
    }

    func testRejectsMalformedBatches() throws {
        let dir = TestSupport.temporaryDirectory()
        let batch = dir.appendingPathComponent("b.json")
        try #"{"input_ids": [[1, 2, 3]], "labels": [[2, 3]]}"#.write(to: batch, atomically: true, encoding: .utf8)
        let args = ["debug", "train-step", "--model", Self.folder.path, "--adapter", Self.folder.appendingPathComponent("adapter").path,
                    "--input", batch.path, "--out", dir.appendingPathComponent("g.safetensors").path]
        var r = try TestSupport.runDND(args)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("same shape"), r.stderr)
        try #"{"input_ids": [[1, 2, 3]], "labels": [[-100, -100, -100]]}"#.write(to: batch, atomically: true, encoding: .utf8)
        r = try TestSupport.runDND(args)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("-100"), r.stderr)
    }
}
