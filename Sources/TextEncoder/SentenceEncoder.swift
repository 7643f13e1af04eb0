import Foundation
import SafeTensors
import TensorCore

// Letters: N texts, L the requested token length, T_n tokens of text n, H hidden.

/// A frozen Sentence-BERT encoder loaded from a sentence-transformers folder: texts → token hidden states
/// `[N, L, H]` (the generator's condition) and sentence embeddings `[N, H]`, in one pass.
/// Immutable after `init`, so one instance may encode from several threads at once.
public final class SentenceEncoder: @unchecked Sendable {
    public let folder: ModelFolder
    public let config: BertConfig
    public let tokenizer: BertTokenizer
    public let poolingMode: PoolingMode
    /// Whether sentence embeddings are L2-normalised.
    public let normalize: Bool
    /// A stable cache key: model name, hidden size, layers, pooling and a content hash of the weights and vocabulary.
    public let identity: String
    let model: BertModel

    /// Texts encoded per forward pass.
    public static let batchSize = 32

    public var hiddenSize: Int { config.hiddenSize }
    /// Most tokens per text, `[CLS]` and `[SEP]` included (`max_seq_length`, capped by the position table).
    public var maxSequenceLength: Int { tokenizer.maxLength }

    /// Loads and checks everything in `folder`; throws a `DNDError` naming the file and the fix.
    public init(folder url: URL) throws {
        let folder = try ModelFolder(url)
        self.folder = folder
        guard let config = try readJSONConfig(BertConfig.self, folder.config, required: true) else {
            throw DNDError("\(folder.config.path): missing")
        }
        self.config = config
        var tokenizer = try BertTokenizer(folder: url)
        if tokenizer.wordPiece.count > config.vocabSize {
            throw DNDError("\(folder.vocabulary.path): \(tokenizer.wordPiece.count) tokens but config.json has vocab_size \(config.vocabSize); the vocabulary belongs to another model, reinstall the encoder folder")
        }
        if tokenizer.maxLength > config.maxPositionEmbeddings {
            tokenizer = tokenizer.withMaxLength(config.maxPositionEmbeddings)
        }
        self.tokenizer = tokenizer
        var pooling = PoolingConfig()
        if let p = folder.poolingConfig {
            pooling = try readJSONConfig(PoolingConfig.self, p, required: true) ?? pooling
            if let d = pooling.wordEmbeddingDimension, d != config.hiddenSize {
                throw DNDError("\(p.path): word_embedding_dimension \(d) differs from hidden_size \(config.hiddenSize) in config.json; the pooling config belongs to another model")
            }
        }
        self.poolingMode = pooling.mode
        self.normalize = folder.normalize
        let weights = try SafeTensorsFile(url: folder.weights)
        self.model = try BertModel(config: config, file: weights)
        let hash = try ContentHash.hash(file: folder.weights) ^ (ContentHash.hash(file: folder.vocabulary) &* ContentHash.p3)
        let name = SentenceEncoder.modelName(folder: folder)
        identity = "\(name)-h\(config.hiddenSize)-l\(config.numHiddenLayers)-\(pooling.mode.name)"
            + "\(normalize ? "-norm" : "")-\(String(hash, radix: 16).leftPadded(to: 16))"
    }

    /// The encoder folder to use when none is given; see `ModelFolder.defaultFolder`.
    public static func defaultFolder() throws -> URL { try ModelFolder.defaultFolder() }

    /// The model's name: `_name_or_path`'s last component from config.json, else the folder's name.
    static func modelName(folder: ModelFolder) -> String {
        struct Named: Decodable { var _name_or_path: String? }
        let named = (try? Data(contentsOf: folder.config)).flatMap { try? JSONDecoder().decode(Named.self, from: $0) }
        let raw = named?._name_or_path.flatMap { $0.split(separator: "/").last.map(String.init) } ?? folder.url.lastPathComponent
        return String(raw.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
    }

    /// Token ids of `text`: `[CLS]`, word pieces (truncated), `[SEP]`.
    public func tokenize(_ text: String) -> [Int] { tokenizer.encode(text) }

    /// Encodes `texts` in one pass: `hidden` `[N, L, H]` (token states, zero-padded or truncated to `length`;
    /// `[N, 0, H]` when `length` is nil) and `pooled` `[N, H]` (pooled over all of each text's tokens).
    public func encode(_ texts: [String], length: Int?) -> (hidden: Tensor, pooled: Tensor) {
        encodeChecked(texts.map(tokenize), length: length)
    }

    /// `encode` for already-tokenized texts; every sequence must hold 1...`maxPositionEmbeddings` ids below
    /// `vocab_size`.
    public func encode(tokenIDs: [[Int]], length: Int?) throws -> (hidden: Tensor, pooled: Tensor) {
        for (n, ids) in tokenIDs.enumerated() {
            guard !ids.isEmpty, ids.count <= config.maxPositionEmbeddings else {
                throw DNDError("token sequence \(n): \(ids.count) ids; the encoder takes 1...\(config.maxPositionEmbeddings)")
            }
            if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
                throw DNDError("token sequence \(n): id \(bad) is outside the vocabulary (0..<\(config.vocabSize))")
            }
        }
        return encodeChecked(tokenIDs, length: length)
    }

    func encodeChecked(_ ids: [[Int]], length: Int?) -> (hidden: Tensor, pooled: Tensor) {
        precondition((length ?? 0) >= 0, "length must not be negative")
        let n = ids.count, h = config.hiddenSize, l = length ?? 0
        var hidden = Tensor(zeros: [n, l, h])   // [N, L, H]
        var pooled = Tensor(zeros: [n, h])      // [N, H]
        // Similar lengths together: a batch's attention scratch is sized by its longest text.
        let order = (0..<n).sorted { ids[$0].count < ids[$1].count }
        let hp = hidden.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let pp = pooled.withUnsafeMutableBufferPointer { $0.baseAddress! }
        var start = 0
        while start < n {
            let batch = Array(order[start..<min(n, start + SentenceEncoder.batchSize)])
            let states = model.forward(batch.map { ids[$0] })   // [Σ T_b, H]
            var row = 0
            for b in batch {
                let t = ids[b].count
                let src = states.pointer + row * h
                if l > 0 { (hp + b * l * h).update(from: src, count: min(t, l) * h) }
                Pooling.pool(src, tokens: t, hiddenSize: h, mode: poolingMode, normalize: normalize, into: pp + b * h)
                row += t
            }
            start += SentenceEncoder.batchSize
        }
        return (hidden, pooled)
    }
}

extension String {
    func leftPadded(to n: Int, with c: Character = "0") -> String {
        count >= n ? self : String(repeating: c, count: n - count) + self
    }
}
