import Foundation
import LLM
import Pipeline
import TensorCore
import TextEncoder
import Workspace

/// The daemon's real worker: generation, evaluation and retraining through the pipeline. Models are loaded once
/// and kept (the encoder, each generator folder, each base model); calls may come from two threads (a job and a
/// retraining), so the caches are locked.
public final class PipelineWorker: JobWorker, @unchecked Sendable {
    let layout: RootLayout
    let encoderFolder: URL?
    private let lock = NSLock()
    private var encoderCache: SentenceEncoder?
    private var bundles: [String: GeneratorBundle] = [:]
    private var models: [String: CausalLM] = [:]

    /// The dnd version written into every report.
    let version: String

    public init(layout: RootLayout, encoderFolder: URL?, version: String) {
        self.layout = layout; self.encoderFolder = encoderFolder; self.version = version
    }

    var training: RootTraining { RootTraining(layout: layout) }

    func encoder() throws -> SentenceEncoder {
        lock.lock(); defer { lock.unlock() }
        if let e = encoderCache { return e }
        let e = try SentenceEncoder(folder: encoderFolder ?? SentenceEncoder.defaultFolder())
        encoderCache = e
        return e
    }

    func bundle(_ folder: URL) throws -> GeneratorBundle {
        lock.lock(); defer { lock.unlock() }
        if let b = bundles[folder.path] { return b }
        let b = try GeneratorBundle(folder: folder)
        bundles[folder.path] = b
        return b
    }

    func model(_ folder: URL) throws -> CausalLM {
        lock.lock(); defer { lock.unlock() }
        if let m = models[folder.path] { return m }
        let m = try CausalLM.load(folder)
        models[folder.path] = m
        return m
    }

    public func process(_ job: Job, generator: GeneratorHandle, output: URL, control: WorkControl) throws {
        let bundle = try self.bundle(generator.folder)
        let encoder = try self.encoder()
        let evaluation: AdapterGeneration.Evaluation
        if !job.options.evaluate {
            evaluation = .skipped(job.options.evaluationReason)
        } else if let base = job.options.baseModel {
            do { evaluation = .run(scorer: try model(base), baseModel: base.path) } catch {
                evaluation = .unavailable("the base model at \(base.path) could not be loaded (\(error))")
            }
        } else {
            evaluation = .skipped("no base model configured (put a Hugging Face model folder or a .gguf file in base/, or set base_model in config.toml)")
        }
        // The base model's files name it and lay out adapter.gguf, whether or not this job is evaluated.
        let source = job.options.baseModel.flatMap { try? ModelSource.resolve($0) }
        let name = BaseModelName.resolve(configured: job.options.baseModelName, setting: "base_model_name in \(layout.configFile.path)",
                                         relativeTo: layout.root, model: source, zoo: bundle.config.baseModel, root: layout.root)
        let cache = try training.embeddingCache(encoder: encoder, length: bundle.config.length)
        _ = try AdapterGeneration.run(
            .init(records: job.records, inputName: job.fileName, job: job.name, output: output,
                  deliveredAt: layout.outbox.appendingPathComponent(job.name), baseModel: name, evaluation: evaluation,
                  warnings: job.warnings.map { "\(job.fileName) \($0)" }, dndVersion: version),
            bundle: bundle, encoder: encoder, cache: cache)
    }

    public func retrain(checkpoints: URL, output: URL, current: GeneratorHandle?, control: WorkControl) throws {
        let zoo = try Zoo.scan(checkpoints)
        let encoder = try self.encoder()
        var settings = TrainSettings()
        if let current, let b = try? bundle(current.folder), let s = b.metadata.train { settings = s }
        _ = try training.train(zoo: zoo, encoder: encoder, settings: settings, output: output, shouldStop: { control.isCancelled })
    }

    /// What a daemon with this encoder setting would lack, checked without loading anything (for `dnd status`).
    public static func missingPieces(encoderFolder: URL?) -> [String] {
        do { _ = try ModelFolder(encoderFolder ?? SentenceEncoder.defaultFolder()) } catch {
            return [encoderProblem(error)]
        }
        return []
    }

    static func encoderProblem(_ error: Error) -> String {
        let why = ((error as? DNDError)?.message ?? String(describing: error)).replacingOccurrences(of: "\n", with: " ")
        return "the sentence encoder is missing or unusable: \(why); the dnd package ships it in /usr/share/dnd/encoder (reinstall it), or set DND_ENCODER (systemctl --user edit dnd) or pass --encoder DIR, then restart the daemon"
    }

    /// The sentence encoder must load (every job needs it); it is kept for the first job. The generator may come later
    /// (jobs wait for it) and the base model is optional (evaluation is skipped without it).
    public func preflight() -> [String] {
        do { _ = try encoder() } catch { return [PipelineWorker.encoderProblem(error)] }
        return []
    }

    public func validateGenerator(_ folder: URL) throws -> GeneratorInfo { try GeneratorBundle(folder: folder).info }
}
