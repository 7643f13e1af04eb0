import Foundation
import TensorCore

/// Everything that defines a generator besides its weights; saved as `generator.json` next to
/// `generator.safetensors`. Keys are snake_case; only `chain` is required when decoding.
public struct GeneratorConfig: Codable, Equatable, Sendable {
    /// The newest `format` this build reads and writes.
    public static let currentFormat = 1

    /// File format version.
    public var format: Int = GeneratorConfig.currentFormat
    /// The `[N, H, W]` shapes along the decoder: block `i` maps `chain[i]` to `chain[i + 1]`.
    public var chain: [[Int]]
    /// Odd kernel size of every convolution.
    public var kernel: Int = 3

    /// Weight tokens `T` of the output `[T, r+2, cw+2]`.
    public var tokenCount: Int
    /// LoRA rank `r`.
    public var rank: Int
    /// Chunk width `cw` of the weight tokenization.
    public var chunkWidth: Int

    /// Prompts per condition `N`.
    public var prompts: Int
    /// Tokens per prompt `L` (the encoder's padded length).
    public var length: Int
    /// Encoder hidden size `H`.
    public var hidden: Int
    /// Which frozen encoder made the conditions (a model name or a content hash); conditions from another encoder are meaningless.
    public var encoderIdentity: String = ""

    /// LoRA target modules, in weight-tokenization order (q_proj, k_proj, v_proj, o_proj, up_proj, gate_proj, down_proj).
    public var targetModules: [String] = []
    /// `base_model_name_or_path` of the adapters this generator emits.
    public var baseModel: String? = nil
    /// Transformer layers of the base model (0 when unknown).
    public var layers: Int = 0
    /// Input/output features of every target module (the same in every layer).
    public var moduleShapes: [ModuleShape] = []
    /// `lora_alpha` written into generated adapters (default `2 · rank`).
    public var loraAlpha: Float

    /// Datasets the generator was trained on (free form, filled by the pipeline).
    public var trainedOn: [String] = []
    /// How the generator was trained (filled by the pipeline after training).
    public var training: TrainingSummary? = nil

    /// One LoRA target module's linear shape.
    public struct ModuleShape: Codable, Equatable, Sendable {
        public var name: String
        public var inFeatures: Int
        public var outFeatures: Int

        public init(name: String, inFeatures: Int, outFeatures: Int) {
            self.name = name; self.inFeatures = inFeatures; self.outFeatures = outFeatures
        }

        /// Weight tokens of one layer's module: `lora_A [r, in]` and `lora_Bᵀ [r, out]` cut into chunks of `cw`.
        public func tokens(chunkWidth cw: Int) -> Int { (inFeatures + cw - 1) / cw + (outFeatures + cw - 1) / cw }

        enum CodingKeys: String, CodingKey { case name, inFeatures = "in_features", outFeatures = "out_features" }
    }

    enum CodingKeys: String, CodingKey {
        case format, chain, kernel
        case tokenCount = "token_count", rank, chunkWidth = "chunk_width"
        case prompts, length, hidden, encoderIdentity = "encoder_identity"
        case targetModules = "target_modules", baseModel = "base_model", layers, moduleShapes = "module_shapes"
        case loraAlpha = "lora_alpha", trainedOn = "trained_on", training
    }

    /// A config for `chain`; the condition and token geometry are read off its first and last shapes.
    public init(chain: [[Int]], kernel: Int, encoderIdentity: String = "", targetModules: [String] = [],
                baseModel: String? = nil, layers: Int = 0, moduleShapes: [ModuleShape] = [], loraAlpha: Float? = nil) throws {
        guard let first = chain.first, let last = chain.last, first.count == 3, last.count == 3 else {
            throw DNDError("generator config: chain needs at least two [N, H, W] shapes, got \(chain)")
        }
        self.chain = chain
        self.kernel = kernel
        (prompts, length, hidden) = (first[0], first[1], first[2])
        (tokenCount, rank, chunkWidth) = (last[0], last[1] - 2, last[2] - 2)
        self.encoderIdentity = encoderIdentity
        self.targetModules = targetModules
        self.baseModel = baseModel
        self.layers = layers
        self.moduleShapes = moduleShapes
        self.loraAlpha = loraAlpha ?? Float(2 * (last[1] - 2))
        try validate()
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decodeIfPresent(Int.self, forKey: .format) ?? GeneratorConfig.currentFormat
        chain = try c.decode([[Int]].self, forKey: .chain)
        guard let first = chain.first, let last = chain.last, first.count == 3, last.count == 3 else {
            throw DNDError("generator config: \"chain\" needs at least two [N, H, W] shapes, got \(chain)")
        }
        kernel = try c.decodeIfPresent(Int.self, forKey: .kernel) ?? 3
        tokenCount = try c.decodeIfPresent(Int.self, forKey: .tokenCount) ?? last[0]
        rank = try c.decodeIfPresent(Int.self, forKey: .rank) ?? last[1] - 2
        chunkWidth = try c.decodeIfPresent(Int.self, forKey: .chunkWidth) ?? last[2] - 2
        prompts = try c.decodeIfPresent(Int.self, forKey: .prompts) ?? first[0]
        length = try c.decodeIfPresent(Int.self, forKey: .length) ?? first[1]
        hidden = try c.decodeIfPresent(Int.self, forKey: .hidden) ?? first[2]
        encoderIdentity = try c.decodeIfPresent(String.self, forKey: .encoderIdentity) ?? ""
        targetModules = try c.decodeIfPresent([String].self, forKey: .targetModules) ?? []
        baseModel = try c.decodeIfPresent(String.self, forKey: .baseModel)
        layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? 0
        moduleShapes = try c.decodeIfPresent([ModuleShape].self, forKey: .moduleShapes) ?? []
        loraAlpha = try c.decodeIfPresent(Float.self, forKey: .loraAlpha) ?? Float(2 * rank)
        trainedOn = try c.decodeIfPresent([String].self, forKey: .trainedOn) ?? []
        training = try c.decodeIfPresent(TrainingSummary.self, forKey: .training)
        try validate()
    }

