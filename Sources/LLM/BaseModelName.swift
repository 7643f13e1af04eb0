import Foundation
import GGUF
import LoRA
import TensorCore

/// `base_model_name_or_path` of the adapters dnd writes: the name the user serves the base model under (vLLM's
/// filesystem resolver loads an adapter only when it equals the server's model name; PEFT's `AutoPeftModel` and
/// llama.cpp's converter load the base by it), the rule that chose it, and the base model's files when they are known.
///
/// The rules, first match wins; the result is never a relative path:
///   1. configured: `base_model_name` in config.toml or `--base-model-name` (a relative path in it is made absolute);
///   2. the base model's public id when its files name one (config.json `_name_or_path` when it is not a local path,
///      GGUF `general.source.huggingface.repository` or the repository of `general.source.url`);
///   3. the base model's absolute path;
///   4. the name the generator's zoo carries, when it is not a relative path (a relative one naming a model under the
///      root is that model, rules 2–3);
///   5. none (`null`): PEFT then needs the base model passed explicitly.
public struct BaseModelName: Codable, Sendable, Equatable {
    public enum Rule: String, Codable, Sendable {
        case configured, publicID = "public id", absolutePath = "absolute path", zoo, none
    }

    /// The name, nil when no rule gives one.
    public var name: String?
    public var rule: Rule
    /// Why this name, in one sentence (for the report).
    public var reason: String
    /// The base model's files, when known (for adapter.gguf and the usage lines); not part of the report.
    public var model: ModelSource?

    enum CodingKeys: String, CodingKey { case name, rule, reason }

    public init(name: String?, rule: Rule, reason: String, model: ModelSource? = nil) {
        self.name = name; self.rule = rule; self.reason = reason; self.model = model
    }

    /// Applies the rules. `configured` is the user's setting and `setting` names it ("--base-model-name",
    /// "base_model_name in /root/config.toml"); relative paths in it are taken against `relativeTo`. `model` is the
    /// base model the command or job knows; `zoo` the generator's `base_model`, whose relative paths are the root's.
    public static func resolve(configured: String?, setting: String, relativeTo: URL, model: ModelSource?,
                               zoo: String?, root: URL?) -> BaseModelName {
        if let configured, !configured.isEmpty {
            let (name, note) = absolute(configured, relativeTo: relativeTo)
            return BaseModelName(name: name, rule: .configured, reason: "set by \(setting)\(note)", model: model)
        }
        if let model { return of(model) }
        guard let zoo, !zoo.isEmpty else {
            return BaseModelName(name: nil, rule: .none, reason: "no base model is known and the generator names none; set base_model_name (config.toml) or --base-model-name to the name you serve the base model under")
        }
        if zoo.hasPrefix("/") {
            return BaseModelName(name: URL(fileURLWithPath: zoo).standardizedFileURL.path, rule: .zoo,
                                 reason: "the base model the generator's zoo names (an absolute path); no base model is configured", model: try? ModelSource.resolve(URL(fileURLWithPath: zoo)))
        }
        if let root, let found = try? ModelSource.resolve(root.appendingPathComponent(zoo)) {
            var n = of(found)
            n.reason += " (the generator's zoo names '\(zoo)', a path relative to the root \(root.path))"
            return n
        }
        if ModelSource.looksLikeHubID(zoo) {
            return BaseModelName(name: zoo, rule: .zoo, reason: "the Hugging Face id the generator's zoo names; no base model is configured")
        }
        return BaseModelName(name: nil, rule: .none, reason: "the generator's zoo names '\(zoo)', a relative path that is no model here, and no base model is configured; set base_model_name (config.toml) or --base-model-name to the name you serve the base model under")
    }

    /// Rules 2 and 3 for a known base model.
    public static func of(_ model: ModelSource) -> BaseModelName {
        if let id = model.publicID() {
            let place = model.format == .gguf ? "its GGUF metadata" : "config.json _name_or_path"
            return BaseModelName(name: id, rule: .publicID, reason: "the public id \(place) names (base model \(model.url.path))", model: model)
        }
        return BaseModelName(name: model.url.path, rule: .absolutePath,
                             reason: "the base model's absolute path: its files name no public id; set base_model_name (config.toml) or --base-model-name to serve it under another name",
                             model: model)
    }

    /// A configured name as adapters carry it: absolute and `~` paths standardized, relative paths (`./x`, `../x`, or
    /// a file or folder that exists under `relativeTo`) made absolute; anything else (`owner/name`, a served name) as given.
    static func absolute(_ s: String, relativeTo: URL) -> (name: String, note: String) {
        if s.hasPrefix("/") { return (URL(fileURLWithPath: s).standardizedFileURL.path, "") }
        if s == "~" || s.hasPrefix("~/") {
            let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
            return (URL(fileURLWithPath: home + s.dropFirst()).standardizedFileURL.path, "")
        }
        let candidate = relativeTo.appendingPathComponent(s).standardizedFileURL
        let explicit = s == "." || s == ".." || s.hasPrefix("./") || s.hasPrefix("../")
        if explicit || FileManager.default.fileExists(atPath: candidate.path) {
            return (candidate.path, " ('\(s)', a relative path, made absolute against \(relativeTo.path))")
        }
        return (s, "")
    }
}

extension ModelSource {
    /// The model's config without its weights: `config.json`, or the GGUF metadata and tensor shapes.
    public func config() throws -> ModelConfig {
        switch format {
        case .huggingFace: return try ModelConfig.load(folder: url)
        case .gguf: return try GGUFModel.config(GGUFFile(url: url))
        }
    }

    /// The public id the model's files name, nil when they name none (see `BaseModelName`).
    public func publicID() -> String? {
        switch format {
        case .huggingFace: return ModelConfig.publicID(folder: url)
        case .gguf: return (try? GGUFFile(url: url)).flatMap(GGUFModel.publicID)
        }
    }
}

extension ModelConfig {
    /// What llama.cpp's LoRA layout needs of this model.
    public var ggufLoRABase: GGUFLoRABase {
        GGUFLoRABase(architecture: architecture.modelType, heads: numAttentionHeads, kvHeads: numKeyValueHeads)
    }
}
