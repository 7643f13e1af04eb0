import Foundation
import GGUF
import TensorCore

/// What llama.cpp's LoRA layout needs to know about the base model: its `general.architecture` and, for `llama`, the
/// head counts of the q/k row permutation (query heads for q, KV heads for k).
public struct GGUFLoRABase: Sendable, Equatable {
    public var architecture: String
    public var heads: Int
    public var kvHeads: Int

    public init(architecture: String, heads: Int, kvHeads: Int) {
        self.architecture = architecture; self.heads = heads; self.kvHeads = kvHeads
    }

    /// llama.cpp permutes the rows of q/k (and so of their `lora_b`) for `llama` only.
    public var permutesQK: Bool { architecture == "llama" }

    /// The heads the rows of `module`'s `lora_b` are permuted with, nil when they are not permuted.
    func permutation(_ module: LoRAModule) -> Int? {
        guard permutesQK else { return nil }
        switch module {
        case .q_proj: return heads
        case .k_proj: return kvHeads
        default: return nil
        }
    }
}

extension LoRAModule {
    /// The module's name in llama.cpp tensor names (`blk.<l>.<name>.weight`).
    public var ggufName: String {
        switch self {
        case .q_proj: "attn_q"
        case .k_proj: "attn_k"
        case .v_proj: "attn_v"
        case .o_proj: "attn_output"
        case .up_proj: "ffn_up"
        case .gate_proj: "ffn_gate"
        case .down_proj: "ffn_down"
        }
    }
}

/// A LoRA adapter in llama.cpp's GGUF LoRA layout, `adapter.gguf`: what llama.cpp's `convert_lora_to_gguf.py
/// --outtype f32` writes and what `llama-server --lora` and Ollama's `ADAPTER` load.
///
///   metadata  general.architecture (the base's), general.type = "adapter", adapter.type = "lora",
///             adapter.lora.alpha (f32)
///   tensors   blk.<l>.<attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down>.weight.lora_a  [r, in]   F32
///             blk.<l>.<…>.weight.lora_b                                                         [out, r]  F32
///             in the order of the PEFT keys (as safetensors sorts them); `llama` q/k `lora_b` rows permuted
///             like the base weights (`RotaryRows`).
///
/// llama.cpp scales every pair by `alpha / r`. An rsLoRA adapter (`alpha / √r`) is written with
/// `adapter.lora.alpha = alpha·√r`, so the delta is the same and the tensors stay PEFT's.
public enum GGUFLoRA {
    public static let fileName = "adapter.gguf"

    /// `blk.<l>.<module>.weight.lora_a` (`matrix` "A") or `.lora_b` ("B").
    public static func tensorName(_ site: LoRASite, _ matrix: String) -> String {
        "blk.\(site.layer).\(site.module.ggufName).weight.lora_\(matrix.lowercased())"
    }

    /// Parses a tensor name of the layout; nil when it is not one.
    public static func parse(name: String) -> (site: LoRASite, matrix: String)? {
        // blk.<l>.<module>.weight.lora_<a|b>
        let p = name.split(separator: ".", omittingEmptySubsequences: false)
        guard p.count == 5, p[0] == "blk", let l = Int(p[1]), l >= 0, p[3] == "weight",
              let m = LoRAModule.allCases.first(where: { $0.ggufName == p[2] }), p[4] == "lora_a" || p[4] == "lora_b" else { return nil }
        return (LoRASite(layer: l, module: m), p[4] == "lora_a" ? "A" : "B")
    }

    /// The file's contents, ready to write.
    public static func writer(for adapter: LoRAAdapter, base: GGUFLoRABase) throws -> GGUFWriter {
        try adapter.validate(origin: adapter.origin)
        var w = GGUFWriter()
        w.set("general.architecture", .string(base.architecture))
        w.set("general.type", .string("adapter"))
        w.set("adapter.type", .string("lora"))
        w.set("adapter.lora.alpha", .float32(alpha(for: adapter)))
        for site in adapter.sites.sorted(by: { $0.key("A") < $1.key("A") }) {
            let (a, b) = adapter.weights[site]!
            var rows = b
            if let heads = base.permutation(site.module) {
                guard RotaryRows.fits(rows: b.shape[0], heads: heads) else {
                    throw DNDError("\(adapter.origin): \(site.key("B")) has \(b.shape[0]) rows, which do not split into \(heads) heads of an even size; the adapter does not fit this \(base.architecture) base model (\(base.heads) heads, \(base.kvHeads) KV heads)")
                }
                rows = RotaryRows.permute(b, heads: heads)
            }
            try w.addTensor(tensorName(site, "A"), a, as: .f32)
            try w.addTensor(tensorName(site, "B"), rows, as: .f32)
        }
        return w
    }

    /// `adapter.lora.alpha` for `adapter`: its alpha, or alpha·√r for rsLoRA (llama.cpp always scales by alpha / r).
    public static func alpha(for adapter: LoRAAdapter) -> Float {
        adapter.config.useRslora ? adapter.config.loraAlpha * Float(adapter.rank).squareRoot() : adapter.config.loraAlpha
    }

