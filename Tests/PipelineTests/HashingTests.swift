import Foundation
import XCTest
@testable import Pipeline

/// SHA-256 against FIPS 180-4's examples and digests computed with Python's hashlib.
final class HashingTests: XCTestCase {
    func testFIPSExamples() {
        XCTAssertEqual(Hashing.sha256Hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(Hashing.sha256Hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Hashing.sha256Hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(Hashing.sha256Hex(Data(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Pieces of every size across block boundaries give the one-shot digest (hashlib's, for 1,000,003 bytes).
    func testStreamingEqualsOneShot() {
        let data = Data((0..<1_000_003).map { UInt8(($0 * 7 + 3) % 251) })
        let expected = "cfac01d21a4a2bf8dc11816e3b83d63d19e7f04b1921d5ae47379a08cf856cdd"
        XCTAssertEqual(Hashing.sha256Hex(data), expected)
        var h = SHA256()
        var offset = 0, piece = 1
        while offset < data.count {
            let end = min(data.count, offset + piece)
            data[offset..<end].withUnsafeBytes { h.update(bufferPointer: $0) }
            offset = end; piece = piece * 3 % 1_000 + 1
        }
        XCTAssertEqual(Hashing.hex(h.finalize()), expected)
        XCTAssertEqual(Hashing.hex(h.finalize()), expected, "finalize leaves the hasher as it was")
    }

    func testPartsAreNulTerminated() {
        XCTAssertEqual(Hashing.sha256Hex(parts: ["ab", "c"]), "629c2f14f654f026086f2aefe1855533d0897f49df86a19073be17b237361b09")
        XCTAssertNotEqual(Hashing.sha256Hex(parts: ["ab", "c"]), Hashing.sha256Hex(parts: ["a", "bc"]))
    }
}
