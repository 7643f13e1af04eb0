import Foundation
import SafeTensors
import TensorCore

/// The linear modules a LoRA can target in a Qwen2/Llama block, in DnD token order.
public enum LoRAModule: String, CaseIterable, Codable, Sendable, Comparable {
    case q_proj, k_proj, v_proj, o_proj, up_proj, gate_proj, down_proj

    /// The submodule that owns it in Hugging Face key names.
    public var parent: String {
        switch self {
        case .q_proj, .k_proj, .v_proj, .o_proj: "self_attn"
        case .up_proj, .gate_proj, .down_proj: "mlp"
        }
    }

    /// Position in the weight-tokenization order of DESIGN.md (up before gate).
    public var order: Int { LoRAModule.allCases.firstIndex(of: self)! }
    public static func < (a: LoRAModule, b: LoRAModule) -> Bool { a.order < b.order }

    /// Parses a `--targets` list: `all`, or comma-separated module names.
    public static func parseList(_ s: String) throws -> [LoRAModule] {
        if s == "all" { return allCases }
        let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !parts.isEmpty else { throw DNDError("empty target module list; use 'all' or names like q_proj,v_proj") }
        return try parts.map {
            guard let m = LoRAModule(rawValue: $0) else {
                throw DNDError("unknown target module '\($0)'; known: \(allCases.map(\.rawValue).joined(separator: ", ")) or 'all'")
            }
            return m
        }.sorted()
    }
}

/// One targeted linear layer: `layer` index and module.
public struct LoRASite: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var layer: Int
    public var module: LoRAModule
    public init(layer: Int, module: LoRAModule) { self.layer = layer; self.module = module }
    public static func < (a: LoRASite, b: LoRASite) -> Bool { (a.layer, a.module.order) < (b.layer, b.module.order) }
    public var description: String { "layers.\(layer).\(module.parent).\(module.rawValue)" }

    /// PEFT key of `lora_A` (`"A"`) or `lora_B` (`"B"`).
    public func key(_ matrix: String) -> String {
        "base_model.model.model.layers.\(layer).\(module.parent).\(module.rawValue).lora_\(matrix).weight"
    }

    /// Parses a PEFT key; nil when it is not a `lora_A`/`lora_B` weight of a known module.
    public static func parse(key: String) -> (site: LoRASite, matrix: String)? {
        // base_model.model.model.layers.<l>.<parent>.<module>.lora_<A|B>.weight
        let p = key.split(separator: ".")
        guard p.count == 9, p[0] == "base_model", p[1] == "model", p[2] == "model", p[3] == "layers",
              let l = Int(p[4]), l >= 0, let m = LoRAModule(rawValue: String(p[6])), p[5] == m.parent,
              p[7] == "lora_A" || p[7] == "lora_B", p[8] == "weight" else { return nil }
        return (LoRASite(layer: l, module: m), p[7] == "lora_A" ? "A" : "B")
    }
}