    /// Writes `adapter.gguf` atomically (a temporary name in the same folder, fsync, rename).
    public static func write(_ adapter: LoRAAdapter, base: GGUFLoRABase, to url: URL) throws {
        try writer(for: adapter, base: base).write(to: url)
    }

    /// The metadata every GGUF LoRA carries: (architecture, alpha); throws naming the file when it is not one.
    static func header(_ file: GGUFFile) throws -> (architecture: String, alpha: Float) {
        let m = file.metadata
        guard try m.stringIfPresent("general.type") == "adapter", try m.stringIfPresent("adapter.type") == "lora" else {
            throw DNDError("\(file.url.path): not a GGUF LoRA adapter (general.type = \(m["general.type"].map { "\($0)" } ?? "none"), adapter.type = \(m["adapter.type"].map { "\($0)" } ?? "none")); give an adapter.gguf as llama.cpp's convert_lora_to_gguf.py or dnd writes it")
        }
        return (try m.string("general.architecture"), try m.float("adapter.lora.alpha"))
    }

    /// Checks that a file is a complete GGUF LoRA without a base model: its metadata, every tensor name, A and B for
    /// each pair, one rank. Returns the pairs' sites.
    public static func check(_ url: URL) throws -> Set<LoRASite> {
        let file = try GGUFFile(url: url)
        _ = try header(file)
        var a: [LoRASite: [Int]] = [:], b: [LoRASite: [Int]] = [:]
        for info in file.tensors {
            guard let (site, matrix) = parse(name: info.name), info.shape.count == 2 else {
                throw DNDError("\(url.path): tensor '\(info.name)' (shape \(info.shape)) is not a LoRA matrix of llama.cpp's layout")
            }
            if matrix == "A" { a[site] = info.shape } else { b[site] = info.shape }
        }
        guard Set(a.keys) == Set(b.keys), !a.isEmpty else {
            throw DNDError("\(url.path): \(a.isEmpty ? "no LoRA pairs" : "lora_a and lora_b tensors do not pair up")")
        }
        let ranks = Set(a.values.map { $0[0] }).union(b.values.map { $0[1] })
        guard ranks.count == 1 else { throw DNDError("\(url.path): the LoRA matrices have different ranks \(ranks.sorted())") }
        return Set(a.keys)
    }

    /// Reads a GGUF LoRA back into PEFT's layout (Hugging Face row order, `alpha / r` scaling) for a base model.
    public static func read(_ url: URL, base: GGUFLoRABase) throws -> LoRAAdapter {
        let file = try GGUFFile(url: url)
        let path = url.path
        let (arch, alpha) = try header(file)
        guard arch == base.architecture else {
            throw DNDError("\(path): the adapter is for a \(arch) model but the base model is \(base.architecture); use the base model it was made for")
        }
        var a: [LoRASite: Tensor] = [:], b: [LoRASite: Tensor] = [:]
        for info in file.tensors {
            guard let (site, matrix) = parse(name: info.name) else {
                throw DNDError("\(path): tensor '\(info.name)' is not a LoRA weight dnd understands (expected blk.<l>.<attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down>.weight.lora_<a|b>)")
            }
            guard info.shape.count == 2 else { throw DNDError("\(path): tensor '\(info.name)' has shape \(info.shape); LoRA matrices are 2-D") }
            let t = try file.tensor(info.name)
            if matrix == "A" { a[site] = t } else { b[site] = t }
        }
        var weights: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for site in Set(a.keys).union(b.keys).sorted() {
            guard let ta = a[site] else { throw DNDError("\(path): \(tensorName(site, "A")) is missing (its lora_b is present)") }
            guard var tb = b[site] else { throw DNDError("\(path): \(tensorName(site, "B")) is missing (its lora_a is present)") }
            if let heads = base.permutation(site.module) {
                guard RotaryRows.fits(rows: tb.shape[0], heads: heads) else {
                    throw DNDError("\(path): \(tensorName(site, "B")) has \(tb.shape[0]) rows, which do not split into \(heads) heads of an even size; the adapter was made for a different base model")
                }
                tb = RotaryRows.unpermute(tb, heads: heads)
            }
            weights[site] = (ta, tb)
        }
        guard let first = weights.values.first else { throw DNDError("\(path): the adapter holds no LoRA weights") }
        let r = first.a.shape[0]
        guard r >= 1, weights.values.allSatisfy({ $0.a.shape[0] == r }) else {
            throw DNDError("\(path): the lora_a tensors have different ranks (\(Set(weights.values.map { $0.a.shape[0] }).sorted())); dnd needs one rank for every module")
        }
        let config = LoRAConfig(r: r, loraAlpha: alpha, targetModules: Array(Set(weights.keys.map(\.module))), baseModel: nil)
        let adapter = LoRAAdapter(config: config, weights: weights, folder: url)
        try adapter.validate(origin: path)
        return adapter
    }
}
