import DNDTestSupport
import Foundation
@testable import GGUF
import SafeTensors
import TensorCore
import XCTest

final class DequantizeTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Fixtures/quants.gguf (written by gguf-py) against gguf-py's own dequantization
    /// (tools/fixtures/gguf-quants.py): every supported type, quantized values and random blocks.
    func testEveryTypeMatchesGGUFPy() throws {
        let f = try GGUFFile(url: DequantizeTests.fixtures.appendingPathComponent("quants.gguf"))
        let expected = try SafeTensorsFile(url: DequantizeTests.fixtures.appendingPathComponent("quants-expected.safetensors"))
        XCTAssertEqual(try f.architecture, "quants-test")
        XCTAssertEqual(Set(f.names), Set(expected.names))
        XCTAssertEqual(Set(f.tensors.map(\.type)), Set(GGMLType.allCases.filter(\.isDequantizable)), "the fixture covers every supported type")
        var worst: [GGMLType: Float] = [:]
        for t in f.tensors {
            let got = try f.tensor(t.name), want = try expected.tensor(t.name)
            XCTAssertEqual(got.shape, want.shape, t.name)
            XCTAssertEqual(t.type.description, String(t.name.prefix { $0 != "." }), "tensors are named after their type")
            let diff = got.maxAbsDifference(want)
            worst[t.type] = max(worst[t.type] ?? 0, diff)
            XCTAssertEqual(diff, 0, "\(t.name): max abs difference against gguf-py")
        }
        for type in GGMLType.allCases where worst[type] != nil {
            print("dequantize \(type): max abs diff vs gguf-py \(worst[type]!)")
        }
    }

    /// Splitting a tensor into parallel chunks gives the same bits as one kernel call over all blocks.
    func testParallelChunksEqualOneSerialPass() throws {
        var rng = SeededRNG(seed: 11)
        for type in GGMLType.allCases where type.isDequantizable {
            let blocks = 3 * Dequantize.chunkValues / type.blockSize + 5  // several chunks and a short last one
            var raw = (0..<(blocks * type.typeSize)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Keep every f16 scale finite so that the comparison is of numbers, not NaN payloads.
            if type.blockSize > 1 { for b in 0..<blocks { for off in scaleOffsets(type) { raw[b * type.typeSize + off + 1] &= 0x3B } } }
            let n = blocks * type.blockSize
            let parallel = UnsafeMutablePointer<Float>.allocate(capacity: n), serial = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { parallel.deallocate(); serial.deallocate() }
            raw.withUnsafeBytes { src in
                Dequantize.run(type, from: src.baseAddress!, to: parallel, count: n)
                Dequantize.kernel(type)!(src.baseAddress!, serial, blocks)
            }
            XCTAssertEqual(memcmp(parallel, serial, n * 4), 0, "\(type)")
        }
    }

    /// Where the f16 scales sit in one block (the high byte of each is masked to keep it finite).
    func scaleOffsets(_ type: GGMLType) -> [Int] {
        switch type {
        case .q8_0, .q4_0, .q5_0: [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: [0, 2]
        case .q2_K: [80, 82]
        case .q3_K: [108]
        case .q6_K: [208]
        default: []
        }
    }

    func testUnsupportedTypesParseButAreRefusedByName() throws {
        var raw = RawGGUF()
        raw.tensor("blk.0.ffn_up.weight", dims: [256, 2], type: GGMLType.iq2_XXS.rawValue, offset: 0)
        raw.tensor("q81", dims: [32], type: GGMLType.q8_1.rawValue, offset: 160)
        raw.tensor("f64", dims: [4], type: GGMLType.f64.rawValue, offset: 224)
        raw.tensor("i8", dims: [4], type: GGMLType.i8.rawValue, offset: 256)
        raw.data = [UInt8](repeating: 0, count: 288)
        let url = GGUFTestFiles.write(raw.bytes)
        let f = try GGUFFile(url: url)
        XCTAssertEqual(f.info("blk.0.ffn_up.weight")?.byteCount, 2 * 66)
        XCTAssertEqual(f.tensors.map(\.type), [.iq2_XXS, .q8_1, .f64, .i8])
        for (name, type) in [("blk.0.ffn_up.weight", "IQ2_XXS"), ("q81", "Q8_1"), ("f64", "F64"), ("i8", "I8")] {
            XCTAssertThrowsError(try f.tensor(name)) { error in
                let message = "\(error)"
                for part in [url.path, "tensor '\(name)' is \(type)", "does not dequantize", "llama-quantize to Q8_0 or Q4_K_M", "F16"] {
                    XCTAssertTrue(message.contains(part), "mentions '\(part)': \(message)")
                }
            }
        }
        XCTAssertThrowsError(try f.tensor("nope")) { XCTAssertTrue("\($0)".contains("no tensor named 'nope'")) }
    }

    func testF32IsBorrowedFromTheMappingAndOutlivesTheFile() throws {
        var w = GGUFWriter()
        let x = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        try w.addTensor("x", x)
        let url = GGUFTestFiles.write([UInt8](try w.data()))
        var borrowed: Tensor?
        do {
            let f = try GGUFFile(url: url)
            let t = try f.tensor("x")
            XCTAssertEqual(UnsafeRawPointer(t.pointer), try f.rawBytes("x").baseAddress, "zero-copy")
            borrowed = t
        }
        XCTAssertEqual(borrowed?.array, [1, 2, 3, 4, 5, 6], "the mapping lives as long as the tensor")
        borrowed![flat: 0] = 9  // a write copies first
        XCTAssertEqual(borrowed?.array, [9, 2, 3, 4, 5, 6])
    }
}
