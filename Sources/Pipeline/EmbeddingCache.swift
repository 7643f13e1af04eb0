import Foundation
import SafeTensors
import TensorCore

/// Token-level hidden states `[L, H]` and the pooled embedding `[H]` of each prompt, computed once and kept
/// under `state/embeddings/`, keyed by SHA-256 of (encoder identity, L, prompt text). Bounded in bytes: the
/// least recently used entries are evicted first (use refreshes an entry's modification time).
public final class EmbeddingCache: @unchecked Sendable {
    public let folder: URL
    public let encoderIdentity: String
    public let length: Int
    public let maxBytes: Int
    public private(set) var hits = 0
    public private(set) var misses = 0
    var totalBytes: Int

    /// Encodes a batch of texts: returns hidden `[n, length, H]` and pooled `[n, H]`.
    public typealias Encode = ([String]) throws -> (hidden: Tensor, pooled: Tensor)

    public init(folder: URL, encoderIdentity: String, length: Int, maxBytes: Int = 2 << 30) throws {
        self.folder = folder; self.encoderIdentity = encoderIdentity; self.length = length; self.maxBytes = maxBytes
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        totalBytes = EmbeddingCache.entries(in: folder).reduce(0) { $0 + $1.size }
    }

    func key(_ prompt: String) -> String { Hashing.sha256Hex(parts: [encoderIdentity, String(length), prompt]) }

    func url(_ key: String) -> URL {
        folder.appendingPathComponent(String(key.prefix(2))).appendingPathComponent(key + ".safetensors")
    }

    /// Embeds `prompts`, reading what the cache holds and encoding the rest (in one call to `encode`).
    /// Returns hidden `[N, L, H]` and pooled `[N, H]` in the order of `prompts`.
    public func embed(_ prompts: [String], encode: Encode) throws -> (hidden: Tensor, pooled: Tensor) {
        var hidden: [Tensor?] = Array(repeating: nil, count: prompts.count)
        var pooled: [Tensor?] = Array(repeating: nil, count: prompts.count)
        var missing: [Int] = []
        for (i, p) in prompts.enumerated() {
            let u = url(key(p))
            if let f = try? SafeTensorsFile(url: u), let h = try? f.tensor("hidden"), let q = try? f.tensor("pooled"), h.shape.first == length {
                // Copy out of the mapping so entries can be evicted while the caller holds the tensors.
                hidden[i] = h.map { $0 }; pooled[i] = q.map { $0 }
                utimes(u.path, nil)
                hits += 1
            } else {
                missing.append(i)
            }
        }
        if !missing.isEmpty {
            // Deduplicate: the same prompt twice is encoded once.
            var unique: [String] = [], slot: [String: Int] = [:]
            for i in missing where slot[prompts[i]] == nil { slot[prompts[i]] = unique.count; unique.append(prompts[i]) }
            let (h, q) = try encode(unique)
            guard h.rank == 3, h.shape[0] == unique.count, h.shape[1] == length, q.rank == 2, q.shape[0] == unique.count else {
                throw DNDError("embedding cache: the encoder returned hidden \(h.shape) and pooled \(q.shape) for \(unique.count) prompts of length \(length)")
            }
            for (j, p) in unique.enumerated() {
                let hj = h.row(j), qj = q.row(j)
                try store(p, hidden: hj, pooled: qj)
                for i in missing where prompts[i] == p { hidden[i] = hj; pooled[i] = qj }
            }
            misses += unique.count
            try evictIfNeeded()
        }
        return (Tensor.stack(hidden.map { $0! }), Tensor.stack(pooled.map { $0! }))
    }

    func store(_ prompt: String, hidden: Tensor, pooled: Tensor) throws {
        let u = url(key(prompt))
        try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
        try SafeTensorsWriter.write(["hidden": hidden, "pooled": pooled], to: u, metadata: ["encoder": encoderIdentity])
        totalBytes += (try? FileManager.default.attributesOfItem(atPath: u.path)[.size] as? Int) ?? 0
    }

    static func entries(in folder: URL) -> [(url: URL, size: Int, date: Date)] {
        let keys: [URLResourceKey] = [.fileSizeKey, .contentModificationDateKey]
        guard let e = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles]) else { return [] }
        var out: [(URL, Int, Date)] = []
        for case let u as URL in e where u.pathExtension == "safetensors" {
            let v = try? u.resourceValues(forKeys: Set(keys))
            out.append((u, v?.fileSize ?? 0, v?.contentModificationDate ?? .distantPast))
        }
        return out
    }

    /// Removes least recently used entries until the cache is at most 90% of `maxBytes`.
    public func evictIfNeeded() throws {
        guard totalBytes > maxBytes else { return }
        let all = EmbeddingCache.entries(in: folder).sorted { $0.date < $1.date }
        var total = all.reduce(0) { $0 + $1.size }
        for e in all where total > maxBytes * 9 / 10 {
            try? FileManager.default.removeItem(at: e.url)
            total -= e.size
        }
        totalBytes = total
    }

    /// Bytes currently held.
    public var bytes: Int { totalBytes }
}
