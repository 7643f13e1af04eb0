import Foundation
import TensorCore

/// Where a base model comes from: a Hugging Face folder (`config.json`, safetensors, `tokenizer.json`) or a GGUF file
/// (llama.cpp / Ollama), given as the file itself or as a folder holding exactly one `.gguf`. Every place that takes
/// a base model (`--base`, `--model`, `base/`, `base_model` in config.toml) resolves it here.
public struct ModelSource: Sendable, Equatable {
    public enum Format: String, Sendable { case huggingFace = "hugging face folder", gguf = "gguf" }

    /// The folder (Hugging Face) or the `.gguf` file, absolute and standardized.
    public let url: URL
    public let format: Format

    public init(url: URL, format: Format) { self.url = url.standardizedFileURL; self.format = format }

    /// Decides what `url` is: a `.gguf` file, a folder with `config.json`, or a folder with one `.gguf` file.
    public static func resolve(_ url: URL) throws -> ModelSource {
        let fm = FileManager.default
        let path = url.path
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw DNDError("\(path): no such file or folder; a base model is a Hugging Face folder (config.json, model.safetensors, tokenizer.json) or a .gguf file")
        }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL
        if !isDir.boolValue {
            guard GGUFSniff.isGGUF(absolute) else {
                throw DNDError("\(path): not a GGUF file (no 'GGUF' magic) and not a folder; a base model is a Hugging Face folder or a .gguf file")
            }
            return ModelSource(url: absolute, format: .gguf)
        }
        if fm.fileExists(atPath: absolute.appendingPathComponent("config.json").path) {
            return ModelSource(url: absolute, format: .huggingFace)
        }
        let ggufs = ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { $0.lowercased().hasSuffix(".gguf") && !$0.hasPrefix(".") }.sorted()
        switch ggufs.count {
        case 1: return ModelSource(url: absolute.appendingPathComponent(ggufs[0]), format: .gguf)
        case 0:
            throw DNDError("\(path): neither a Hugging Face model folder (no config.json) nor a folder holding a .gguf file; put the model's files there")
        default:
            throw DNDError("\(path): holds \(ggufs.count) .gguf files (\(ggufs.joined(separator: ", "))); name the one to use (the file itself) or keep one in the folder")
        }
    }

    /// `owner/name` of a Hugging Face model URL (`https://huggingface.co/owner/name[/...]`), else nil.
    public static func huggingFaceRepository(url: String) -> String? {
        guard let u = URL(string: url), let host = u.host?.lowercased(), host == "huggingface.co" || host == "hf.co" || host == "www.huggingface.co" else { return nil }
        let parts = u.path.split(separator: "/").map(String.init)
        guard parts.count >= 2, !["datasets", "spaces", "docs", "blog"].contains(parts[0]) else { return nil }
        return parts[0] + "/" + parts[1]
    }

    /// A Hugging Face id (`owner/name`, or a bare name) as opposed to a local path.
    public static func looksLikeHubID(_ s: String) -> Bool {
        guard !s.isEmpty, !s.hasPrefix("/"), !s.hasPrefix("."), !s.hasPrefix("~") else { return false }
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty }) else { return false }
        let ok = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        return s.unicodeScalars.allSatisfy { $0 == "/" || ok.contains($0) } && !parts.contains { $0 == "." || $0 == ".." }
    }
}

/// Reads the first four bytes of a file.
enum GGUFSniff {
    static func isGGUF(_ url: URL) -> Bool {
        guard let h = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
    }
}

/// A model's tokenizer and chat template without its weights (what `dnd debug tokenize` and `dnd debug chat` need).
public enum ModelText {
    public static func load(_ url: URL) throws -> (tokenizer: BPETokenizer, template: ChatTemplate) {
        let source = try ModelSource.resolve(url)
        switch source.format {
        case .huggingFace:
            let json = source.url.appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: json.path) else {
                throw DNDError("\(source.url.path): no tokenizer.json; dnd needs the Hugging Face fast-tokenizer file next to config.json")
            }
            let tokenizer = try BPETokenizer(tokenizerJSON: json)
            return (tokenizer, try ChatTemplate.load(folder: source.url, tokenizer: tokenizer))
        case .gguf:
            return try GGUFModel.text(source.url)
        }
    }
}
