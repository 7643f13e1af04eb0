import ArgumentParser
import Foundation
import LLM
import TensorCore
import TextEncoder

/// `dnd debug tokenize`: token ids of a JSON array of texts, with the tokenizer the folder holds.
struct DebugTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize a JSON array of texts with a model folder's tokenizer; write a JSON array of id arrays.",
        discussion: """
        A BERT folder (vocab.txt) gets WordPiece with [CLS]/[SEP] and truncation to max_seq_length; a folder with a
        byte-level BPE tokenizer.json (Qwen2, Llama 3, GPT-2 style) or a GGUF file (tokenizer.ggml.*, or a folder
        holding one) gets that tokenizer, adding no special tokens.
        """)

    @Option(help: "Tokenizer: a BERT folder with vocab.txt, a folder with a byte-level BPE tokenizer.json, or a .gguf file (or a folder holding one).") var tokenizer: String
    @Option(help: "JSON array of strings.") var input: String
    @Option(help: "Output JSON file: one array of token ids per text.") var out: String

    func run() throws {
        let folder = URL(fileURLWithPath: tokenizer)
        let texts = try readJSONStrings(input)
        let ids: [[Int]]
        switch try TokenizerFolderKind.detect(folder) {
        case .wordPiece:
            let wp = try BertTokenizer(folder: folder)
            ids = texts.map(wp.encode)
        case .byteLevelBPE:
            let bpe = try BPETokenizer(tokenizerJSON: folder.appendingPathComponent("tokenizer.json"))
            ids = texts.map(bpe.encode)
        case let .gguf(file):
            let bpe = try BPETokenizer.load(gguf: file)
            for w in bpe.warnings { FileHandle.standardError.write(Data("dnd: \(file.path): \(w)\n".utf8)) }
            ids = texts.map(bpe.encode)
        }
        let body = ids.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",\n ")
        try AtomicFile.write(Data(("[\n " + body + "\n]\n").utf8), to: URL(fileURLWithPath: out))
        print("tokenized \(texts.count) texts (\(ids.reduce(0) { $0 + $1.count }) ids) → \(out)")
    }
}

/// The tokenizer families dnd reads, told apart by a folder's files.
enum TokenizerFolderKind {
    /// BERT WordPiece: `vocab.txt` (+ optional `tokenizer_config.json`, `sentence_bert_config.json`).
    case wordPiece
    /// Byte-level BPE: `tokenizer.json` with a BPE model (the LLM engine's tokenizer).
    case byteLevelBPE
    /// The byte-level BPE vocabulary of a GGUF file (`tokenizer.ggml.*`).
    case gguf(URL)

    static func detect(_ folder: URL) throws -> TokenizerFolderKind {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir) else {
            throw DNDError("\(folder.path): no such file or folder; pass --tokenizer a model folder (a BERT folder with vocab.txt, or one with a BPE tokenizer.json) or a .gguf file")
        }
        if !isDir.boolValue { return .gguf(try ModelSource.resolve(folder).url) }
        if BertTokenizer.isWordPieceFolder(folder) { return .wordPiece }
        let json = folder.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json.path) {
            let model = (try? JSONSerialization.jsonObject(with: Data(contentsOf: json))) as? [String: Any]
            let type = (model?["model"] as? [String: Any])?["type"] as? String
            guard type == "BPE" else {
                throw DNDError("\(json.path): a \(type ?? "unknown") tokenizer; dnd reads BERT WordPiece folders (vocab.txt) and byte-level BPE tokenizer.json files")
            }
            return .byteLevelBPE
        }
        if let source = try? ModelSource.resolve(folder), source.format == .gguf { return .gguf(source.url) }
        throw DNDError("\(folder.path): no tokenizer found (neither vocab.txt, tokenizer.json nor a .gguf file); pass the model folder or file itself")
    }
}

/// Reads a JSON array of strings (texts.json, sentences.json), naming the file in every error.
func readJSONStrings(_ path: String) throws -> [String] {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw DNDError("\(path): cannot read (no such file or no permission)")
    }
    guard let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
        throw DNDError("\(path): not valid JSON; expected a JSON array of strings")
    }
    guard let array = json as? [Any] else { throw DNDError("\(path): expected a JSON array of strings, found another JSON value") }
    return try array.enumerated().map { i, v in
        guard let s = v as? String else { throw DNDError("\(path): element \(i) is not a string; expected a JSON array of strings") }
        return s
    }
}
