import DNDTestSupport
import Foundation
import LLM
import TensorCore
import TextEncoder
import XCTest

/// The daemon runs a job's evaluation (the LLM's sharded passes) while a retraining encodes prompts (the encoder's
/// per-core groups): both run single-threaded BLAS regions on their own threads. The process-wide OpenBLAS thread
/// count must be what it was once both are done.
final class BLASInterleavingTests: XCTestCase {
    func testEncoderAndLLMRegionsOverlappingLeaveTheThreadCount() throws {
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        BLAS.setThreads(2)
        let encoder = try SentenceEncoder(folder: TestSupport.encoderModel)
        let model = try CausalLM(folder: TestSupport.fixture("tiny-qwen2"))
        let texts = (0..<6).map { "prompt number \($0) about something different" }
        let inputs = (0..<4).map { i in (0..<(12 + i)).map { ($0 * 7 + i) % 300 } }
        let labels = inputs.map { $0.map { $0 % 5 == 0 ? -100 : $0 } }
        let group = DispatchGroup()
        for side in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                for _ in 0..<20 {
                    if side == 0 { _ = encoder.encode(texts, length: 16) }
                    else { _ = model.transformer.lossAndGradients(inputs: inputs, labels: labels, lora: nil, trainBase: false, shards: 2) }
                }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(BLAS.threads, 2, "OpenBLAS must not stay single-threaded after overlapping regions")
    }
}
