import DNDTestSupport
import Foundation
import SafeTensors
import TensorCore
import XCTest

final class EmbedTests: XCTestCase {
    func testEmbedsAPromptFileWithAndWithoutHidden() throws {
        let dir = TestSupport.temporaryDirectory()
        let input = dir.appendingPathComponent("prompts.jsonl")
        try Data("""
        {"prompt": "The quick brown fox jumps over the lazy dog.", "response": "ok"}
        {"prompt": "Which planet is the largest?"}
        {"prompt": "\(String(repeating: "word ", count: 300))"}

        """.utf8).write(to: input)
        let out = dir.appendingPathComponent("emb.safetensors")
        var r = try TestSupport.runDND(["embed", "--input", input.path, "--model", TestSupport.encoderModel.path, "--out", out.path, "--length", "12"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("embedded 3 prompts") && r.stdout.contains("1 truncated to 256"), r.stdout)
        var file = try SafeTensorsFile(url: out)
        let pooled = try file.tensor("pooled"), hidden = try file.tensor("hidden")
        XCTAssertEqual(pooled.shape, [3, 384])
        XCTAssertEqual(hidden.shape, [3, 12, 384])
        // A prompt of one sentence is its own mean sentence embedding: exactly when it is one as it stands, up to the
        // rounding of another batch when trimmed of white space (the 300 words).
        let sentences = try file.tensor("sentences")
        XCTAssertEqual(sentences.slice(0..<2), pooled.slice(0..<2))
        XCTAssertLessThan(sentences.row(2).maxAbsDifference(pooled.row(2)), 1e-6)   // 6e-8 measured
        XCTAssertEqual(file.metadata["length"], "12")
        XCTAssertTrue(file.metadata["encoder"]?.hasPrefix("MiniLM-L6-H384-uncased") ?? false)
        // The first prompt is fixture sentence 0: its pooled embedding matches sentence-transformers.
        let ref = try SafeTensorsFile(url: TestSupport.fixture("minilm/expected.safetensors")).tensor("pooled.0")
        let p0 = pooled.row(0)
        XCTAssertGreaterThanOrEqual(BLAS.dot(n: 384, p0.pointer, ref.pointer) / (p0.norm() * ref.norm()), 0.99999)
        // "Which planet is the largest?" is 8 tokens: rows 8..<12 are padding.
        XCTAssertEqual(hidden.row(1).slice(8..<12).maxAbs(), 0)
        XCTAssertGreaterThan(hidden.row(1).slice(7..<8).maxAbs(), 0)

        r = try TestSupport.runDND(["embed", "--input", input.path, "--out", out.path], environment: ["DND_ENCODER": TestSupport.encoderModel.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        file = try SafeTensorsFile(url: out)
        XCTAssertEqual(file.names, ["pooled", "sentences"])
    }

    func testBadInputAndMissingEncoderAreOneLineErrors() throws {
        let dir = TestSupport.temporaryDirectory()
        let input = dir.appendingPathComponent("prompts.jsonl")
        try Data("{\"prompt\": \"fine\"}\nnot json\n".utf8).write(to: input)
        var r = try TestSupport.runDND(["embed", "--input", input.path, "--out", dir.appendingPathComponent("o.safetensors").path,
                                        "--model", TestSupport.encoderModel.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(input.path) && r.stderr.contains("2"), r.stderr)
        try Data("{\"prompt\": \"fine\"}\n".utf8).write(to: input)
        r = try TestSupport.runDND(["embed", "--input", input.path, "--out", dir.appendingPathComponent("o.safetensors").path],
                                   environment: ["DND_ENCODER": dir.appendingPathComponent("absent").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("DND_ENCODER="), r.stderr)
    }
}
