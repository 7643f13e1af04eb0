import ArgumentParser
import Pipeline

extension TargetNormalization.Targets: ExpressibleByArgument {}
extension TargetNormalization.Condition: ExpressibleByArgument {}
extension TargetNormalization.Head: ExpressibleByArgument {}
extension PromptHead.Feature: ExpressibleByArgument {}

/// The generator-training settings shared by `dnd train` and `dnd export-training` (one help text each).
struct TrainSettingsOptions: ParsableArguments {
    @Option(name: .long, help: "Optimizer steps.") var steps: Int?
    @Option(name: .long, help: "Prompts per condition (N).") var prompts: Int?
    @Option(name: .long, help: "Tokens per prompt (L).") var length: Int?
    @Option(name: .long, help: "Weight-token chunk width (default: the narrowest module input, at most 128).") var chunkWidth: Int?
    @Option(name: .long, help: "Samples per step.") var batch: Int?
    @Option(name: .long, help: "Peak learning rate.") var lr: Float?
    @Option(name: .long, help: "Generator parameter budget (default: automatic).") var budgetParameters: Int?
    @Option(name: .long, help: "Odd kernel size of every convolution of the chain (default 3).") var kernel: Int?
    @Option(name: .long, help: "Blocks of the chain (default 4).") var blocks: Int?
    @Option(name: .long, help: "Seed of every random choice.") var seed: UInt64?
    @Option(name: .long, help: "Std of the Gaussian noise added to conditions (default 1e-4).") var conditionNoise: Float?
    @Option(name: .long, help: "Std of the Gaussian noise added to targets (default 1e-5).") var targetNoise: Float?
    @Option(name: .long, help: "What the generator predicts: residual (checkpoint minus the zoo's mean adapter, the default) or checkpoints (the paper).") var targets: TargetNormalization.Targets?
    @Option(name: .long, help: "What it is conditioned on: standardized prompt states (the default) or raw (the paper).") var condition: TargetNormalization.Condition?
    @Option(name: .long, help: "A linear prompt head next to the decoder: ridge (kernel ridge regression from the mean prompt embedding to the adapter, the default; residual targets only) or none (the paper).") var head: TargetNormalization.Head?
    @Option(name: .long, help: "The prompt head's ridge, relative to its kernel's mean diagonal (default 1e-3).") var headRidge: Float?
    @Option(name: .long, help: "What the prompt head reads: sentences (the prompts' mean embedding and their sentences' mean embedding, the default) or prompts (the mean embedding only).") var headFeature: PromptHead.Feature?

    /// The defaults with the given options applied.
    func settings() -> TrainSettings {
        var s = TrainSettings()
        if let steps { s.steps = steps }
        if let prompts { s.prompts = prompts }
        if let length { s.length = length }
        if let chunkWidth { s.chunkWidth = chunkWidth }
        if let batch { s.batchSize = batch }
        if let lr { s.learningRate = lr }
        if let budgetParameters { s.budgetParameters = budgetParameters }
        if let kernel { s.kernel = kernel }
        if let blocks { s.blocks = blocks }
        if let seed { s.seed = seed }
        if let conditionNoise { s.conditionNoise = conditionNoise }
        if let targetNoise { s.targetNoise = targetNoise }
        if let targets { s.targets = targets }
        if let condition { s.condition = condition }
        if let head { s.head = head }
        if let headRidge { s.headRidge = headRidge }
        if let headFeature { s.headFeature = headFeature }
        return s
    }
}
