import DNDTestSupport
import Foundation
@testable import GGUF
import TensorCore
import XCTest

/// Hand-built GGUF bytes for files the writer refuses to make: every header field can be set.
struct RawGGUF {
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    /// nil: the number of entries added.
    var tensorCount: UInt64?
    var kvCount: UInt64?
    var alignment = 32
    var kvs: [[UInt8]] = []
    var infos: [[UInt8]] = []
    var data: [UInt8] = []

    mutating func kv(_ key: String, _ value: GGUFValue) {
        var b = ByteBuffer()
        b.string(key)
        b.u32(value.type.rawValue)
        try! b.value(value, key: key, depth: 0)
        kvs.append(b.data)
    }

    /// A key followed by raw bytes (a value type code and whatever the test wants after it).
    mutating func kvRaw(_ key: String, _ bytes: [UInt8]) {
        var b = ByteBuffer()
        b.string(key)
        b.bytes(bytes)
        kvs.append(b.data)
    }

    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32 = GGMLType.f32.rawValue, offset: UInt64, nDims: UInt32? = nil) {
        var b = ByteBuffer()
        b.string(name)
        b.u32(nDims ?? UInt32(dims.count))
        for d in dims { b.u64(d) }
        b.u32(type)
        b.u64(offset)
        infos.append(b.data)
    }

    var bytes: [UInt8] {
        var b = ByteBuffer()
        b.bytes(magic)
        b.u32(version)
        b.u64(tensorCount ?? UInt64(infos.count))
        b.u64(kvCount ?? UInt64(kvs.count))
        for k in kvs { b.bytes(k) }
        for i in infos { b.bytes(i) }
        b.zeros((alignment - b.data.count % alignment) % alignment)
        b.bytes(data)
        return b.data
    }
}

/// Little-endian bytes of an integer.
func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

enum GGUFTestFiles {
    static func write(_ bytes: [UInt8], name: String = "t.gguf") -> URL {
        let url = TestSupport.temporaryDirectory("gguf-test").appendingPathComponent(name)
        try! Data(bytes).write(to: url)
        return url
    }

    /// A small valid file with metadata of several types and three F32/F16 tensors.
    static func small() throws -> (bytes: [UInt8], tensors: [String: Tensor]) {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.alignment", .uint32(32))
        w.set("llama.block_count", .uint32(2))
        w.set("llama.rope.freq_base", .float32(10000))
        w.set("tokenizer.ggml.tokens", .array(.string(["a", "b", "ab", "<s>"])))
        w.set("tokenizer.ggml.scores", .array(.float32([0, -1, -2.5, 0])))
        w.set("flag", .bool(true))
        var rng = SeededRNG(seed: 3)
        let tensors = [
            "a.weight": Tensor.randomNormal([3, 5], rng: &rng),
            "b.weight": Tensor.randomNormal([7], rng: &rng),
            "c.weight": Tensor.randomNormal([2, 1, 4], rng: &rng),
        ]
        try w.addTensor("a.weight", tensors["a.weight"]!)
        try w.addTensor("b.weight", tensors["b.weight"]!, as: .f16)
        try w.addTensor("c.weight", tensors["c.weight"]!)
        return ([UInt8](try w.data()), tensors)
    }
}

extension XCTestCase {
    /// Asserts that opening `url` throws a DNDError naming the file and containing every part.
    func assertRejects(_ url: URL, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try GGUFFile(url: url), file: file, line: line) { error in
            XCTAssertTrue(error is DNDError, "a DNDError: \(error)", file: file, line: line)
            let message = "\(error)"
            XCTAssertTrue(message.contains(url.path), "names the file: \(message)", file: file, line: line)
            for p in parts { XCTAssertTrue(message.contains(p), "mentions '\(p)': \(message)", file: file, line: line) }
        }
    }

    func assertRejects(_ raw: RawGGUF, mentioning parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        assertRejects(GGUFTestFiles.write(raw.bytes), mentioning: parts, file: file, line: line)
    }
}