/// `adapter_config.json` of a PEFT LoRA adapter: the keys PEFT, vLLM and llama.cpp's converter read.
public struct LoRAConfig: Codable, Sendable, Equatable {
    public var peftType: String = "LORA"
    public var r: Int
    public var loraAlpha: Float
    public var targetModules: [String]
    public var useRslora: Bool = false
    public var baseModelNameOrPath: String?
    public var taskType: String? = "CAUSAL_LM"
    public var bias: String = "none"
    public var loraDropout: Float = 0
    public var fanInFanOut: Bool = false
    public var inferenceMode: Bool = true
    public var modulesToSave: [String]? = nil

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", r, loraAlpha = "lora_alpha", targetModules = "target_modules"
        case useRslora = "use_rslora", baseModelNameOrPath = "base_model_name_or_path", taskType = "task_type"
        case bias, loraDropout = "lora_dropout", fanInFanOut = "fan_in_fan_out", inferenceMode = "inference_mode"
        case modulesToSave = "modules_to_save"
    }

    public init(r: Int, loraAlpha: Float, targetModules: [LoRAModule], useRslora: Bool = false, baseModel: String?) {
        self.r = r; self.loraAlpha = loraAlpha; self.targetModules = targetModules.sorted().map(\.rawValue)
        self.useRslora = useRslora; self.baseModelNameOrPath = baseModel
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        peftType = try c.decodeIfPresent(String.self, forKey: .peftType) ?? "LORA"
        r = try c.decode(Int.self, forKey: .r)
        loraAlpha = try c.decodeIfPresent(Float.self, forKey: .loraAlpha) ?? Float(r)
        // PEFT allows a single regex string here; dnd needs the explicit list.
        if let list = try? c.decode([String].self, forKey: .targetModules) { targetModules = list }
        else if let one = try? c.decode(String.self, forKey: .targetModules) { targetModules = [one] }
        else { targetModules = [] }
        useRslora = try c.decodeIfPresent(Bool.self, forKey: .useRslora) ?? false
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
        taskType = try c.decodeIfPresent(String.self, forKey: .taskType)
        bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
        loraDropout = try c.decodeIfPresent(Float.self, forKey: .loraDropout) ?? 0
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        inferenceMode = try c.decodeIfPresent(Bool.self, forKey: .inferenceMode) ?? true
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
    }

    public func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode(peftType, forKey: .peftType); try c.encode(r, forKey: .r)
        // Whole-number alphas are written as integers, as PEFT writes them.
        if loraAlpha == loraAlpha.rounded() { try c.encode(Int(loraAlpha), forKey: .loraAlpha) } else { try c.encode(loraAlpha, forKey: .loraAlpha) }
        try c.encode(targetModules, forKey: .targetModules); try c.encode(useRslora, forKey: .useRslora)
        try c.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath); try c.encode(taskType, forKey: .taskType)
        try c.encode(bias, forKey: .bias); try c.encode(loraDropout, forKey: .loraDropout)
        try c.encode(fanInFanOut, forKey: .fanInFanOut); try c.encode(inferenceMode, forKey: .inferenceMode)
        try c.encode(modulesToSave, forKey: .modulesToSave)
    }

    /// The factor on `(x Aᵀ) Bᵀ`: `alpha / r`, or `alpha / √r` with rsLoRA.
    public var scaling: Float { useRslora ? loraAlpha / Float(r).squareRoot() : loraAlpha / Float(r) }
}

/// A PEFT LoRA adapter in memory: config plus `A [r, in]` and `B [out, r]` per site.
public struct LoRAAdapter: Sendable {
    public var config: LoRAConfig
    public var weights: [LoRASite: (a: Tensor, b: Tensor)]
    /// The folder (or adapter.gguf) it was read from (nil when built in memory); errors name it.
    public var folder: URL?

    public init(config: LoRAConfig, weights: [LoRASite: (a: Tensor, b: Tensor)], folder: URL? = nil) {
        self.config = config; self.weights = weights; self.folder = folder
    }

    /// How errors name this adapter: its folder, or "adapter" when it was built in memory.
    public var origin: String { folder?.path ?? "adapter" }

    /// Sites in token order (layer, then module order).
    public var sites: [LoRASite] { weights.keys.sorted() }
    public var rank: Int { config.r }
    public var scaling: Float { config.scaling }
    public var layerCount: Int { (weights.keys.map(\.layer).max() ?? -1) + 1 }
    public var modules: [LoRAModule] { Array(Set(weights.keys.map(\.module))).sorted() }

    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    /// Reads and validates a PEFT adapter folder.
    public init(folder: URL) throws {
        let path = folder.path
        let cfgURL = folder.appendingPathComponent(LoRAAdapter.configFile)
        guard let cfgData = FileManager.default.contents(atPath: cfgURL.path) else {
            throw DNDError("\(path): no \(LoRAAdapter.configFile); a PEFT LoRA folder holds adapter_config.json and adapter_model.safetensors")
        }
        let config: LoRAConfig
        do { config = try JSONDecoder().decode(LoRAConfig.self, from: cfgData) } catch {
            throw DNDError("\(cfgURL.path): not a valid adapter config (\(LoRAAdapter.describe(error)))")
        }
        guard config.peftType.uppercased() == "LORA" else { throw DNDError("\(cfgURL.path): peft_type is \(config.peftType), dnd reads LORA adapters only") }
        guard config.r >= 1 && config.r <= 1024 else { throw DNDError("\(cfgURL.path): r = \(config.r) is not a usable rank") }
        try LoRAAdapter.refuseVariants(cfgData, path: cfgURL.path)
        let file = try SafeTensorsFile(url: folder.appendingPathComponent(LoRAAdapter.weightsFile))
        var a: [LoRASite: Tensor] = [:], b: [LoRASite: Tensor] = [:]
        for info in file.tensors {
            guard let (site, matrix) = LoRASite.parse(key: info.name) else {
                throw DNDError("\(path): tensor '\(info.name)' is not a LoRA weight dnd understands (expected base_model.model.model.layers.<l>.<self_attn|mlp>.<module>.lora_<A|B>.weight); remove modules_to_save, DoRA or embedding adapters")
            }
            let t = try file.tensor(info.name)
            if matrix == "A" { a[site] = t } else { b[site] = t }
        }
        var weights: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for site in Set(a.keys).union(b.keys).sorted() {
            guard let ta = a[site] else { throw DNDError("\(path): \(site.key("A")) is missing (its lora_B is present)") }
            guard let tb = b[site] else { throw DNDError("\(path): \(site.key("B")) is missing (its lora_A is present)") }
            weights[site] = (ta, tb)
        }
        guard !weights.isEmpty else { throw DNDError("\(path): the adapter holds no LoRA weights") }
        self.init(config: config, weights: weights, folder: folder)
        try validate(origin: path)
    }

