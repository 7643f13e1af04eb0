import Foundation
import TensorCore

/// A byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (GPT-2, Qwen2, Llama 3 style):
/// added tokens matched first, then normalizer, pre-tokenizer, byte-to-unicode mapping and merges by rank.
public struct BPETokenizer: @unchecked Sendable {
    /// A token from `added_tokens`, matched in raw text before anything else and never split.
    public struct AddedToken: Sendable, Equatable {
        public var id: Int
        public var content: String
        public var special: Bool
        public var lstrip: Bool = false
        public var rstrip: Bool = false
    }

    public let normalizer: Normalizer?
    public let preTokenizer: PreTokenizer
    /// Token string (byte-level alphabet) → id.
    public let vocab: [String: Int]
    /// Id → token string (byte-level alphabet, or an added token's content).
    public let idToToken: [String]
    /// Merges in rank order (rank 0 first).
    public let merges: [(String, String)]
    public let addedTokens: [AddedToken]
    /// End of sequence: from `tokenizer_config.json` next to `tokenizer.json`, else the usual names.
    public let eosTokenId: Int?
    /// Padding id (defaults to the end-of-sequence id).
    public let padTokenId: Int?

    /// (left id, right id) packed into 64 bits → (rank, merged id).
    let mergeTable: [UInt64: (rank: Int32, id: Int32)]
    /// Byte → id of its one-character token, -1 for bytes the vocabulary lacks.
    let byteIds: [Int32]
    /// Byte values with no token: Hugging Face tokenizers drops them from any text (or emits `unk` when the
    /// model names one), and so does this tokenizer.
    public let missingBytes: [UInt8]
    /// The model's unknown token, emitted for a missing byte when set (`model.unk_token`); consecutive ones fuse
    /// into one when `fuseUnknown`.
    let unknownId: Int32?
    let fuseUnknown: Bool
    /// The special tokens' texts by role (`bos_token`, `eos_token`, `pad_token`, `unk_token`), as a chat template
    /// sees them.
    public let specialTokens: [String: String]
    let addedByContent: [String: AddedToken]
    let cache = PieceCache()

    /// Things a user should know about this vocabulary (printed once when a model loads).
    public var warnings: [String] {
        guard !missingBytes.isEmpty else { return [] }
        let list = missingBytes.map { String(format: "0x%02x", $0) }.joined(separator: ", ")
        let what = unknownId == nil ? "dropped from any text, as Hugging Face tokenizers does" : "encoded as the unknown token"
        return ["the vocabulary has no token for \(missingBytes.count) byte value\(missingBytes.count == 1 ? "" : "s") (\(list)); such bytes are \(what)"]
    }

    /// Number of ids (largest id + 1).
    public var vocabularySize: Int { idToToken.count }
    /// True when the tokenizer has the ChatML markers `<|im_start|>` and `<|im_end|>`.
    public var hasChatML: Bool { addedByContent["<|im_start|>"] != nil && addedByContent["<|im_end|>"] != nil }

    /// Id of a token given as its text (an added token) or its byte-level string.
    public func tokenId(_ token: String) -> Int? { addedByContent[token]?.id ?? vocab[token] }
    /// True when `id` is an added token (special or user-defined), matched whole in raw text.
    public func isAddedToken(_ id: Int) -> Bool { id >= 0 && id < idToToken.count && addedByContent[idToToken[id]]?.id == id }
    /// Token string of an id (nil when out of range).
    public func token(_ id: Int) -> String? { id >= 0 && id < idToToken.count ? idToToken[id] : nil }

