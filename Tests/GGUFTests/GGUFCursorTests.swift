import DNDTestSupport
import Foundation
@testable import GGUF
import TensorCore
import XCTest

/// Hostile metadata: every length is checked against the bytes left before anything is read or allocated.
final class GGUFCursorTests: XCTestCase {
    func testRejectsHugeStringLengths() {
        var raw = RawGGUF()
        raw.kvRaw("general.name", le(GGUFValueType.string.rawValue) + le(UInt64(1) << 40) + Array("abc".utf8))
        assertRejects(raw, mentioning: ["the value of metadata key 'general.name'", "has length 1099511627776 but only", "truncated or corrupt"])

        raw = RawGGUF()
        raw.kvs = [le(UInt64(1) << 40) + Array("key".utf8)]
        assertRejects(raw, mentioning: ["metadata key 0 at byte 24 has length 1099511627776"])

        raw = RawGGUF()
        raw.kvs = [le(UInt64.max) + [UInt8](repeating: 0, count: 16)]
        assertRejects(raw, mentioning: ["the length of metadata key 0 at byte 24 is 18446744073709551615, larger than any file"])
    }

    func testRejectsHugeArrayLengths() {
        func tokens(_ count: UInt64) -> RawGGUF {
            var raw = RawGGUF()
            raw.kvRaw("tokenizer.ggml.tokens", le(GGUFValueType.array.rawValue) + le(GGUFValueType.string.rawValue) + le(count) + le(UInt64(1)) + [0x61])
            raw.alignment = 1  // no padding after the last byte
            return raw
        }
        assertRejects(tokens(1 << 63), mentioning: ["the length of the array of metadata key 'tokenizer.ggml.tokens'", "is 9223372036854775808, larger than any file"])
        assertRejects(tokens(1 << 62), mentioning: ["the array of metadata key 'tokenizer.ggml.tokens'", "length 4611686018427387904 of string (at least 8 bytes each)", "truncated or corrupt"])
        var cut = RawGGUF()
        cut.kvRaw("tokenizer.ggml.tokens", le(GGUFValueType.array.rawValue) + le(GGUFValueType.string.rawValue) + le(UInt64(2))
            + le(UInt64(1)) + [0x61] + le(UInt64(5)) + [0x61, 0x62])
        cut.alignment = 1
        assertRejects(cut, mentioning: ["element 1 of the array of metadata key 'tokenizer.ggml.tokens'", "has length 5 but only 2 bytes remain", "truncated"])
        XCTAssertEqual(try GGUFFile(url: GGUFTestFiles.write(tokens(1).bytes)).metadata.stringArray("tokenizer.ggml.tokens"), ["a"])

        var raw = RawGGUF()

        raw = RawGGUF()
        raw.kvRaw("scores", le(GGUFValueType.array.rawValue) + le(GGUFValueType.float64.rawValue) + le(UInt64(1) << 61))
        assertRejects(raw, mentioning: ["metadata key 'scores'", "length 2305843009213693952 of float64 (at least 8 bytes each)"])

        // A plausible count, one element more than the bytes hold.
        raw = RawGGUF()
        raw.kvRaw("ids", le(GGUFValueType.array.rawValue) + le(GGUFValueType.int32.rawValue) + le(UInt64(3)) + le(Int32(1)) + le(Int32(2)))
        raw.alignment = 1
        assertRejects(raw, mentioning: ["metadata key 'ids'", "length 3 of int32", "only 8 bytes remain"])
    }

    func testRejectsArraysNestedTooDeep() {
        var nested = GGUFArray.int8([1])
        for _ in 0..<3 { nested = .array([nested]) }  // 4 levels: accepted
        var raw = RawGGUF()
        raw.kv("deep", .array(nested))
        let f = try? GGUFFile(url: GGUFTestFiles.write(raw.bytes))
        XCTAssertEqual(f?.metadata["deep"], .array(nested))

        var bytes = le(GGUFValueType.array.rawValue)
        for _ in 0..<5 { bytes += le(GGUFValueType.array.rawValue) + le(UInt64(1)) }
        bytes += le(GGUFValueType.int8.rawValue) + le(UInt64(0))
        raw = RawGGUF()
        raw.kvRaw("deeper", bytes)
        assertRejects(raw, mentioning: ["metadata key 'deeper'", "nests arrays 5 deep, over the limit of 4"])
    }

    func testRejectsUnknownValueTypes() {
        var raw = RawGGUF()
        raw.kv("general.architecture", .string("llama"))
        raw.kvRaw("odd", le(UInt32(13)) + le(UInt64(0)))
        assertRejects(raw, mentioning: ["metadata key 'odd' at byte", "unknown value type 13"])

        raw = RawGGUF()
        raw.kvRaw("odd.array", le(GGUFValueType.array.rawValue) + le(UInt32(200)) + le(UInt64(0)))
        assertRejects(raw, mentioning: ["the array of metadata key 'odd.array'", "unknown value type 200"])
    }

    func testRejectsDuplicateEmptyAndInvalidKeys() {
        var raw = RawGGUF()
        raw.kv("general.name", .string("a"))
        raw.kv("general.name", .string("b"))
        assertRejects(raw, mentioning: ["metadata key 'general.name' at byte", "appears twice"])

        raw = RawGGUF()
        raw.kv("", .uint8(1))
        assertRejects(raw, mentioning: ["metadata key 0 at byte 24 is empty"])

        raw = RawGGUF()
        raw.kvs = [le(UInt64(2)) + [0xC3, 0x28] + le(GGUFValueType.uint8.rawValue) + [1]]
        assertRejects(raw, mentioning: ["metadata key 0 at byte 24 is not valid UTF-8"])
    }

    func testRejectsBoolsThatAreNotZeroOrOne() {
        var raw = RawGGUF()
        raw.kvRaw("flag", le(GGUFValueType.bool.rawValue) + [2])
        assertRejects(raw, mentioning: ["metadata key 'flag'", "bool holding 2"])

        raw = RawGGUF()
        raw.kvRaw("flags", le(GGUFValueType.array.rawValue) + le(GGUFValueType.bool.rawValue) + le(UInt64(3)) + [1, 0, 7])
        assertRejects(raw, mentioning: ["metadata key 'flags' element 2", "bool holding 7"])
    }

    func testInvalidUTF8InStringValuesIsRepaired() throws {
        // Values are decoded leniently (vocabularies of some converters hold raw bytes); keys are strict.
        var raw = RawGGUF()
        raw.kvRaw("tokenizer.ggml.tokens", le(GGUFValueType.array.rawValue) + le(GGUFValueType.string.rawValue) + le(UInt64(2))
            + le(UInt64(2)) + [0x61, 0xFF] + le(UInt64(3)) + Array("é!".utf8))
        let f = try GGUFFile(url: GGUFTestFiles.write(raw.bytes))
        XCTAssertEqual(try f.metadata.stringArray("tokenizer.ggml.tokens"), ["a\u{FFFD}", "é!"])
    }
}