    /// PEFT options that change what the A/B tensors mean: per-module ranks or alphas and DoRA. dnd needs
    /// one rank and one scaling for the whole adapter, so these are refused rather than silently misread.
    static func refuseVariants(_ cfgData: Data, path: String) throws {
        guard let raw = try? JSONSerialization.jsonObject(with: cfgData) as? [String: Any] else { return }
        if let p = raw["rank_pattern"] as? [String: Any], !p.isEmpty {
            throw DNDError("\(path): rank_pattern \(p.keys.sorted()) gives modules their own ranks; dnd needs one rank r for every module, retrain without rank_pattern")
        }
        if let p = raw["alpha_pattern"] as? [String: Any], !p.isEmpty {
            throw DNDError("\(path): alpha_pattern \(p.keys.sorted()) gives modules their own lora_alpha; dnd needs one lora_alpha, retrain without alpha_pattern")
        }
        if raw["use_dora"] as? Bool == true {
            throw DNDError("\(path): use_dora is true; DoRA adapters carry magnitude vectors dnd does not generate, use plain LoRA")
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(k, _): "missing key '\(k.stringValue)'"
        case let DecodingError.typeMismatch(_, c): "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: "invalid JSON"
        default: "\(error)"
        }
    }

    /// Checks ranks, shapes, finiteness and that every module is listed in `target_modules`.
    public func validate(origin: String) throws {
        let r = config.r
        for (site, w) in weights {
            guard w.a.rank == 2, w.a.shape[0] == r else {
                throw DNDError("\(origin): \(site.key("A")) has shape \(w.a.shape) but the config's rank is \(r) (expected [\(r), in])")
            }
            guard w.b.rank == 2, w.b.shape[1] == r else {
                throw DNDError("\(origin): \(site.key("B")) has shape \(w.b.shape) but the config's rank is \(r) (expected [out, \(r)])")
            }
            if w.a.hasNonFinite { throw DNDError("\(origin): \(site.key("A")) contains NaN or infinite values") }
            if w.b.hasNonFinite { throw DNDError("\(origin): \(site.key("B")) contains NaN or infinite values") }
            if !config.targetModules.isEmpty && !config.targetModules.contains(site.module.rawValue) {
                throw DNDError("\(origin): \(site) has weights but '\(site.module.rawValue)' is not in target_modules \(config.targetModules)")
            }
        }
    }

    /// Writes `adapter_config.json` and `adapter_model.safetensors` into `folder` (created if needed), each atomically.
    /// Weights are F32 unless `dtype` is `.bf16`.
    public func write(to folder: URL, dtype: DType = .f32) throws {
        try validate(origin: folder.path)
        guard config.r <= 64 else { throw DNDError("\(folder.path): rank \(config.r) is above 64, which vLLM refuses") }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:]
        for (site, w) in weights { tensors[site.key("A")] = w.a; tensors[site.key("B")] = w.b }
        var cfg = config
        cfg.targetModules = modules.map(\.rawValue)
        cfg.modulesToSave = nil
        try SafeTensorsWriter.write(tensors, to: folder.appendingPathComponent(LoRAAdapter.weightsFile), dtype: dtype,
                                    metadata: ["format": "pt"])
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(cfg), to: folder.appendingPathComponent(LoRAAdapter.configFile))
    }
}