    /// Reads `tokenizer.json` (and, when present, `tokenizer_config.json` in the same folder for the EOS token).
    public init(tokenizerJSON url: URL) throws {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DNDError("\(path): cannot read the tokenizer; a model folder needs tokenizer.json")
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw DNDError("\(path): not a JSON object; expected a Hugging Face tokenizer.json")
        }
        guard let model = root["model"] as? [String: Any] else { throw DNDError("\(path): no \"model\" section") }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw DNDError("\(path): model type '\(type)' is not supported; dnd reads byte-level BPE tokenizers") }
        if model["byte_fallback"] as? Bool == true { throw DNDError("\(path): byte_fallback BPE (SentencePiece style) is not supported; dnd reads byte-level BPE") }
        guard let vocabAny = model["vocab"] as? [String: Any] else { throw DNDError("\(path): model.vocab is missing or not an object") }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(vocabAny.count)
        for (k, v) in vocabAny {
            guard let n = (v as? NSNumber)?.intValue, n >= 0 else { throw DNDError("\(path): vocab entry '\(k)' has no non-negative id") }
            vocab[k] = n
        }
        var merges: [(String, String)] = []
        for (i, m) in (model["merges"] as? [Any] ?? []).enumerated() {
            if let s = m as? String {
                // Older files write a merge as "left right".
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw DNDError("\(path): merge \(i) '\(s)' is not two tokens separated by a space") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let p = m as? [String], p.count == 2 {
                merges.append((p[0], p[1]))
            } else {
                throw DNDError("\(path): merge \(i) is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        var added: [AddedToken] = []
        for a in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = (a["id"] as? NSNumber)?.intValue, let content = a["content"] as? String, !content.isEmpty else {
                throw DNDError("\(path): an added_tokens entry lacks id or content")
            }
            added.append(AddedToken(id: id, content: content, special: a["special"] as? Bool ?? false,
                                    lstrip: a["lstrip"] as? Bool ?? false, rstrip: a["rstrip"] as? Bool ?? false))
        }
        let normalizer = try Normalizer.from(json: root["normalizer"], origin: path)
        let pre = try PreTokenizer(json: root["pre_tokenizer"], origin: path)
        if let dec = root["decoder"] as? [String: Any], let t = dec["type"] as? String, t != "ByteLevel" {
            throw DNDError("\(path): decoder type '\(t)' is not supported; dnd reads byte-level BPE tokenizers (decoder ByteLevel)")
        }
        let special = BPETokenizer.readSpecialNames(folder: url.deletingLastPathComponent())
        try self.init(vocab: vocab, merges: merges, addedTokens: added, normalizer: normalizer, preTokenizer: pre,
                      eosToken: special["eos_token"], padToken: special["pad_token"], specialTokens: special,
                      unknownToken: model["unk_token"] as? String, fuseUnknown: model["fuse_unk"] as? Bool ?? false, origin: path)
    }

    /// Builds a tokenizer from its parts (what `BPETrainer` produces).
    public init(vocab: [String: Int], merges: [(String, String)], addedTokens: [AddedToken], normalizer: Normalizer?,
                preTokenizer: PreTokenizer, eosToken: String?, padToken: String? = nil, specialTokens: [String: String] = [:],
                unknownToken: String? = nil, fuseUnknown: Bool = false, origin: String = "tokenizer") throws {
        var size = (vocab.values.max() ?? -1) + 1
        for a in addedTokens { size = max(size, a.id + 1) }
        var idToToken = [String](repeating: "", count: size)
        for (k, v) in vocab { idToToken[v] = k }
        for a in addedTokens { idToToken[a.id] = a.content }
        var byteIds = [Int32](repeating: -1, count: 256)
        var missing: [UInt8] = []
        for b in 0..<256 {
            if let id = vocab[String(ByteLevel.byteToChar[b])] { byteIds[b] = Int32(id) } else { missing.append(UInt8(b)) }
        }
        guard missing.count < 256 else {
            throw DNDError("\(origin): no byte-level token at all (none of the 256 byte characters is in the vocabulary); this is not a byte-level BPE vocabulary")
        }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (l, r)) in merges.enumerated() {
            guard let a = vocab[l], let b = vocab[r] else { throw DNDError("\(origin): merge \(rank) '\(l) \(r)' uses a token missing from the vocabulary") }
            guard let m = vocab[l + r] else { throw DNDError("\(origin): merge \(rank) '\(l) \(r)' produces '\(l + r)', which is not in the vocabulary") }
            let key = UInt64(a) << 32 | UInt64(b)
            if table[key] == nil { table[key] = (Int32(rank), Int32(m)) }
        }
        self.vocab = vocab; self.merges = merges; self.addedTokens = addedTokens
        self.normalizer = normalizer; self.preTokenizer = preTokenizer
        self.idToToken = idToToken; self.mergeTable = table; self.byteIds = byteIds; self.missingBytes = missing
        self.unknownId = unknownToken.flatMap { name in vocab[name] ?? addedTokens.first { $0.content == name }?.id }.map(Int32.init)
        self.fuseUnknown = fuseUnknown
        var byContent: [String: AddedToken] = [:]
        for a in addedTokens { byContent[a.content] = a }
        self.addedByContent = byContent
        func lookup(_ name: String?) -> Int? { name.flatMap { byContent[$0]?.id ?? vocab[$0] } }
        let eos = lookup(eosToken) ?? ["<|endoftext|>", "<|im_end|>", "<|end_of_text|>", "<|eot_id|>", "</s>"].lazy.compactMap { lookup($0) }.first
        self.eosTokenId = eos
        self.padTokenId = lookup(padToken) ?? eos
        var named = specialTokens
        if named["eos_token"] == nil, let eos { named["eos_token"] = idToToken[eos] }
        self.specialTokens = named
    }

    /// The special tokens' texts (`bos_token`, `eos_token`, `pad_token`, `unk_token`; a string or `{"content": …}`)
    /// from `tokenizer_config.json`, when the file exists.
    static func readSpecialNames(folder: URL) -> [String: String] {
        let url = folder.appendingPathComponent("tokenizer_config.json")
        guard let d = FileManager.default.contents(atPath: url.path),
              let o = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else { return [:] }
        func name(_ v: Any?) -> String? { (v as? String) ?? ((v as? [String: Any])?["content"] as? String) }
        var out: [String: String] = [:]
        for k in ["bos_token", "eos_token", "pad_token", "unk_token"] { if let v = name(o[k]) { out[k] = v } }
        return out
    }

    // MARK: encoding

    /// Token ids of `text`; adds no BOS/EOS.
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in splitOnAddedTokens(text) {
            switch segment {
            case let .added(id): ids.append(id)
            case let .text(s):
                let normalized = normalizer?.apply(s) ?? s
                for piece in preTokenizer.split(normalized) { ids.append(contentsOf: bpe(piece)) }
            }
        }
        return ids
    }

    enum Segment { case text(String), added(Int) }

    /// Splits raw text at added tokens (leftmost, longest first), honouring their lstrip/rstrip flags.
    func splitOnAddedTokens(_ text: String) -> [Segment] {
        if addedTokens.isEmpty || text.isEmpty { return text.isEmpty ? [] : [.text(text)] }
        let bytes = Array(text.utf8)
        let candidates = addedTokens.map { (Array($0.content.utf8), $0) }.sorted { $0.0.count > $1.0.count }
        var firstBytes = Set<UInt8>()
        for (c, _) in candidates { firstBytes.insert(c[0]) }
        var out: [Segment] = []
        var textStart = 0, i = 0
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        func flush(_ end: Int) {
            if end > textStart { out.append(.text(String(decoding: bytes[textStart..<end], as: UTF8.self))) }
        }
        while i < bytes.count {
            guard firstBytes.contains(bytes[i]),
                  let (c, tok) = candidates.first(where: { c, _ in i + c.count <= bytes.count && bytes[i..<(i + c.count)].elementsEqual(c) }) else {
                i += 1; continue
            }
            var start = i, end = i + c.count
            if tok.lstrip { while start > textStart && isSpace(bytes[start - 1]) { start -= 1 } }
            if tok.rstrip { while end < bytes.count && isSpace(bytes[end]) { end += 1 } }
            flush(start)
            out.append(.added(tok.id))
            textStart = end; i = end
        }
        flush(bytes.count)
        return out
    }

    /// BPE of one pre-token piece: its bytes as one-character tokens, then the lowest-ranked merge, repeatedly.
    func bpe(_ piece: String) -> [Int] {
        if let hit = cache.get(piece) { return hit }
        var syms: [Int32] = []
        syms.reserveCapacity(piece.utf8.count)
        for b in piece.utf8 {
            let id = byteIds[Int(b)]
            if id >= 0 { syms.append(id) }
            else if let unk = unknownId, !(fuseUnknown && syms.last == unk) { syms.append(unk) }
        }
        while syms.count > 1 {
            var best = Int32.max, at = -1, merged: Int32 = 0
            for j in 0..<(syms.count - 1) {
                if let m = mergeTable[UInt64(syms[j]) << 32 | UInt64(syms[j + 1])], m.rank < best {
                    best = m.rank; at = j; merged = m.id
                }
            }
            if at < 0 { break }
            // Merge every occurrence of the best pair, left to right (what rank-ordered merging does).
            let left = syms[at], right = syms[at + 1]
            var out: [Int32] = []
            out.reserveCapacity(syms.count - 1)
            var j = 0
            while j < syms.count {
                if j < syms.count - 1 && syms[j] == left && syms[j + 1] == right { out.append(merged); j += 2 } else { out.append(syms[j]); j += 1 }
            }
            syms = out
        }
        let ids = syms.map(Int.init)
        cache.set(piece, ids)
        return ids
    }

    // MARK: decoding

    /// Text of `ids`: byte-level tokens back to bytes, read as UTF-8 (invalid sequences become U+FFFD);
    /// added and special tokens are kept as their text. Unknown ids are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0 && id < idToToken.count else { continue }
            let t = idToToken[id]
            if let a = addedByContent[t], a.id == id {
                if !(skipSpecialTokens && a.special) { bytes.append(contentsOf: Array(t.utf8)) }
            } else {
                ByteLevel.decode(t, into: &bytes)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A thread-safe memo of piece → ids (the same words recur in any text).
final class PieceCache: @unchecked Sendable {
    private var map: [String: [Int]] = [:]
    private let lock = NSLock()
    static let limit = 200_000

    func get(_ k: String) -> [Int]? { lock.lock(); defer { lock.unlock() }; return map[k] }
    func set(_ k: String, _ v: [Int]) {
        lock.lock(); defer { lock.unlock() }
        if map.count >= PieceCache.limit { map.removeAll(keepingCapacity: true) }
        map[k] = v
    }
}
