import DNDTestSupport
import Foundation
import SafeTensors
import TensorCore
@testable import TextEncoder
import XCTest

final class BertModelTests: XCTestCase {
    func load(_ tiny: TinyBert, prefix: String = "", drop: String? = nil) throws -> BertModel {
        let dir = TestSupport.temporaryDirectory("tiny-bert")
        try tiny.write(to: dir, weightPrefix: prefix, drop: drop)
        return try BertModel(config: tiny.config, file: SafeTensorsFile(url: dir.appendingPathComponent("model.safetensors")))
    }

    func testPackedParallelForwardMatchesPlainReference() throws {
        let tiny = try TinyBert()
        let model = try load(tiny)
        var rng = SeededRNG(seed: 3)
        let lengths = [1, 5, 17, 33, 3, 16, 2]
        let ids = lengths.map { n in (0..<n).map { _ in rng.int(below: 40) } }
        let packed = model.forward(ids)
        XCTAssertEqual(packed.shape, [lengths.reduce(0, +), 36])
        var row = 0, worst: Float = 0
        for seq in ids {
            let ref = tiny.reference(seq)
            let got = packed.slice(row..<(row + seq.count))
            worst = max(worst, got.maxAbsDifference(ref))
            row += seq.count
        }
        print("BertModel.forward (packed, per-core groups) vs plain reference: max abs diff \(worst)")
        XCTAssertLessThan(worst, 1e-4)
        let serial = model.forwardPacked(ids)
        print("BertModel.forward vs forwardPacked (one thread group): max abs diff \(packed.maxAbsDifference(serial))")
        XCTAssertLessThan(packed.maxAbsDifference(serial), 1e-5)
    }

    func testAcceptsBertPrefixedCheckpoints() throws {
        let tiny = try TinyBert(layers: 1)
        let model = try load(tiny, prefix: "bert.")
        let ids = [[2, 10, 11, 3]]
        XCTAssertLessThan(model.forward(ids).maxAbsDifference(tiny.reference(ids[0])), 1e-4)
    }

    func testMissingOrMisshapenWeightIsNamed() throws {
        let tiny = try TinyBert(layers: 2)
        XCTAssertThrowsError(try load(tiny, drop: "encoder.layer.1.output.dense.bias")) { e in
            XCTAssertTrue("\(e)".contains("encoder.layer.1.output.dense.bias") && "\(e)".contains("missing"), "\(e)")
        }
        XCTAssertThrowsError(try load(tiny, drop: "embeddings.word_embeddings.weight")) { e in
            XCTAssertTrue("\(e)".contains("not a BERT checkpoint"), "\(e)")
        }
        let dir = TestSupport.temporaryDirectory("tiny-bert")
        try tiny.write(to: dir)
        var other = tiny.config
        other.intermediateSize = 64
        XCTAssertThrowsError(try BertModel(config: other, file: SafeTensorsFile(url: dir.appendingPathComponent("model.safetensors")))) { e in
            XCTAssertTrue("\(e)".contains("intermediate.dense.weight") && "\(e)".contains("[50, 36]") && "\(e)".contains("[64, 36]"), "\(e)")
        }
    }

    func testPartitionBalancesTokens() {
        let lengths = [10, 3, 7, 7, 2, 9]
        let groups = BertModel.partition(lengths, into: 2)
        XCTAssertEqual(groups.flatMap { $0 }.sorted(), Array(0..<6))
        let loads = groups.map { $0.reduce(0) { $0 + lengths[$1] } }
        XCTAssertLessThanOrEqual(abs(loads[0] - loads[1]), 2, "\(loads)")
        XCTAssertTrue(groups.allSatisfy { $0 == $0.sorted() })
        XCTAssertEqual(BertModel.partition([4], into: 2), [[0]])
    }
}
