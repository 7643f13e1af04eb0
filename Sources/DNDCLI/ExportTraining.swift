import ArgumentParser
import Foundation
import Pipeline
import Workspace

/// `dnd export-training`: a root's zoo as training files for dnd_torch (PyTorch DDP under torchrun).
struct ExportTraining: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-training",
        abstract: "Export what training the generator needs (targets, loss weights, prompt states, chain, schedule) for dnd_torch.",
        discussion: """
        Writes OUT/manifest.json and safetensors shards: the weight tokens of every checkpoint of ROOT/checkpoints, \
        the per-token loss weights, the cached prompt states (ROOT/state/embeddings), the chain `dnd train` would \
        build (generator.json), its initial weights and the sample order of every step for the given settings. \
        Streamed one shard at a time; a rerun keeps every shard that is complete and unchanged. Then train with \
        `torchrun --nproc_per_node=N -m dnd_torch.train --export OUT --out GEN` and install GEN with \
        `dnd install-generator GEN --root ROOT`.
        """
    )

    @Argument(help: "The dnd root whose checkpoints/ is exported.") var root: String
    @Argument(help: "The export folder (created; a previous export there is updated in place).") var out: String
    @Option(name: .long, parsing: .upToNextOption, help: "Datasets to leave out of training (leave-one-out evaluation).") var holdout: [String] = []
    @OptionGroup var training: TrainSettingsOptions
    @Option(name: .long, help: "Largest shard, in MiB.") var shardMb: Int = TrainingExport.defaultShardBytes >> 20
    @OptionGroup var encoder: EncoderOptions

    func validate() throws {
        guard shardMb >= 1 else { throw ValidationError("--shard-mb must be at least 1") }
    }

    func run() throws {
        let layout = RootLayout(root: URL(fileURLWithPath: root))
        let settings = training.settings()
        try settings.validate()
        let zoo = try Zoo.scan(layout.checkpoints, holdout: holdout)
        for w in zoo.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        let enc = try encoder.load()
        let cache = try EmbeddingCache(folder: layout.embeddings, encoderIdentity: enc.identity, length: settings.length)
        let output = URL(fileURLWithPath: out)
        let outcome = try TrainingExport.run(zoo: zoo, encoder: enc, cache: cache, settings: settings, holdout: holdout, output: output,
                                             shardBytes: shardMb << 20, dndVersion: DND.version,
                                             log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
        let m = outcome.manifest
        let checkpoints = m.datasets.reduce(0) { $0 + $1.checkpoints.count }, prompts = m.datasets.reduce(0) { $0 + $1.prompts }
        print("exported \(m.datasets.count) datasets (\(checkpoints) checkpoints, \(prompts) prompts) to \(output.path)")
        print("  tokens \(m.tokenShape), condition \(m.conditionShape), chain of \(m.parameters) parameters, \(m.training.steps) steps of \(m.training.batchSize)")
        print(String(format: "  %d shards (%d written, %d kept), %.1f MiB in all, %.2f s; validated", m.shards.count, outcome.written,
                     outcome.reused, Double(m.bytes) / 1_048_576, outcome.seconds))
        print("next: torchrun --nproc_per_node=N -m dnd_torch.train --export \(output.path) --out GEN_DIR; then dnd install-generator GEN_DIR --root \(layout.root.path)")
    }
}
