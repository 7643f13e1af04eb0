import Foundation
import SafeTensors
import TensorCore
import TextEncoder
#if canImport(Glibc)
import Glibc
#endif

/// Token-level hidden states `[L, H]` and the pooled embedding `[H]` of each prompt, computed once and kept
/// under `state/embeddings/`, keyed by SHA-256 of (encoder identity, L, prompt text); and pooled-only entries `[H]`
/// for texts whose token states are never read (the prompt head's sentences: `pooled(_:encode:)`), keyed by
/// SHA-256 of (encoder identity, "pooled", text). Bounded in bytes: the least recently used entries are evicted
/// first (use refreshes an entry's modification time).
///
/// Opening a cache costs nothing per entry: what the folder holds is indexed once per process (`Index`, shared by
/// every cache on the same folder, updated as entries are stored, used and evicted), so a job's cost does not grow
/// with the cache.
public final class EmbeddingCache: @unchecked Sendable {
    public let folder: URL
    public let encoderIdentity: String
    public let length: Int
    public let maxBytes: Int
    public private(set) var hits = 0
    public private(set) var misses = 0
    let index: Index

    /// Encodes a batch of texts: returns hidden `[n, length, H]` and pooled `[n, H]`.
    public typealias Encode = ([String]) throws -> (hidden: Tensor, pooled: Tensor)

    public init(folder: URL, encoderIdentity: String, length: Int, maxBytes: Int = 2 << 30) throws {
        self.folder = folder; self.encoderIdentity = encoderIdentity; self.length = length; self.maxBytes = maxBytes
        try Rename.makeFolder(folder)
        index = Index.shared(folder)
    }

    func key(_ prompt: String) -> String { Hashing.sha256Hex(parts: [encoderIdentity, String(length), prompt]) }

    /// The key of a pooled-only entry: the pooled embedding is the mean over every token whatever `length` is, so the
    /// length is not part of it, and the marker keeps it apart from a full entry of the same text.
    func pooledKey(_ text: String) -> String { Hashing.sha256Hex(parts: [encoderIdentity, "pooled", text]) }

    /// The entry's path relative to `folder`: `<2 hex>/<key>.safetensors`.
    static func relativePath(_ key: String) -> String { String(key.prefix(2)) + "/" + key + ".safetensors" }

    func url(_ key: String) -> URL { folder.appendingPathComponent(EmbeddingCache.relativePath(key)) }

    /// Embeds `prompts`, reading what the cache holds and encoding the rest (in one call to `encode`).
    /// Returns hidden `[N, L, H]` and pooled `[N, H]` in the order of `prompts`.
    public func embed(_ prompts: [String], encode: Encode) throws -> (hidden: Tensor, pooled: Tensor) {
        let rows = try cached(prompts, key: key, read: { f -> (Tensor, Tensor)? in
            guard let h = try? f.tensor("hidden"), let q = try? f.tensor("pooled"), h.shape.first == length else { return nil }
            return (h.map { $0 }, q.map { $0 })
        }, encode: { unique in
            let (h, q) = try encode(unique)
            guard h.rank == 3, h.shape[0] == unique.count, h.shape[1] == length, q.rank == 2, q.shape[0] == unique.count else {
                throw DNDError("embedding cache: the encoder returned hidden \(h.shape) and pooled \(q.shape) for \(unique.count) prompts of length \(length)")
            }
            return (0..<unique.count).map { (h.row($0), q.row($0)) }
        }, tensors: { ["hidden": $0.0, "pooled": $0.1] })
        return (Tensor.stack(rows.map(\.0)), Tensor.stack(rows.map(\.1)))
    }

    /// The pooled embeddings `[N, H]` of `texts` alone (the prompt head's sentences): entries that hold no token
    /// states, a few KB each instead of `length` × H floats. `encode` gives the pooled embeddings `[n, H]` of a batch.
    public func pooled(_ texts: [String], encode: ([String]) throws -> Tensor) throws -> Tensor {
        let rows = try cached(texts, key: pooledKey, read: { f -> Tensor? in
            guard let q = try? f.tensor("pooled"), q.rank == 1 else { return nil }
            return q.map { $0 }
        }, encode: { unique in
            let q = try encode(unique)
            guard q.rank == 2, q.shape[0] == unique.count else {
                throw DNDError("embedding cache: the encoder returned pooled \(q.shape) for \(unique.count) texts")
            }
            return (0..<unique.count).map { q.row($0) }
        }, tensors: { ["pooled": $0] })
        return Tensor.stack(rows)
    }

    /// One lookup for both entry kinds: reads the entries of `texts` that `read` accepts (`read` copies the tensors
    /// out of the mapping, so entries can be evicted while the caller holds them), encodes the rest once each (in one
    /// call), stores them and evicts beyond the bound. Rows in the order of `texts`.
    private func cached<Row>(_ texts: [String], key: (String) -> String, read: (SafeTensorsFile) -> Row?,
                             encode: ([String]) throws -> [Row], tensors: (Row) -> [String: Tensor]) throws -> [Row] {
        var rows: [Row?] = Array(repeating: nil, count: texts.count)
        var missing: [Int] = []
        for (i, t) in texts.enumerated() {
            let k = key(t)
            let u = url(k)
            if let f = try? SafeTensorsFile(url: u), let row = read(f) {
                rows[i] = row
                utimes(u.path, nil)  // the on-disk order of use, for the next process's index
                index.used(EmbeddingCache.relativePath(k))
                hits += 1
            } else {
                missing.append(i)
            }
        }
        if !missing.isEmpty {
            // Deduplicate: the same text twice is encoded once.
            var unique: [String] = [], slot: [String: Int] = [:]
            for i in missing where slot[texts[i]] == nil { slot[texts[i]] = unique.count; unique.append(texts[i]) }
            let encoded = try encode(unique)
            for (j, t) in unique.enumerated() { try store(key(t), tensors(encoded[j])) }
            for i in missing { rows[i] = encoded[slot[texts[i]]!] }
            misses += unique.count
            try evictIfNeeded()
        }
        return rows.map { $0! }
    }

