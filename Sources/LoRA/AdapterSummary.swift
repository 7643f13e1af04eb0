import Foundation
import SafeTensors
import TensorCore

/// What `dnd inspect DIR` says about a PEFT adapter: config, sites and per-module Frobenius norms.
public struct AdapterSummary: Codable, Sendable {
    /// Norms of one module over all its layers: `sqrt(Σ_layers ‖·‖²_F)`.
    public struct ModuleNorms: Codable, Sendable {
        public var module: LoRAModule
        public var layers: [Int]
        /// `in` and `out` of the module's first layer (`lora_A` `[r, in]`, `lora_B` `[out, r]`).
        public var inFeatures: Int
        public var outFeatures: Int
        public var normA: Double
        public var normB: Double
        /// `‖scaling · B · A‖_F`, the change the adapter makes to the base weights.
        public var normDelta: Double

        enum CodingKeys: String, CodingKey {
            case module, layers, inFeatures = "in_features", outFeatures = "out_features"
            case normA = "norm_a", normB = "norm_b", normDelta = "norm_delta"
        }
    }

    public var folder: String?
    public var baseModel: String?
    public var rank: Int
    public var loraAlpha: Float
    public var useRslora: Bool
    public var scaling: Float
    /// Storage types of the tensors in `adapter_model.safetensors` (empty for an adapter built in memory).
    public var dtypes: [String]
    public var layers: [Int]
    public var siteCount: Int
    public var parameterCount: Int
    public var modules: [ModuleNorms]

    enum CodingKeys: String, CodingKey {
        case folder, baseModel = "base_model", rank, loraAlpha = "lora_alpha", useRslora = "use_rslora", scaling, dtypes
        case layers, siteCount = "site_count", parameterCount = "parameter_count", modules
    }

    /// Summarises an adapter in memory.
    public init(adapter: LoRAAdapter, dtypes: [String] = []) {
        folder = adapter.folder?.path
        baseModel = adapter.config.baseModelNameOrPath
        rank = adapter.rank; loraAlpha = adapter.config.loraAlpha; useRslora = adapter.config.useRslora
        scaling = adapter.scaling
        self.dtypes = dtypes
        layers = Array(Set(adapter.sites.map(\.layer))).sorted()
        siteCount = adapter.weights.count
        parameterCount = adapter.weights.values.reduce(0) { $0 + $1.a.count + $1.b.count }
        var byModule: [LoRAModule: ModuleNorms] = [:]
        for s in adapter.sites {
            let w = adapter.weights[s]!
            let n = AdapterSummary.squaredNorms(a: w.a, b: w.b)
            var m = byModule[s.module] ?? ModuleNorms(module: s.module, layers: [], inFeatures: w.a.shape[1], outFeatures: w.b.shape[0], normA: 0, normB: 0, normDelta: 0)
            m.layers.append(s.layer)
            m.normA += n.a; m.normB += n.b
            m.normDelta += Double(scaling) * Double(scaling) * n.ba
            byModule[s.module] = m
        }
        modules = byModule.keys.sorted().map { k in
            var m = byModule[k]!
            m.normA = m.normA.squareRoot(); m.normB = m.normB.squareRoot(); m.normDelta = m.normDelta.squareRoot()
            return m
        }
    }

    /// Reads and summarises a PEFT adapter folder.
    public init(folder: URL) throws {
        let adapter = try LoRAAdapter(folder: folder)
        let file = try SafeTensorsFile(url: folder.appendingPathComponent(LoRAAdapter.weightsFile))
        self.init(adapter: adapter, dtypes: Array(Set(file.tensors.map(\.dtype.rawValue))).sorted())
    }

    /// `‖A‖²_F`, `‖B‖²_F` and `‖B·A‖²_F` for `A` `[r, in]`, `B` `[out, r]`, through the r×r Gram matrices
    /// `A·Aᵀ` and `Bᵀ·B`: `‖BA‖² = tr(Aᵀ Bᵀ B A) = Σ_ij (AAᵀ)_ij (BᵀB)_ij`, so `[out, in]` is never formed.
    public static func squaredNorms(a: Tensor, b: Tensor) -> (a: Double, b: Double, ba: Double) {
        let r = a.shape[0], inF = a.shape[1], outF = b.shape[0]
        precondition(b.shape[1] == r, "lora_B \(b.shape) does not match lora_A \(a.shape)")
        var ga = [Float](repeating: 0, count: r * r) // [r, r] = A·Aᵀ
        var gb = [Float](repeating: 0, count: r * r) // [r, r] = Bᵀ·B
        ga.withUnsafeMutableBufferPointer { g in
            BLAS.gemm(transB: true, m: r, n: r, k: inF, a: a.pointer, lda: inF, b: a.pointer, ldb: inF, c: g.baseAddress!, ldc: r)
        }
        gb.withUnsafeMutableBufferPointer { g in
            BLAS.gemm(transA: true, m: r, n: r, k: outF, a: b.pointer, lda: r, b: b.pointer, ldb: r, c: g.baseAddress!, ldc: r)
        }
        var na = 0.0, nb = 0.0, nba = 0.0
        for i in 0..<r { na += Double(ga[i * r + i]); nb += Double(gb[i * r + i]) }
        for e in 0..<(r * r) { nba += Double(ga[e]) * Double(gb[e]) }
        // Rounding can push a (near-)zero product slightly negative.
        return (max(0, na), max(0, nb), max(0, nba))
    }

    /// The human-readable report of `dnd inspect DIR`.
    public var text: String {
        var out = "\(folder ?? "adapter"): PEFT LoRA adapter" + (baseModel.map { " for \($0)" } ?? "") + "\n"
        let rule = useRslora ? "lora_alpha/sqrt(r), rsLoRA" : "lora_alpha/r"
        out += "rank \(rank), lora_alpha \(AdapterSummary.format(loraAlpha)), scaling \(AdapterSummary.format(scaling)) (\(rule))"
        out += dtypes.isEmpty ? "\n" : ", dtype \(dtypes.joined(separator: ", "))\n"
        let layerText = layers.count == 1 ? "layer \(layers[0])" : "layers \(layers.first!)…\(layers.last!) (\(layers.count))"
        out += "\(layerText), \(modules.count) modules, \(siteCount) sites, \(parameterCount) parameters\n"
        out += "module     layers  in → out       ‖A‖_F        ‖B‖_F        ‖ΔW‖_F (scaling·B·A)\n"
        for m in modules {
            out += m.module.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(m.layers.count).padding(toLength: 8, withPad: " ", startingAt: 0)
                + "\(m.inFeatures) → \(m.outFeatures)".padding(toLength: 15, withPad: " ", startingAt: 0)
                + String(format: "%-12.6g %-12.6g %.6g\n", m.normA, m.normB, m.normDelta)
        }
        out += "norms are sqrt(sum over layers of the squared Frobenius norms)\n"
        return out
    }

    static func format(_ x: Float) -> String { x == x.rounded() && abs(x) < 1e9 ? String(Int(x)) : String(format: "%.6g", x) }
}
