import Foundation
import Generator
import TextEncoder
import Workspace

/// "Train the generator on a root and install it", once for `dnd train`, the daemon's retraining and `dnd demo`:
/// `GeneratorTraining.run` with the root's embedding cache (`state/embeddings`) and resumable work folder
/// (`state/training`), and the finished generator moved into the root's `GeneratorStore`.
public struct RootTraining {
    public let layout: RootLayout

    public init(layout: RootLayout) { self.layout = layout }

    /// A generator trained and installed: the training's outcome and the generator now in use.
    public struct Installed {
        public var outcome: GeneratorTraining.Outcome
        public var handle: GeneratorHandle
    }

    /// The root's embedding cache for `encoder`'s prompt states at `length` tokens.
    public func embeddingCache(encoder: SentenceEncoder, length: Int) throws -> EmbeddingCache {
        try EmbeddingCache(folder: layout.embeddings, encoderIdentity: encoder.identity, length: length)
    }

    /// Trains a generator on `zoo` into `output` (see `GeneratorTraining.run`); installs nothing.
    public func train(zoo: Zoo, encoder: SentenceEncoder, settings: TrainSettings, holdout: [String] = [], output: URL,
                      log: (String) -> Void = { _ in }, progress: ((TrainingProgress) -> Void)? = nil,
                      shouldStop: (() -> Bool)? = nil) throws -> GeneratorTraining.Outcome {
        try GeneratorTraining.run(zoo: zoo, encoder: encoder, cache: embeddingCache(encoder: encoder, length: settings.length),
                                  settings: settings, holdout: holdout, workDirectory: layout.training, output: output,
                                  log: log, progress: progress, shouldStop: shouldStop)
    }

    /// Trains a generator on `zoo` and makes it the root's generator in use (`state/generator`), atomically.
    public func trainAndInstall(zoo: Zoo, encoder: SentenceEncoder, settings: TrainSettings, holdout: [String] = [],
                                log: (String) -> Void = { _ in }, progress: ((TrainingProgress) -> Void)? = nil) throws -> Installed {
        let output = layout.generators.appendingPathComponent(".training-\(getpid())")
        let outcome = try train(zoo: zoo, encoder: encoder, settings: settings, holdout: holdout, output: output, log: log, progress: progress)
        let handle = try GeneratorStore(layout: layout).install(output, info: outcome.bundle.info)
        return Installed(outcome: outcome, handle: handle)
    }
}

extension GeneratorBundle {
    /// Who this generator is, as the root's generator store and `dnd status` name it.
    public var info: GeneratorInfo {
        GeneratorInfo(identity: metadata.identity, datasets: metadata.datasets, trainedAt: ISO8601DateFormatter().date(from: metadata.trainedAt))
    }
}
