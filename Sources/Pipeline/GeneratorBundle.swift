import Foundation
import Generator
import LoRA
import SafeTensors
import TensorCore

/// What the pipeline keeps next to a trained generator (`pipeline.json`): how to turn its tokens back into a
/// PEFT adapter, and what it was trained on (for reports and status).
public struct PipelineMetadata: Codable, Sendable, Equatable {
    public var useRslora: Bool = false
    /// Datasets of the zoo the generator learned, in order; their mean prompt embeddings are in `datasets.safetensors`.
    public var datasets: [String] = []
    public var holdout: [String] = []
    /// `Zoo.fingerprint` of `checkpoints/` at training time.
    public var zooFingerprint: String = ""
    public var checkpoints: Int = 0
    public var trainedAt: String = ""
    /// Short content identity of the weights (first 16 hex digits of SHA-256 of generator.safetensors).
    public var identity: String = ""
    /// The settings it was trained with (a retraining reuses them).
    public var train: TrainSettings? = nil

    public init() {}

    enum CodingKeys: String, CodingKey {
        case useRslora = "use_rslora", datasets, holdout, zooFingerprint = "zoo_fingerprint", checkpoints
        case trainedAt = "trained_at", identity, train
    }
}

/// A trained generator folder as the pipeline uses it: `generator.safetensors` + `generator.json` (the Generator
/// module's), `pipeline.json` and `datasets.safetensors` (`mean.<dataset>` `[H]`, L2-normalised).
public struct GeneratorBundle: @unchecked Sendable {
    public let folder: URL
    public let generator: HyperConvGenerator
    public let metadata: PipelineMetadata
    /// Mean pooled prompt embedding of each training dataset, `[H]`.
    public let datasetEmbeddings: [(name: String, mean: Tensor)]
    /// What its tokens are relative to and how its conditions are scaled (`normalization.safetensors`; the identity
    /// for a generator of the paper's targets and raw conditions).
    public let normalization: TargetNormalization

    public static let metadataFile = "pipeline.json"
    public static let datasetsFile = "datasets.safetensors"

    public var config: GeneratorConfig { generator.config }

    /// Loads and checks a generator folder; errors name the folder and what is missing.
    public init(folder: URL) throws {
        self.folder = folder
        let fm = FileManager.default
        guard fm.fileExists(atPath: folder.appendingPathComponent(HyperConvGenerator.configFile).path) else {
            throw DNDError("\(folder.path): no trained generator here (no \(HyperConvGenerator.configFile)); run `dnd train` on a checkpoint zoo first")
        }
        generator = try HyperConvGenerator(folder: folder)
        let metaURL = folder.appendingPathComponent(GeneratorBundle.metadataFile)
        guard let data = fm.contents(atPath: metaURL.path) else {
            throw DNDError("\(metaURL.path): missing; the generator folder is incomplete (retrain with `dnd train`)")
        }
        do { metadata = try JSONDecoder().decode(PipelineMetadata.self, from: data) } catch {
            throw DNDError("\(metaURL.path): not valid pipeline metadata (\(error))")
        }
        let file = try SafeTensorsFile(url: folder.appendingPathComponent(GeneratorBundle.datasetsFile))
        datasetEmbeddings = try metadata.datasets.map { name in
            guard file.contains("mean.\(name)") else { throw DNDError("\(file.url.path): no tensor 'mean.\(name)'; retrain with `dnd train`") }
            return (name, try file.tensor("mean.\(name)"))
        }
        let c = generator.config
        guard c.layers > 0, !c.moduleShapes.isEmpty else {
            throw DNDError("\(folder.path): the generator config has no base-model shapes (layers, module_shapes); retrain with `dnd train`")
        }
        let layout = try GeneratorBundle.layout(c, folder: folder)
        normalization = try TargetNormalization.read(folder: folder, config: LoRAConfig(r: c.rank, loraAlpha: c.loraAlpha,
                                                     targetModules: c.moduleShapes.compactMap { LoRAModule(rawValue: $0.name) }, baseModel: c.baseModel),
                                                     sites: layout.sites.map(\.site))
        if let head = normalization.head, head.featureMean.count != head.kind.width(hidden: c.hidden) {
            throw DNDError("\(folder.path): \(TargetNormalization.file) holds a prompt head of \(head.featureMean.count) features, but its feature (\(head.kind.rawValue)) of \(c.hidden)-unit embeddings has \(head.kind.width(hidden: c.hidden)); retrain with `dnd train`")
        }
        if let m = normalization.conditionMean, m.shape != [c.length, c.hidden] {
            throw DNDError("\(folder.path): \(TargetNormalization.file) holds condition statistics of shape \(m.shape) for a generator conditioned on [\(c.length), \(c.hidden)]; retrain with `dnd train`")
        }
    }

