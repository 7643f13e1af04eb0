import DNDTestSupport
import Foundation
@testable import TextEncoder
import XCTest

final class ContentHashTests: XCTestCase {
    func testEveryLengthAndEveryByteMatters() {
        var seen = Set<UInt64>()
        let bytes = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for n in 0...100 { seen.insert(ContentHash.hash(Data(bytes.prefix(n)))) }
        XCTAssertEqual(seen.count, 101, "every prefix length hashes differently")
        var flipped = Set<UInt64>()
        for i in 0..<100 {
            var b = bytes
            b[i] ^= 1
            flipped.insert(ContentHash.hash(Data(b)))
        }
        XCTAssertEqual(flipped.count, 100)
        XCTAssertFalse(flipped.contains(ContentHash.hash(Data(bytes))))
        XCTAssertNotEqual(ContentHash.hash(Data([0])), ContentHash.hash(Data([0, 0])), "zero padding of the tail does not collide")
    }

    func testFileHashEqualsDataHashAndIsStable() throws {
        let dir = TestSupport.temporaryDirectory()
        let url = dir.appendingPathComponent("blob")
        let data = Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try data.write(to: url)
        XCTAssertEqual(try ContentHash.hash(file: url), ContentHash.hash(data))
        // Pinned: the value is an on-disk cache key, so it must not change between builds.
        XCTAssertEqual(String(ContentHash.hash(Data("dnd".utf8)), radix: 16), "1c1aab426b64bb8b")
        XCTAssertEqual(String(ContentHash.hash(data), radix: 16), "5ce8db8100956555")
        XCTAssertThrowsError(try ContentHash.hash(file: dir.appendingPathComponent("absent"))) { XCTAssertTrue("\($0)".contains("absent"), "\($0)") }
    }
}
