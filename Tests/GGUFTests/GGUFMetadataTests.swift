import GGUF
import TensorCore
import XCTest

final class GGUFMetadataTests: XCTestCase {
    func sample() -> GGUFMetadata {
        var m = GGUFMetadata(source: "/models/x.gguf")
        m.set("general.architecture", .string("qwen2"))
        m.set("a.u8", .uint8(200))
        m.set("a.i16", .int16(-7))
        m.set("a.u64", .uint64(1 << 40))
        m.set("a.huge", .uint64(UInt64.max))
        m.set("a.f32", .float32(1.5))
        m.set("a.f64", .float64(0.25))
        m.set("a.flag", .bool(true))
        m.set("a.tokens", .array(.string(["x", "y"])))
        m.set("a.ids", .array(.uint16([1, 2, 3])))
        m.set("a.scores", .array(.float64([0.5, -1])))
        return m
    }

    func testTypedAccessorsConvertEveryIntegerAndFloatType() throws {
        let m = sample()
        XCTAssertEqual(try m.string("general.architecture"), "qwen2")
        XCTAssertEqual(try m.int("a.u8"), 200)
        XCTAssertEqual(try m.int("a.i16"), -7)
        XCTAssertEqual(try m.int("a.u64"), 1 << 40)
        XCTAssertEqual(try m.float("a.f32"), 1.5)
        XCTAssertEqual(try m.float("a.f64"), 0.25)
        XCTAssertEqual(try m.bool("a.flag"), true)
        XCTAssertEqual(try m.stringArray("a.tokens"), ["x", "y"])
        XCTAssertEqual(try m.intArray("a.ids"), [1, 2, 3])
        XCTAssertEqual(try m.floatArray("a.scores"), [0.5, -1])
        XCTAssertNil(try m.intIfPresent("absent"))
        XCTAssertNil(try m.stringIfPresent("absent"))
        XCTAssertNil(try m.floatArrayIfPresent("absent"))
        XCTAssertEqual(try m.intIfPresent("a.u8"), 200)
    }

    func assertThrows(_ body: @autoclosure () throws -> Any?, mentioning parts: [String], line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(error is DNDError, line: line)
            for p in parts { XCTAssertTrue(message.contains(p), "mentions '\(p)': \(message)", line: line) }
        }
    }

    func testErrorsNameTheFileTheKeyAndTheTypes() {
        let m = sample()
        assertThrows(try m.int("llama.block_count"), mentioning: ["/models/x.gguf", "'llama.block_count' (an integer) is missing", "re-convert"])
        assertThrows(try m.string("a.u8"), mentioning: ["/models/x.gguf", "'a.u8' is uint8 (200), expected a string"])
        assertThrows(try m.int("a.huge"), mentioning: ["'a.huge' is uint64 (18446744073709551615), expected an integer that fits in Int"])
        assertThrows(try m.float("a.u8"), mentioning: ["'a.u8' is uint8"])
        assertThrows(try m.stringArray("a.ids"), mentioning: ["'a.ids' is array of 3 uint16", "expected an array of strings"])
        assertThrows(try m.intArray("a.tokens"), mentioning: ["'a.tokens' is array of 2 string"])
        assertThrows(try m.boolIfPresent("a.tokens"), mentioning: ["'a.tokens'", "expected a bool"])
    }

    func testKeepsInsertionOrderAndReplacesInPlace() {
        var m = sample()
        XCTAssertEqual(m.keys.prefix(3), ["general.architecture", "a.u8", "a.i16"])
        m.set("a.u8", .string("now a string"))
        XCTAssertEqual(m.keys[1], "a.u8", "a replaced key keeps its position")
        XCTAssertEqual(m["a.u8"], .string("now a string"))
        XCTAssertEqual(m.count, 11)
        XCTAssertEqual(m.entries.map(\.key), m.keys)
    }
}
