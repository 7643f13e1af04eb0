import DNDTestSupport
import Foundation
import Pipeline
import SafeTensors
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

    /// The prompt head's sentences need only their pooled embeddings: entries without token states, apart from the
    /// full entries of the same text, and shared by caches of any length.
    func testPooledOnlyEntriesHoldNoTokenStates() throws {
        let dir = TestSupport.temporaryDirectory()
        let cache = try EmbeddingCache(folder: dir, encoderIdentity: "fake", length: 3)
        var pooledCalls: [[String]] = []
        let pooledOnly = { (texts: [String]) -> Tensor in pooledCalls.append(texts); return self.encode(texts).pooled }
        let p1 = try cache.pooled(["a", "bb", "a"], encode: pooledOnly)
        XCTAssertEqual(pooledCalls, [["a", "bb"]], "duplicates are encoded once")
        XCTAssertEqual(p1.shape, [3, 2])
        XCTAssertEqual(p1.row(1).array, [2, 1])
        XCTAssertEqual(p1.row(2), p1.row(0))
        let entries = try FileManager.default.subpathsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".safetensors") }
        XCTAssertEqual(entries.count, 2)
        for e in entries {
            let f = try SafeTensorsFile(url: dir.appendingPathComponent(e))
            XCTAssertEqual(f.names.sorted(), ["pooled"], "\(e) holds only the pooled row")
        }
        // Another length reads the same pooled entries; a full entry of the same text is its own.
        let longer = try EmbeddingCache(folder: dir, encoderIdentity: "fake", length: 7)
        let p2 = try longer.pooled(["bb", "a", "ccc"], encode: pooledOnly)
        XCTAssertEqual(pooledCalls.last, ["ccc"])
        XCTAssertEqual(longer.hits, 2)
        XCTAssertEqual(p2.row(0), p1.row(1))
        _ = try cache.embed(["a"], encode: encode)
        XCTAssertEqual(calls.last, ["a"], "a pooled-only entry does not stand in for token states")
        XCTAssertEqual(cache.misses, 3)
        XCTAssertEqual(cache.bytes, try folderBytes(dir))
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

    /// Issue 15.4: opening a cache (once per job) does not walk the folder; only the first in the process does.
    func testOpeningACacheCostsNoWalkOfItsEntries() throws {
        let dir = TestSupport.temporaryDirectory()
        let first = try EmbeddingCache(folder: dir, encoderIdentity: "fake", length: 3)
        for i in 0..<50 { _ = try first.embed(["prompt \(i)"], encode: encode) }
        XCTAssertEqual(first.walks, 1)
        for job in 0..<20 {
            let cache = try EmbeddingCache(folder: dir, encoderIdentity: "fake", length: 3)
            _ = try cache.embed(["prompt \(job)", "new \(job)"], encode: encode)
            XCTAssertEqual(cache.hits, 1)
            XCTAssertEqual(cache.walks, 1, "job \(job) walked the cache")
        }
        XCTAssertEqual(first.bytes, try folderBytes(dir), "the index follows stores")
    }

    /// Entries removed or added behind the index's back (another process) are counted before anything is evicted.
    func testEvictionRereadsTheFolderFirst() throws {
        let dir = TestSupport.temporaryDirectory()
        let cache = try EmbeddingCache(folder: dir, encoderIdentity: "fake", length: 3, maxBytes: 1500)
        for i in 0..<3 { _ = try cache.embed(["prompt \(i)"], encode: encode) }
        let other = try EmbeddingCache(folder: dir, encoderIdentity: "other", length: 3, maxBytes: 1 << 30)
        for sub in try FileManager.default.contentsOfDirectory(atPath: dir.path) { try FileManager.default.removeItem(at: dir.appendingPathComponent(sub)) }
        XCTAssertGreaterThan(other.bytes, 0, "stale until the next walk")
        for i in 3..<12 { _ = try cache.embed(["prompt \(i)"], encode: encode) }
        XCTAssertEqual(cache.bytes, try folderBytes(dir))
        XCTAssertLessThanOrEqual(cache.bytes, 1500)
        XCTAssertGreaterThan(cache.walks, 1)
    }

    func folderBytes(_ dir: URL) throws -> Int {
        var n = 0
        for case let u as URL in FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.fileSizeKey])! where u.pathExtension == "safetensors" {
            n += try u.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0
        }
        return n
    }
}
