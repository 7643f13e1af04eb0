import Foundation
import Generator
import LoRA
import TensorCore

/// What a generator training run on a zoo is made of before its first step: the token layout, the prompts encoded
/// per dataset, the chain with its provenance and the optimizer options. `dnd train` (`GeneratorTraining.run`) and
/// `dnd export-training` (`TrainingExport`) both build it here, so a run and an export of the same zoo and settings
/// agree on every one of these (and so on the initial weights and the sample order, which follow from them).
public struct TrainingPlan {
    public let settings: TrainSettings
    /// Weight-token layout of every checkpoint of the zoo.
    public let layout: TokenLayout
    /// The chain to train and its provenance (encoder, target modules, base-model shapes, datasets trained on).
    public let config: GeneratorConfig
    public let options: HyperConvTrainerOptions
    /// Per dataset, in zoo order: the prompts encoded for training (all of them, or a seeded sample of
    /// `max_prompts_per_dataset`, in file order).
    public let prompts: [[String]]

    /// The plan for `zoo` with an encoder of identity `encoderIdentity` and hidden size `hidden`.
    public init(zoo: Zoo, encoderIdentity: String, hidden: Int, settings: TrainSettings) throws {
        try settings.validate()
        self.settings = settings
        let cw = settings.chunkWidth ?? GeneratorTraining.defaultChunkWidth(zoo.reference)
        layout = try TokenLayout(adapter: zoo.reference, chunkWidth: cw)
        prompts = TrainingPlan.trainingPrompts(zoo, settings: settings)

        let budget: GeneratorBudget = settings.budgetParameters.map { .parameters($0) } ?? .automatic
        var config = try GeneratorConfig.cpuDefault(prompts: settings.prompts, length: settings.length, hidden: hidden,
                                                    tokenCount: layout.count, rank: layout.rank, chunkWidth: cw, budget: budget,
                                                    kernel: settings.kernel, blocks: settings.blocks)
        let ref = zoo.reference
        config.encoderIdentity = encoderIdentity
        config.targetModules = ref.modules.map(\.rawValue)
        config.baseModel = ref.config.baseModelNameOrPath
        config.layers = ref.layerCount
        config.moduleShapes = ref.modules.map { m in
            let w = ref.weights[LoRASite(layer: 0, module: m)] ?? ref.weights.first { $0.key.module == m }!.value
            return GeneratorConfig.ModuleShape(name: m.rawValue, inFeatures: w.a.shape[1], outFeatures: w.b.shape[0])
        }
        config.loraAlpha = ref.config.loraAlpha
        config.trainedOn = zoo.datasets.map(\.name)
        try config.validate()
        self.config = config

        var options = HyperConvTrainerOptions()
        options.steps = settings.steps
        options.batchSize = settings.batchSize
        options.learningRate = settings.learningRate
        options.warmupSteps = min(50, settings.steps / 10)
        options.seed = settings.seed
        options.checkpointEvery = settings.checkpointEvery
        if let n = settings.conditionNoise { options.conditionNoise = n }
        if let n = settings.targetNoise { options.targetNoise = n }
        try options.validate()
        self.options = options
    }

    /// Per dataset, the prompts encoded for training: one seeded stream over the datasets in zoo order.
    static func trainingPrompts(_ zoo: Zoo, settings: TrainSettings) -> [[String]] {
        var rng = SeededRNG(seed: settings.seed ^ 0x5EED)
        return zoo.datasets.map { d in
            let prompts = d.prompts.map(\.prompt)
            guard prompts.count > settings.maxPromptsPerDataset else { return prompts }
            return rng.sample(settings.maxPromptsPerDataset, from: prompts.count).sorted().map { prompts[$0] }
        }
    }

    /// The generator's weights before the first step.
    public func initialGenerator() -> HyperConvGenerator { HyperConvGenerator(config: config, seed: settings.seed) }

    /// The pipeline metadata of a generator trained by this plan (identity and time are filled when it is written).
    public func metadata(zoo: Zoo, holdout: [String], trainedAt: String) -> PipelineMetadata {
        var meta = PipelineMetadata()
        meta.useRslora = zoo.reference.config.useRslora
        meta.datasets = zoo.datasets.map(\.name)
        meta.holdout = holdout
        meta.zooFingerprint = Zoo.fingerprint(zoo.root)
        meta.checkpoints = zoo.datasets.reduce(0) { $0 + $1.adapters.count }
        meta.trainedAt = trainedAt
        meta.train = settings
        return meta
    }
}