    /// Checks that the fields agree; the message says which field is wrong and why.
    public func validate() throws {
        func bad(_ what: String) -> DNDError { DNDError("generator config: \(what)") }
        guard format >= 1 && format <= GeneratorConfig.currentFormat else {
            throw bad("format \(format) is not supported by this dnd (reads 1...\(GeneratorConfig.currentFormat)); upgrade dnd or retrain the generator")
        }
        guard chain.count >= 2 else { throw bad("chain needs at least two [N, H, W] shapes (one block), got \(chain.count)") }
        for (i, s) in chain.enumerated() where s.count != 3 || s.contains(where: { $0 < 1 }) {
            throw bad("chain[\(i)] = \(s) is not three positive sizes [N, H, W]")
        }
        guard kernel >= 1 && kernel % 2 == 1 else { throw bad("kernel \(kernel) must be odd and positive (3, 5, 7, 9…)") }
        guard rank >= 1 && chunkWidth >= 1 && tokenCount >= 1 else {
            throw bad("token geometry T=\(tokenCount), r=\(rank), cw=\(chunkWidth) must be positive (the last shape is [T, r+2, cw+2])")
        }
        guard chain.last! == tokenShape else {
            throw bad("chain ends at \(chain.last!) but the token geometry T=\(tokenCount), r=\(rank), cw=\(chunkWidth) needs \(tokenShape)")
        }
        guard chain.first! == conditionShape else {
            throw bad("chain starts at \(chain.first!) but the condition is N=\(prompts) prompts × L=\(length) tokens × H=\(hidden) hidden")
        }
        guard loraAlpha.isFinite && loraAlpha > 0 else { throw bad("lora_alpha \(loraAlpha) must be a positive number") }
        for m in moduleShapes where m.inFeatures < 1 || m.outFeatures < 1 {
            throw bad("module_shapes entry \(m.name) has non-positive features \(m.inFeatures)→\(m.outFeatures)")
        }
        if layers > 0 && !moduleShapes.isEmpty {
            let perLayer = moduleShapes.reduce(0) { $0 + $1.tokens(chunkWidth: chunkWidth) }
            guard layers * perLayer == tokenCount else {
                throw bad("token_count \(tokenCount) does not match the base model: \(layers) layers × \(perLayer) tokens per layer (chunk width \(chunkWidth)) = \(layers * perLayer)")
            }
        }
    }

    /// `[T, r+2, cw+2]`, one sample of the generator's output.
    public var tokenShape: [Int] { [tokenCount, rank + 2, chunkWidth + 2] }
    /// `[N, L, H]`, one sample of the generator's input.
    public var conditionShape: [Int] { [prompts, length, hidden] }

    /// The decoder's blocks, in order.
    public var blocks: [HyperConvBlock] {
        (0..<(chain.count - 1)).map { HyperConvBlock(input: chain[$0], output: chain[$0 + 1], kernel: kernel) }
    }

    /// Number of parameters of the whole chain.
    public var parameterCount: Int { blocks.reduce(0) { $0 + $1.parameterCount } }
    /// FLOPs of one sample's forward pass (2 × multiply-adds of the convolutions); backward costs twice that.
    public var forwardFLOPs: Double { blocks.reduce(0) { $0 + $1.forwardFLOPs } }

    /// Weight tokens for `layers` layers of `modules` cut into chunks of `chunkWidth` (DESIGN "Weight tokenization").
    public static func tokenCount(layers: Int, modules: [ModuleShape], chunkWidth: Int) -> Int {
        layers * modules.reduce(0) { $0 + $1.tokens(chunkWidth: chunkWidth) }
    }

    /// Reads and validates a `generator.json`.
    public static func load(from url: URL) throws -> GeneratorConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DNDError("\(url.path): cannot read the generator config (\(error.localizedDescription)); is this a generator folder?")
        }
        do { return try JSONDecoder().decode(GeneratorConfig.self, from: data) } catch let e as DNDError {
            throw DNDError("\(url.path): \(e.message)")
        } catch let e as DecodingError {
            throw DNDError("\(url.path): invalid generator config (\(GeneratorConfig.describe(e))); fix the file or re-save the generator")
        }
    }

    /// Pretty JSON with sorted keys.
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(self)
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [CodingKey]) -> String { c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case let .keyNotFound(k, ctx): return "missing key \"\(path(ctx.codingPath + [k]))\""
        case let .typeMismatch(_, ctx): return "wrong type at \"\(path(ctx.codingPath))\": \(ctx.debugDescription)"
        case let .valueNotFound(_, ctx): return "null at \"\(path(ctx.codingPath))\""
        case let .dataCorrupted(ctx): return ctx.codingPath.isEmpty ? "not valid JSON" : "bad value at \"\(path(ctx.codingPath))\": \(ctx.debugDescription)"
        @unknown default: return "\(e)"
        }
    }
}
