import Foundation
import TensorCore

/// A WordPiece vocabulary (`vocab.txt`, one token a line, id = line number) and its greedy longest-match
/// segmentation of one word into pieces, `##`-prefixed after the first.
///
/// Tokens live in a trie over Unicode scalars, so matching is exact scalar by scalar (Swift's `String`
/// equality would treat canonically equivalent spellings, such as a precomposed Hangul syllable and its jamo,
/// as equal; the reference does not) and the longest match is one walk instead of a lookup per length.
public struct WordPiece: Sendable {
    /// Id → token.
    public let tokens: [String]
    /// The id emitted for a word that cannot be segmented or is too long.
    public let unknownID: Int
    /// Prefix of a piece that continues a word.
    public let continuationPrefix: String
    /// Words longer than this many characters become `[UNK]`.
    public let maxCharactersPerWord: Int
    /// Trie edges: `(node << 21) | scalar` → child node. Node 0 is the root.
    let edges: [UInt64: Int32]
    /// Token id ending at each node, or -1.
    let terminal: [Int32]
    /// The node reached from the root by the continuation prefix, or nil when no token starts with it.
    let continuationRoot: Int32?

    public init(tokens: [String], unknownToken: String = "[UNK]", continuationPrefix: String = "##",
                maxCharactersPerWord: Int = 100, source: String = "vocabulary") throws {
        var edges: [UInt64: Int32] = [:]
        edges.reserveCapacity(tokens.count * 4)
        var terminal: [Int32] = [-1]
        // A token listed twice keeps its last id, as the reference loaders do.
        for (i, t) in tokens.enumerated() {
            var node: Int32 = 0
            for s in t.unicodeScalars {
                let key = UInt64(node) << 21 | UInt64(s.value)
                if let child = edges[key] { node = child; continue }
                let child = Int32(terminal.count)
                terminal.append(-1)
                edges[key] = child
                node = child
            }
            if node != 0 { terminal[Int(node)] = Int32(i) }
        }
        self.tokens = tokens
        self.edges = edges
        self.terminal = terminal
        self.continuationPrefix = continuationPrefix
        self.maxCharactersPerWord = maxCharactersPerWord
        var node: Int32? = 0
        for s in continuationPrefix.unicodeScalars { node = node.flatMap { edges[UInt64($0) << 21 | UInt64(s.value)] } }
        self.continuationRoot = continuationPrefix.isEmpty ? nil : node
        guard let unk = WordPiece.lookup(unknownToken, edges: edges, terminal: terminal) else {
            throw DNDError("\(source): the unknown token '\(unknownToken)' is not in the vocabulary; use the vocab.txt that came with the model")
        }
        self.unknownID = unk
    }

    /// The id of `token` (exact, scalar by scalar), or nil.
    public func id(of token: String) -> Int? { WordPiece.lookup(token, edges: edges, terminal: terminal) }

    static func lookup(_ token: String, edges: [UInt64: Int32], terminal: [Int32]) -> Int? {
        var node: Int32 = 0
        for s in token.unicodeScalars {
            guard let child = edges[UInt64(node) << 21 | UInt64(s.value)] else { return nil }
            node = child
        }
        let id = terminal[Int(node)]
        return id >= 0 ? Int(id) : nil
    }

    /// Reads `vocab.txt`: one token per line (a trailing CR is removed), id = 0-based line number.
    public static func readVocabulary(_ url: URL) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DNDError("\(url.path): cannot read the WordPiece vocabulary (\(error.localizedDescription)); reinstall the model folder")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DNDError("\(url.path): not UTF-8 text; a WordPiece vocab.txt holds one UTF-8 token per line")
        }
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line -> String in
            let bytes = line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]
            return String(decoding: bytes, as: UTF8.self)
        }
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { throw DNDError("\(url.path): the vocabulary is empty; reinstall the model folder") }
        return lines
    }

    /// The number of ids (one more than the largest).
    public var count: Int { tokens.count }

    /// Appends the ids of `word`'s pieces to `ids`: greedy longest match from the left, or one `[UNK]` when
    /// some position has no match or the word has more than `maxCharactersPerWord` characters.
    public func appendPieces(of word: [Unicode.Scalar], to ids: inout [Int]) {
        let n = word.count
        if n == 0 { return }
        if n > maxCharactersPerWord { ids.append(unknownID); return }
        let mark = ids.count
        var start = 0
        while start < n {
            var node: Int32
            if start == 0 { node = 0 } else if let c = continuationRoot { node = c } else { node = -1 }
            var best: (id: Int32, end: Int)?
            var i = start
            while node >= 0 && i < n {
                guard let child = edges[UInt64(node) << 21 | UInt64(word[i].value)] else { break }
                node = child
                i += 1
                let t = terminal[Int(node)]
                if t >= 0 { best = (t, i) }
            }
            guard let match = best else {
                ids.removeSubrange(mark...)
                ids.append(unknownID)
                return
            }
            ids.append(Int(match.id))
            start = match.end
        }
    }
}
