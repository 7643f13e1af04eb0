import DNDTestSupport
import Foundation
import Pipeline
import TensorCore
import XCTest

final class EmbeddingCacheTests: XCTestCase {
    /// A deterministic fake encoder: hidden[i, t, h] = len(text) + t + h/10, pooled = first row.
    var calls: [[String]] = []
    func encode(_ texts: [String]) -> (hidden: Tensor, pooled: Tensor) {
        calls.append(texts)
        let h = Tensor(shape: [texts.count, 3, 2]) { b in
            for (i, t) in texts.enumerated() { for p in 0..<3 { for k in 0..<2 { b[(i * 3 + p) * 2 + k] = Float(t.count + p) + Float(k) / 10 } } }
        }
        return (h, Tensor(shape: [texts.count, 2]) { b in for i in 0..<texts.count { b[2 * i] = Float(texts[i].count); b[2 * i + 1] = 1 } })
    }

    func testComputesOnceAndReuses() throws {
        let dir = TestSupport.temporaryDirectory()
        let cache = try EmbeddingCache(folder: dir, encoderIdentity: "fake-1", length: 3)
        let (h1, p1) = try cache.embed(["a", "bb", "a"], encode: encode)
        XCTAssertEqual(calls, [["a", "bb"]], "duplicates are encoded once")
        XCTAssertEqual(h1.shape, [3, 3, 2])
        XCTAssertEqual(h1[2, 1, 1], 2.1, accuracy: 1e-6)
        XCTAssertEqual(p1.shape, [3, 2])
        let again = try EmbeddingCache(folder: dir, encoderIdentity: "fake-1", length: 3)
        let (h2, _) = try again.embed(["bb", "a", "ccc"], encode: encode)
        XCTAssertEqual(calls.last, ["ccc"])
        XCTAssertEqual(again.hits, 2)
        XCTAssertEqual(h2.row(0), h1.row(1))
        // Another encoder identity never sees these entries.
        let other = try EmbeddingCache(folder: dir, encoderIdentity: "fake-2", length: 3)
        _ = try other.embed(["a"], encode: encode)
        XCTAssertEqual(calls.last, ["a"])
    }

    func testEvictsLeastRecentlyUsedBeyondBound() throws {
        let dir = TestSupport.temporaryDirectory()
        let cache = try EmbeddingCache(folder: dir, encoderIdentity: "fake", length: 3, maxBytes: 1500)
        for i in 0..<10 { _ = try cache.embed(["prompt \(i)"], encode: encode) }
        XCTAssertLessThanOrEqual(cache.bytes, 1500)
        XCTAssertGreaterThan(cache.bytes, 0)
        calls = []
        _ = try cache.embed(["prompt 9"], encode: encode)
        XCTAssertTrue(calls.isEmpty, "the newest entry survived eviction")
        _ = try cache.embed(["prompt 0"], encode: encode)
        XCTAssertEqual(calls, [["prompt 0"]], "the oldest entry was evicted")
    }
}
