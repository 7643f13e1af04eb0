import DNDTestSupport
import Foundation
@testable import GGUF
import TensorCore
import XCTest

final class GGUFWriterTests: XCTestCase {
    /// One value of every type, arrays of every element type (empty and nested included).
    static let everyValue: [(String, GGUFValue)] = [
        ("v.uint8", .uint8(255)), ("v.int8", .int8(-128)), ("v.uint16", .uint16(65535)), ("v.int16", .int16(-32768)),
        ("v.uint32", .uint32(4_000_000_000)), ("v.int32", .int32(-2_000_000_000)), ("v.float32", .float32(-1.25e-3)),
        ("v.bool", .bool(false)), ("v.string", .string("héllo <|im_start|>\n")), ("v.uint64", .uint64(UInt64.max)),
        ("v.int64", .int64(Int64.min)), ("v.float64", .float64(Double.pi)),
        ("a.uint8", .array(.uint8([0, 1, 255]))), ("a.int8", .array(.int8([-1, 2]))), ("a.uint16", .array(.uint16([9]))),
        ("a.int16", .array(.int16([-3, 4]))), ("a.uint32", .array(.uint32([1, 2, 3]))), ("a.int32", .array(.int32([-5]))),
        ("a.float32", .array(.float32([0.5, -0.0, .infinity]))), ("a.bool", .array(.bool([true, false, true]))),
        ("a.string", .array(.string(["", "a b", "ü"]))), ("a.uint64", .array(.uint64([1 << 63]))),
        ("a.int64", .array(.int64([-1, 1]))), ("a.float64", .array(.float64([1e300]))),
        ("a.empty", .array(.int32([]))), ("a.nested", .array(.array([.string(["x"]), .uint8([1, 2]), .array([.bool([])])]))),
    ]

    func testRoundTripsEveryValueTypeAndTensor() throws {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        for (k, v) in GGUFWriterTests.everyValue { w.set(k, v) }
        var rng = SeededRNG(seed: 9)
        let shapes = [[1], [7], [3, 5], [5, 3], [2, 3, 1, 5], [33]]
        var tensors: [(String, Tensor, GGMLType)] = []
        for (i, s) in shapes.enumerated() {
            let t = Tensor.randomNormal(s, rng: &rng)
            tensors.append(("t\(i).f32", t, .f32))
            tensors.append(("t\(i).f16", t, .f16))
        }
        for (n, t, type) in tensors { try w.addTensor(n, t, as: type) }

        let url = TestSupport.temporaryDirectory("gguf-writer").appendingPathComponent("all.gguf")
        try w.write(to: url)
        let f = try GGUFFile(url: url)
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.metadata.keys, ["general.architecture"] + GGUFWriterTests.everyValue.map(\.0))
        XCTAssertEqual(f.metadata.values, w.metadata.values)
        XCTAssertEqual(f.names, tensors.map(\.0))
        for (n, t, type) in tensors {
            let info = try XCTUnwrap(f.info(n))
            XCTAssertEqual(info.type, type)
            XCTAssertEqual(info.shape, t.shape)
            XCTAssertEqual(info.dims, t.shape.reversed())
            XCTAssertEqual(info.offset % 32, 0)
            let back = try f.tensor(n)
            if type == .f32 {
                XCTAssertEqual(back, t, n)
            } else {
                XCTAssertEqual(back.array, t.array.map { Float(Float16($0)) }, n)
            }
        }
        XCTAssertEqual(f.dataOffset % 32, 0)
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        XCTAssertEqual(size % 32, 0, "every tensor, the last too, is padded to the alignment")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        XCTAssertEqual(leftovers, ["all.gguf"], "no temporary file left behind")
    }

    func testHonoursGeneralAlignment() throws {
        var w = GGUFWriter()
        w.set("general.alignment", .uint32(64))
        try w.addTensor("a", Tensor(shape: [3], data: [1, 2, 3]))
        try w.addTensor("b", Tensor(shape: [2, 2], data: [4, 5, 6, 7]), as: .f16)
        let data = try w.data()
        let f = try GGUFFile(url: GGUFTestFiles.write([UInt8](data)))
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.dataOffset % 64, 0)
        XCTAssertEqual(f.tensors.map(\.offset), [0, 64])
        XCTAssertEqual(data.count, f.dataOffset + 128)
        XCTAssertEqual(try f.tensor("b").array, [4, 5, 6, 7])
    }

    func testDescriptorVariantWritesTheSameBytes() throws {
        let (bytes, tensors) = try GGUFTestFiles.small()
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.alignment", .uint32(32))
        w.set("llama.block_count", .uint32(2))
        w.set("llama.rope.freq_base", .float32(10000))
        w.set("tokenizer.ggml.tokens", .array(.string(["a", "b", "ab", "<s>"])))
        w.set("tokenizer.ggml.scores", .array(.float32([0, -1, -2.5, 0])))
        w.set("flag", .bool(true))
        try w.addTensor("a.weight", tensors["a.weight"]!)
        try w.addTensor("b.weight", tensors["b.weight"]!, as: .f16)
        try w.addTensor("c.weight", tensors["c.weight"]!)
        let url = TestSupport.temporaryDirectory("gguf-writer").appendingPathComponent("fd.gguf")
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        try w.write(toDescriptor: fd, path: url.path)
        close(fd)
        XCTAssertEqual([UInt8](try Data(contentsOf: url)), bytes)
        XCTAssertEqual(try GGUFFile(url: url).tensor("c.weight"), tensors["c.weight"])
    }

    func testRefusesWhatNoReaderAccepts() throws {
        var w = GGUFWriter()
        func refuses(_ t: Tensor, named name: String = "x", as type: GGMLType = .f32, _ part: String, line: UInt = #line) {
            XCTAssertThrowsError(try w.addTensor(name, t, as: type), line: line) {
                XCTAssertTrue("\($0)".contains(part), "mentions '\(part)': \($0)", line: line)
            }
        }
        refuses(.scalar(1), "shape []")
        refuses(Tensor(zeros: [1, 1, 1, 1, 1]), "shape [1, 1, 1, 1, 1]")
        refuses(Tensor(zeros: [2, 0]), "none empty")
        refuses(Tensor(zeros: [32]), as: .q4_0, "cannot write Q4_0")
        refuses(Tensor(zeros: [2]), named: "", "must be 1 to")
        try w.addTensor("x", Tensor(zeros: [2]))
        refuses(Tensor(zeros: [2]), "tensor 'x' added twice")

        w.set("general.alignment", .uint32(48))
        XCTAssertThrowsError(try w.data()) { XCTAssertTrue("\($0)".contains("general.alignment is uint32 48")) }
        w.set("general.alignment", .int32(32))
        XCTAssertThrowsError(try w.data()) { XCTAssertTrue("\($0)".contains("must be a uint32 power of two")) }
    }
}