    /// The adapter this generator emits for prompt states `hidden [N, L, H]`: the condition as it was trained on,
    /// the decoder, the exact inverse of the tokenization, the zoo's mean added back for residual targets.
    /// `pooled` `[M, H]` are the pooled embeddings of the prompts a prompt head reads (the decoder's or more:
    /// `AdapterGeneration.headPromptIndices`), and `sentences` `[M, H]` their mean sentence embeddings (`PromptHead.sentenceMeans`), which a head of `sentences` reads (`needsSentences`).
    public func generate(hidden: Tensor, pooled: Tensor, sentences: Tensor? = nil) throws -> LoRAAdapter {
        let x = normalization.condition(hidden)
        let tokens = try generator.forward(x.reshaped([1] + x.shape))                 // [1, T, r+2, cw+2]
        let decoded = try WeightTokenizer.detokenize(tokens.reshaped(Array(tokens.shape.dropFirst())), layout: try layout(), config: loraConfig)
        guard let head = normalization.head else { return normalization.adapter(fromTarget: decoded) }
        let h = config.hidden
        guard pooled.rank == 2, pooled.shape[1] == h, pooled.shape[0] >= 1 else {
            throw DNDError("pooled embeddings \(pooled.shape) for a prompt head of \(h)-unit embeddings; encode the prompts with the generator's encoder")
        }
        if head.kind == .sentences {
            guard let sentences else { throw DNDError("this generator's prompt head reads the prompts' sentences; give their mean sentence embeddings") }
            guard sentences.shape == pooled.shape else {
                throw DNDError("mean sentence embeddings \(sentences.shape) for pooled embeddings \(pooled.shape); give one row per prompt")
            }
        }
        return normalization.adapter(fromTarget: decoded, feature: PromptHead.feature(head.kind, pooled: pooled, sentences: sentences))
    }

    /// Whether `generate` needs the prompts' mean sentence embeddings (a prompt head of `sentences`).
    public var needsSentences: Bool { normalization.head?.kind == .sentences }

    /// Whether this generator has a prompt head (which reads `pooled`, and may read more prompts than the decoder).
    public var hasHead: Bool { normalization.head != nil }

    /// The files of this generator folder (the normalization file only when it has one).
    public static func files(in folder: URL) -> [String] {
        let all = [HyperConvGenerator.configFile, HyperConvGenerator.weightsFile, metadataFile, datasetsFile]
        let norm = FileManager.default.fileExists(atPath: folder.appendingPathComponent(TargetNormalization.file).path)
        return all + (norm ? [TargetNormalization.file] : [])
    }

    /// The token layout of the adapters this generator emits, from the base-model shapes in its config.
    public func layout() throws -> TokenLayout { try GeneratorBundle.layout(generator.config, folder: folder) }

    static func layout(_ c: GeneratorConfig, folder: URL) throws -> TokenLayout {
        var sites: [(LoRASite, in: Int, out: Int)] = []
        for l in 0..<c.layers {
            for m in c.moduleShapes {
                guard let module = LoRAModule(rawValue: m.name) else {
                    throw DNDError("\(folder.path): generator.json names unknown module '\(m.name)'")
                }
                sites.append((LoRASite(layer: l, module: module), m.inFeatures, m.outFeatures))
            }
        }
        let layout = try TokenLayout(rank: c.rank, chunkWidth: c.chunkWidth, sites: sites)
        guard layout.count == c.tokenCount else {
            throw DNDError("\(folder.path): the base-model shapes give \(layout.count) weight tokens but the chain ends at \(c.tokenCount)")
        }
        return layout
    }

    /// The PEFT config of generated adapters.
    public var loraConfig: LoRAConfig {
        let c = generator.config
        return LoRAConfig(r: c.rank, loraAlpha: c.loraAlpha, targetModules: c.moduleShapes.compactMap { LoRAModule(rawValue: $0.name) },
                          useRslora: metadata.useRslora, baseModel: c.baseModel)
    }

    /// Writes a complete bundle into `folder` (which must not exist yet): generator files, metadata, dataset means.
    public static func write(generator: HyperConvGenerator, metadata: PipelineMetadata, datasetEmbeddings: [String: Tensor],
                             normalization: TargetNormalization = TargetNormalization(), to folder: URL) throws {
        try generator.save(to: folder)
        try normalization.write(to: folder)
        var meta = metadata
        let weights = try Data(contentsOf: folder.appendingPathComponent(HyperConvGenerator.weightsFile), options: .alwaysMapped)
        meta.identity = "gen-" + String(Hashing.sha256Hex(weights).prefix(16))
        try SafeTensorsWriter.write(Dictionary(uniqueKeysWithValues: datasetEmbeddings.map { ("mean.\($0.key)", $0.value) }),
                                    to: folder.appendingPathComponent(datasetsFile))
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(meta), to: folder.appendingPathComponent(metadataFile))
    }
}
