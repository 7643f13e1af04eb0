import DNDTestSupport
import Foundation
import SafeTensors
import TensorCore
@testable import TextEncoder
import XCTest

final class SentenceEncoderTests: XCTestCase {
    static var shared: SentenceEncoder?
    func encoder() throws -> SentenceEncoder {
        if let e = Self.shared { return e }
        let e = try SentenceEncoder(folder: TestSupport.encoderModel)
        Self.shared = e
        return e
    }

    func sentences() throws -> [String] {
        try XCTUnwrap(TestSupport.json(TestSupport.fixture("minilm/sentences.json")) as? [String])
    }

    func testHiddenAndPooledMatchSentenceTransformers() throws {
        let enc = try encoder()
        let expected = try SafeTensorsFile(url: TestSupport.fixture("minilm/expected.safetensors"))
        var worstHidden: Float = 0, worstCosine: Float = 1
        for (i, s) in try sentences().enumerated() {
            let t = enc.tokenize(s).count
            let (hidden, pooled) = enc.encode([s], length: t)
            let refHidden = try expected.tensor("hidden.\(i)")
            let refPooled = try expected.tensor("pooled.\(i)")
            let got = hidden.reshaped([t, enc.hiddenSize])
            XCTAssertEqual(got.shape, refHidden.shape, "sentence \(i)")
            guard got.shape == refHidden.shape else { continue }
            let d = got.maxAbsDifference(refHidden)
            let p = pooled.reshaped([enc.hiddenSize])
            let cos = BLAS.dot(n: p.count, p.pointer, refPooled.pointer) / (p.norm() * refPooled.norm())
            worstHidden = max(worstHidden, d); worstCosine = min(worstCosine, cos)
            XCTAssertLessThanOrEqual(d, 1e-4, "sentence \(i): hidden max abs difference")
            XCTAssertGreaterThanOrEqual(cos, 0.99999, "sentence \(i): pooled cosine")
        }
        print("minilm expected.safetensors: hidden max abs diff \(worstHidden), pooled min cosine \(worstCosine)")
    }
}
