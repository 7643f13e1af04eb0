import ArgumentParser
import Foundation
import Pipeline
import TensorCore
import Workspace

/// `dnd train`: trains the generator on the checkpoint zoo of a root.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the hyper-convolutional generator on <root>/checkpoints and install it as <root>/state/generator.",
        discussion: """
        Every sample pairs a fresh random batch of N prompts of a dataset with a random checkpoint of the same
        dataset. Prompt states are cached under state/embeddings; an interrupted run resumes from its last
        checkpoint (state/training). The new generator replaces the current one atomically when complete.
        """
    )

    @OptionGroup var root: RootOptions
    @Option(name: .long, parsing: .upToNextOption, help: "Datasets to leave out of training (leave-one-out evaluation).") var holdout: [String] = []
    @OptionGroup var training: TrainSettingsOptions
    @Option(name: .long, help: "Also write one JSON line per step (step, loss, lr, grad_norm, elapsed) to this file.") var lossLog: String?
    @OptionGroup var encoder: EncoderOptions

    func settings() -> TrainSettings { training.settings() }

    func run() throws {
        let layout = try root.layout()
        if InstanceLock.isHeld(layout) {
            throw DNDError("\(layout.root.path): `dnd serve` is running on this root and retrains by itself when checkpoints/ changes; stop it first to train by hand")
        }
        try layout.prepare()
        let settings = self.settings()
        try settings.validate()
        let t0 = Date()
        let zoo = try Zoo.scan(layout.checkpoints, holdout: holdout)
        for w in zoo.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        let enc = try encoder.load()
        let bar = ProgressLine("train")
        let lossLog = try self.lossLog.map { try LossLogFile(path: $0) }
        let installed = try RootTraining(layout: layout).trainAndInstall(
            zoo: zoo, encoder: enc, settings: settings, holdout: holdout,
            log: { bar.note($0) },
            progress: { p in
                lossLog?.append(p)
                bar.update(p.step, of: p.totalSteps, String(format: "loss %.5f lr %.2e", p.loss, p.learningRate))
            })
        let outcome = installed.outcome, b = outcome.bundle, handle = installed.handle
        print("trained generator \(b.metadata.identity) on \(zoo.datasets.count) datasets (\(b.metadata.checkpoints) checkpoints)\(holdout.isEmpty ? "" : ", held out: " + holdout.joined(separator: ", "))")
        print(String(format: "  %d steps, final loss %.5f (mean of last 20: %.5f), %d parameters", outcome.summary.steps,
                     outcome.summary.finalLoss, outcome.summary.recentLoss, b.generator.parameterCount))
        if let v = outcome.summary.lossValues, let sc = outcome.summary.lossScale {
            print(String(format: "  loss on a fixed batch of 16: normalized chunk values %.5f, mean/std border %.5f (per element)", v, sc))
        }
        for s in outcome.stages { print(String(format: "  %-20@ %8.2f s", s.stage, s.seconds)) }
        print(String(format: "  total %.1f s; installed at %@", Date().timeIntervalSince(t0), handle.folder.path))
    }
}