    func store(_ key: String, _ tensors: [String: Tensor]) throws {
        let u = url(key)
        try Rename.makeFolder(u.deletingLastPathComponent())
        try SafeTensorsWriter.write(tensors, to: u, metadata: ["encoder": encoderIdentity])
        var st = stat()
        if lstat(u.path, &st) == 0 { index.stored(EmbeddingCache.relativePath(key), bytes: Int(st.st_size)) }
    }

    /// Removes least recently used entries until the cache is at most 90% of `maxBytes`.
    public func evictIfNeeded() throws { index.evict(maxBytes: maxBytes) }

    /// Bytes currently held.
    public var bytes: Int { index.totalBytes }

    /// How many times the folder was walked to build or refresh its index (once per process, and once more each time
    /// the size bound is reached).
    public var walks: Int { index.walks }
}

extension EmbeddingCache {
    /// What a cache folder holds (entry sizes and last use), in memory, shared by every `EmbeddingCache` on that
    /// folder in this process; calls may come from several threads (a job and a retraining). Built by one walk of
    /// the folder with plain `lstat` calls; walked again only when eviction is due, so entries written or removed by
    /// another process are counted before anything is evicted.
    final class Index: @unchecked Sendable {
        struct Entry { var bytes: Int; var lastUse: Int }

        let folder: URL
        private let lock = NSLock()
        private var entries: [String: Entry] = [:]
        private var total = 0
        private var walkCount = 0

        private static let registryLock = NSLock()
        nonisolated(unsafe) private static var registry: [String: Index] = [:]

        /// The index of `folder`, built at the first call in this process.
        static func shared(_ folder: URL) -> Index {
            let path = folder.standardizedFileURL.path
            registryLock.lock(); defer { registryLock.unlock() }
            if let i = registry[path] { return i }
            let i = Index(folder: folder.standardizedFileURL)
            i.lock.lock(); i.walk(); i.lock.unlock()
            registry[path] = i
            return i
        }

        init(folder: URL) { self.folder = folder }

        var totalBytes: Int { lock.lock(); defer { lock.unlock() }; return total }
        var walks: Int { lock.lock(); defer { lock.unlock() }; return walkCount }

        static func now() -> Int {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
        }

        func used(_ path: String) {
            lock.lock(); defer { lock.unlock() }
            let t = Index.now()
            if entries[path] != nil { entries[path]!.lastUse = t }
        }

        func stored(_ path: String, bytes: Int) {
            lock.lock(); defer { lock.unlock() }
            total += bytes - (entries[path]?.bytes ?? 0)
            entries[path] = Entry(bytes: bytes, lastUse: Index.now())
        }

        /// Re-reads the folder: `<2 hex>/<key>.safetensors` entries, their sizes and modification times. Lock held.
        private func walk() {
            walkCount += 1
            var fresh: [String: Entry] = [:]
            var sum = 0
            for sub in Rename.names(folder) where !sub.hasPrefix(".") {
                let dir = folder.appendingPathComponent(sub)
                for name in Rename.names(dir) where name.hasSuffix(".safetensors") && !name.hasPrefix(".") {
                    var st = stat()
                    guard lstat(dir.appendingPathComponent(name).path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
                    let path = sub + "/" + name
                    // A use in this process since the last walk is newer than anything on disk says.
                    let onDisk = st.st_mtim.tv_sec * 1_000_000_000 + st.st_mtim.tv_nsec
                    fresh[path] = Entry(bytes: Int(st.st_size), lastUse: max(onDisk, entries[path]?.lastUse ?? 0))
                    sum += Int(st.st_size)
                }
            }
            entries = fresh
            total = sum
        }

        /// When over `maxBytes`: walks the folder again, then removes the least recently used entries until at most
        /// 90% of `maxBytes` is held.
        func evict(maxBytes: Int) {
            lock.lock(); defer { lock.unlock() }
            guard total > maxBytes else { return }
            walk()
            guard total > maxBytes else { return }
            for (path, e) in entries.sorted(by: { ($0.value.lastUse, $0.key) < ($1.value.lastUse, $1.key) }) where total > maxBytes * 9 / 10 {
                unlink(folder.appendingPathComponent(path).path)
                entries[path] = nil
                total -= e.bytes
            }
        }
    }
}

extension SentenceEncoder {
    /// The pooled embeddings `[N, H]` of `texts` (the prompt head's sentences), through `cache`'s pooled-only entries
    /// when there is one; no token states are computed.
    public func pooled(_ texts: [String], cache: EmbeddingCache?) throws -> Tensor {
        let encode = { (batch: [String]) in self.encode(batch, length: nil).pooled }
        return try cache?.pooled(texts, encode: encode) ?? encode(texts)
    }
}
