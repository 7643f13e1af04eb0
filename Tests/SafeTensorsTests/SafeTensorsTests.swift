import DNDTestSupport
import Foundation
import SafeTensors
import TensorCore
import XCTest

final class SafeTensorsTests: XCTestCase {
    /// Builds a file from a hand-written header and a data section.
    func rawFile(header: String, data: [UInt8], headerLengthOverride: UInt64? = nil) -> URL {
        let url = TestSupport.temporaryDirectory().appendingPathComponent("t.safetensors")
        var bytes = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: (headerLengthOverride ?? UInt64(h.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(h)
        bytes.append(contentsOf: data)
        try! bytes.write(to: url)
        return url
    }

    func assertRejects(_ url: URL, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensorsFile(url: url), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(url.path), "error names the file: \(message)", file: file, line: line)
            for p in parts { XCTAssertTrue(message.contains(p), "error mentions '\(p)': \(message)", file: file, line: line) }
        }
    }

    func testRoundTripAllWritableDtypesAndMetadata() throws {
        var rng = SeededRNG(seed: 5)
        let a = Tensor.randomNormal([3, 4], rng: &rng)
        let url = TestSupport.temporaryDirectory().appendingPathComponent("x.safetensors")
        try SafeTensorsWriter.write(payloads: [
            "f32": .float(a, .f32), "bf16": .float(a, .bf16), "f16": .float(a, .f16),
            "i64": .int64([1, -2, 3], shape: [3]), "i32": .int32([7, 8], shape: [2, 1]), "u8": .uint8([255, 0], shape: [2]),
        ], to: url, metadata: ["format": "pt", "who": "dnd"])
        let f = try SafeTensorsFile(url: url)
        XCTAssertEqual(f.metadata, ["format": "pt", "who": "dnd"])
        XCTAssertEqual(f.names, ["bf16", "f16", "f32", "i32", "i64", "u8"])
        XCTAssertEqual(try f.tensor("f32"), a)
        XCTAssertLessThan(try f.tensor("bf16").maxAbsDifference(a), a.maxAbs() / 128)
        XCTAssertLessThan(try f.tensor("f16").maxAbsDifference(a), a.maxAbs() / 1000)
        XCTAssertEqual(f.info("bf16")?.dtype, .bf16)
        XCTAssertEqual(try f.integers("i64"), [1, -2, 3])
        XCTAssertEqual(try f.integers("i32"), [7, 8])
        XCTAssertEqual(f.info("i32")?.shape, [2, 1])
        XCTAssertEqual(try f.integers("u8"), [255, 0])
    }

    func testHalfConversionsAreExactOnRepresentableValues() {
        for v: Float in [0, 1, -2, 0.5, 65504, 6.1035156e-05, 5.9604645e-08] {
            XCTAssertEqual(HalfFloat.f16ToFloat(HalfFloat.floatToF16(v)), v)
        }
        for v: Float in [0, 1, -3, 0.15625, 3.3895314e38] {
            XCTAssertEqual(HalfFloat.bf16ToFloat(HalfFloat.floatToBF16(v)), v)
        }
        XCTAssertEqual(HalfFloat.bf16ToFloat(HalfFloat.floatToBF16(1.00390625)), 1.0, "ties round to even")
    }

    func testReadsEveryFixtureFile() throws {
        let files = FileManager.default.enumerator(at: TestSupport.fixtures, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "safetensors" }
        XCTAssertGreaterThanOrEqual(files.count, 12)
        for url in files {
            let f = try SafeTensorsFile(url: url)
            XCTAssertFalse(f.tensors.isEmpty, url.path)
            for t in f.tensors { XCTAssertEqual(try f.tensor(t.name).shape, t.shape) }
        }
        let grads = try SafeTensorsFile(url: TestSupport.fixture("tiny-qwen2/train_step/grads.safetensors"))
        XCTAssertEqual(grads.tensors.count, 55)
    }

    func testRejectsTruncatedFile() throws {
        let good = TestSupport.fixture("lora-tokens/tokens.safetensors")
        let data = try Data(contentsOf: good)
        let url = TestSupport.temporaryDirectory().appendingPathComponent("cut.safetensors")
        try data.prefix(data.count - 100).write(to: url)
        assertRejects(url, mentioning: ["tokens", "truncated"])
        let tiny = TestSupport.temporaryDirectory().appendingPathComponent("tiny.safetensors")
        try Data([1, 2, 3]).write(to: tiny)
        assertRejects(tiny, mentioning: ["truncated"])
    }

    func testRejectsHeaderLongerThanFile() {
        assertRejects(rawFile(header: "{}", data: [], headerLengthOverride: 4096), mentioning: ["header length 4096", "larger than the file"])
    }

    func testRejectsOverlappingOffsets() {
        let url = rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                          data: [UInt8](repeating: 0, count: 12))
        assertRejects(url, mentioning: ["overlap", "'a'", "'b'"])
    }

    func testRejectsDtypeShapeMismatch() {
        let url = rawFile(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        assertRejects(url, mentioning: ["'w'", "needs 12 bytes", "give 8"])
    }

    func testRejectsInvalidJSONAndUnknownDtype() {
        assertRejects(rawFile(header: "{not json", data: []), mentioning: ["not valid JSON"])
        assertRejects(rawFile(header: #"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0]), mentioning: ["'w'", "unsupported dtype Q4"])
    }

    func testUnalignedF32IsCopiedCorrectly() throws {
        // A 3-byte header puts the data at offset 11: F32 must be read without assuming alignment.
        let values: [Float] = [1.5, -2.25]
        var data = [UInt8]()
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        let header = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let url = rawFile(header: header + "   ", data: data)
        XCTAssertEqual(try SafeTensorsFile(url: url).tensor("x").array, values)
    }
}
