import Foundation
import LLM

/// How to use one adapter folder in each serving stack, as the exact lines to run or paste (report.json `usage`,
/// report.html, and the README's "Using the adapters"). Lines starting with `#` are comments.
public struct ServingGuide: Codable, Sendable, Equatable {
    /// Python: transformers + PEFT (`PeftModel.from_pretrained`).
    public var peft: [String]
    /// vLLM: the adapter named on the command line, and the filesystem resolver that finds it by folder name.
    public var vllm: [String]
    /// llama.cpp: `llama-server` with the GGUF base and `adapter.gguf`.
    public var llamaCpp: [String]
    /// Ollama: a Modelfile with `FROM` and `ADAPTER`, then `ollama create`.
    public var ollama: [String]

    enum CodingKeys: String, CodingKey { case peft, vllm, llamaCpp = "llama_cpp", ollama }

    /// The stacks in display order with their titles.
    public var sections: [(title: String, lines: [String])] {
        [("PEFT", peft), ("vLLM", vllm), ("llama.cpp", llamaCpp), ("Ollama", ollama)]
    }

    /// The lines for the adapter in `folder` (its final place), named `name` in servers, whose adapters carry
    /// `baseModel`; `gguf` is true when `folder/adapter.gguf` exists.
    public init(folder: URL, name: String, baseModel: BaseModelName, rank: Int, gguf: Bool) {
        let dir = folder.standardizedFileURL.path
        let served = baseModel.name ?? "BASE_MODEL"
        let unnamed = baseModel.name == nil ? ["# BASE_MODEL: the base model the adapter was generated for (its adapter_config.json names none)"] : []
        let model = baseModel.model
        let ggufBase = model?.format == .gguf ? model?.url.path : nil

        var peft = ["from transformers import AutoModelForCausalLM", "from peft import PeftModel"]
        if let m = model, m.format == .gguf {
            peft.append("base = AutoModelForCausalLM.from_pretrained(\(Self.py(m.url.deletingLastPathComponent().path)), gguf_file=\(Self.py(m.url.lastPathComponent)))")
        } else {
            peft.append("base = AutoModelForCausalLM.from_pretrained(\(Self.py(model?.url.path ?? served)))")
        }
        peft.append("model = PeftModel.from_pretrained(base, \(Self.py(dir)))")
        self.peft = unnamed + peft

        let rankOption = rank > 16 ? " --max-lora-rank \(rank <= 32 ? 32 : 64)" : ""
        let parent = folder.standardizedFileURL.deletingLastPathComponent().path
        self.vllm = unnamed + [
            "vllm serve \(Self.sh(served)) --enable-lora\(rankOption) --lora-modules \(Self.sh("\(name)=\(dir)"))",
            "# or let the filesystem resolver find every adapter of \(parent) by folder name (it loads one only when its base_model_name_or_path equals the served model name):",
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING=true VLLM_PLUGINS=lora_filesystem_resolver VLLM_LORA_RESOLVER_CACHE_DIR=\(Self.sh(parent)) vllm serve \(Self.sh(served)) --enable-lora\(rankOption)",
            "# then ask for \"model\": \(Self.py(name)) in /v1/completions or /v1/chat/completions",
        ]

        let adapterFile = dir + "/adapter.gguf"
        var convert: [String] = []
        if !gguf {
            convert.append("dnd export-gguf \(Self.sh(dir)) --base \(Self.sh(model?.url.path ?? "BASE_MODEL"))   # writes adapter.gguf")
        }
        let base = ggufBase.map(Self.sh) ?? "BASE.gguf"
        if ggufBase == nil {
            convert.append("# BASE.gguf: the base model as GGUF (llama.cpp's convert_hf_to_gguf.py \(model.map { Self.sh($0.url.path) } ?? "BASE_MODEL_FOLDER"))")
        }
        self.llamaCpp = convert + ["llama-server -m \(base) --lora \(Self.sh(adapterFile))"]
        let tag = Self.ollamaName(name)
        self.ollama = convert + [
            "# Modelfile:",
            "FROM \(base)",
            "ADAPTER \(adapterFile)",
            "# then:",
            "ollama create \(tag) -f Modelfile",
            "ollama run \(tag)",
        ]
    }

    /// A Python string literal (JSON's escapes are Python's).
    static func py(_ s: String) -> String {
        guard let d = try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes]),
              let t = String(data: d, encoding: .utf8) else { return "\"\(s)\"" }
        return String(t.dropFirst().dropLast())
    }

    /// A shell word: as is when it holds only safe characters, else single-quoted.
    static func sh(_ s: String) -> String {
        let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@+,%")
        if !s.isEmpty && s.unicodeScalars.allSatisfy(safe.contains) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Ollama model names are lowercase letters, digits and `._-`.
    static func ollamaName(_ s: String) -> String {
        let ok = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyz0123456789._-")
        let mapped = String(String.UnicodeScalarView(s.lowercased().unicodeScalars.map { ok.contains($0) ? $0 : "-" }))
        return mapped.isEmpty ? "dnd-adapter" : mapped
    }
}
