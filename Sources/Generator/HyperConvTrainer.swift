import Foundation
import SafeTensors
import TensorCore

/// Where training pairs come from; the pipeline implements it over its checkpoint zoo and embedding cache.
public protocol TrainingSampleSource {
    /// `size` conditions `[B, N, L, H]` and their target tokens `[B, T, r+2, cw+2]`. Draw every random choice
    /// from `rng` (a fresh stream per step, derived from the seed and the step), so that a resumed run sees
    /// exactly the batches an uninterrupted one would.
    mutating func nextBatch(size: Int, rng: inout SeededRNG) throws -> (condition: Tensor, target: Tensor)
}

/// Hyper-parameters of generator training (DESIGN "Training objective"); snake_case keys, every key optional.
/// The pipeline sets every knob its own settings share (steps, batch, learning rate, warmup, seed, checkpoints, noise);
/// the defaults here are the trainer's own, for direct use (tests, benchmarks).
public struct HyperConvTrainerOptions: Codable, Equatable, Sendable {
    /// Optimizer steps in all.
    public var steps: Int = 1000
    /// Samples per step.
    public var batchSize: Int = 8
    /// Peak learning rate.
    public var learningRate: Float = 1e-3
    /// Linear warmup steps before the cosine decay.
    public var warmupSteps: Int = 50
    /// The cosine ends at `learningRate × minLearningRateFactor`.
    public var minLearningRateFactor: Float = 0.1
    /// AdamW decoupled weight decay.
    public var weightDecay: Float = 0.1
    /// Global gradient-norm clip.
    public var clipNorm: Float = 1.0
    /// Std of the Gaussian noise added to conditions.
    public var conditionNoise: Float = 1e-4
    /// Std of the Gaussian noise added to targets.
    public var targetNoise: Float = 1e-5
    /// Seed of every random choice of the run.
    public var seed: UInt64 = 0
    /// A checkpoint every this many steps (0: none); one is also written at the end.
    public var checkpointEvery: Int = 100
    /// Newest checkpoints kept.
    public var keepCheckpoints: Int = 2

    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", learningRate = "learning_rate", warmupSteps = "warmup_steps"
        case minLearningRateFactor = "min_learning_rate_factor", weightDecay = "weight_decay", clipNorm = "clip_norm"
        case conditionNoise = "condition_noise", targetNoise = "target_noise", seed
        case checkpointEvery = "checkpoint_every", keepCheckpoints = "keep_checkpoints"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HyperConvTrainerOptions()
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? d.learningRate
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
        minLearningRateFactor = try c.decodeIfPresent(Float.self, forKey: .minLearningRateFactor) ?? d.minLearningRateFactor
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? d.weightDecay
        clipNorm = try c.decodeIfPresent(Float.self, forKey: .clipNorm) ?? d.clipNorm
        conditionNoise = try c.decodeIfPresent(Float.self, forKey: .conditionNoise) ?? d.conditionNoise
        targetNoise = try c.decodeIfPresent(Float.self, forKey: .targetNoise) ?? d.targetNoise
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? d.checkpointEvery
        keepCheckpoints = try c.decodeIfPresent(Int.self, forKey: .keepCheckpoints) ?? d.keepCheckpoints
        try validate()
    }

    /// Checks ranges; the message names the option.
    public func validate() throws {
        func bad(_ s: String) -> DNDError { DNDError("training options: \(s)") }
        guard steps >= 1 else { throw bad("steps \(steps) must be at least 1") }
        guard batchSize >= 1 else { throw bad("batch_size \(batchSize) must be at least 1") }
        guard learningRate.isFinite && learningRate > 0 else { throw bad("learning_rate \(learningRate) must be positive") }
        guard warmupSteps >= 0 else { throw bad("warmup_steps \(warmupSteps) must be 0 or more") }
        guard minLearningRateFactor >= 0 && minLearningRateFactor <= 1 else { throw bad("min_learning_rate_factor \(minLearningRateFactor) must be in [0, 1]") }
        guard weightDecay >= 0 && weightDecay.isFinite else { throw bad("weight_decay \(weightDecay) must be 0 or more") }
        guard clipNorm > 0 && clipNorm.isFinite else { throw bad("clip_norm \(clipNorm) must be positive") }
        guard conditionNoise >= 0 && targetNoise >= 0 else { throw bad("noise levels must be 0 or more") }
        guard checkpointEvery >= 0 else { throw bad("checkpoint_every \(checkpointEvery) must be 0 (never) or more") }
        guard keepCheckpoints >= 1 else { throw bad("keep_checkpoints \(keepCheckpoints) must be at least 1") }
    }

    /// The learning-rate schedule these options describe.
    public var schedule: LRSchedule {
        LRSchedule(peak: learningRate, warmupSteps: warmupSteps, totalSteps: steps, minFactor: minLearningRateFactor)
    }
}

/// One finished step, for progress lines and the loss log.
public struct TrainingProgress: Sendable, Equatable {
    /// Steps completed (1-based).
    public var step: Int
    public var totalSteps: Int
    /// Weighted MSE of this step's batch (before the update).
    public var loss: Float
    /// Learning rate used by this step.
    public var learningRate: Float
    /// Global gradient norm before clipping.
    public var gradientNorm: Float
    /// Seconds of training so far, resumed sessions included.
    public var elapsed: Double
}

/// How a generator was trained; stored in its config.
public struct TrainingSummary: Codable, Equatable, Sendable {
    public var steps: Int
    public var batchSize: Int
    public var learningRate: Float
    public var seed: UInt64
    /// Loss of the last step.
    public var finalLoss: Float
    /// Mean loss of the last (up to) 20 steps.
    public var recentLoss: Float
    public var seconds: Double
    /// ISO 8601 time the run ended.
    public var finishedAt: String?
    /// The loss of the finished generator on a fixed batch, split into the normalized chunk values and the mean/std
    /// border (`HyperConvTrainer.lossSplit`); nil when not measured.
    public var lossValues: Float?
    public var lossScale: Float?

    public init(steps: Int, batchSize: Int, learningRate: Float, seed: UInt64, finalLoss: Float, recentLoss: Float,
                seconds: Double, finishedAt: String? = nil) {
        self.steps = steps; self.batchSize = batchSize; self.learningRate = learningRate; self.seed = seed
        self.finalLoss = finalLoss; self.recentLoss = recentLoss; self.seconds = seconds; self.finishedAt = finishedAt
    }

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", learningRate = "learning_rate", seed, finalLoss = "final_loss"
        case recentLoss = "recent_loss", seconds, finishedAt = "finished_at", lossValues = "loss_values", lossScale = "loss_scale"
    }
}

/// Trains a generator with the weighted MSE of DESIGN.md: AdamW, warmup then cosine, clipping, noise on
/// conditions and targets, seeded batches; checkpoints (weights, optimizer, step) in
/// `<work>/checkpoints/step-<n>/` and one JSON line per step in `<work>/loss.jsonl`.
public struct HyperConvTrainer {
    /// The generator being trained (updated in place).
    public let generator: HyperConvGenerator
    public let options: HyperConvTrainerOptions
    /// One loss weight per weight token, `[T]`.
    public let tokenWeights: Tensor
    /// Folder of checkpoints and the loss log; nil keeps nothing on disk.
    public let workDirectory: URL?
    /// Steps completed.
    public private(set) var step: Int = 0
    var optimizer: AdamW
    /// Seconds spent in steps so far, resumed sessions included.
    public private(set) var elapsed: Double = 0
    var recentLosses: [Float] = []

    /// A trainer at step 0; `tokenWeights` `[T]` defaults to ones.
    public init(generator: HyperConvGenerator, options: HyperConvTrainerOptions, tokenWeights: Tensor? = nil, workDirectory: URL? = nil) throws {
        try options.validate()
        let t = generator.config.tokenCount
        let w = tokenWeights ?? Tensor(shape: [t], repeating: 1)
        guard w.count == t else {
            throw DNDError("training: \(w.count) token loss weights for a generator of \(t) weight tokens; compute one weight per token")
        }
        guard w.withUnsafeBufferPointer({ $0.allSatisfy { $0.isFinite && $0 >= 0 } }) else {
            throw DNDError("training: token loss weights must be finite and non-negative")
        }
        self.generator = generator
        self.options = options
        self.tokenWeights = w.reshaped([t])
        self.workDirectory = workDirectory
        optimizer = AdamW(weightDecay: options.weightDecay)
    }

    /// The random stream of step `s`: a pure function of the seed and the step, so resuming needs no stored state.
    public static func stepRNG(seed: UInt64, step: Int) -> SeededRNG {
        SeededRNG(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(step + 1))
    }

    /// One optimizer step on a batch from `source`.
    @discardableResult
    public mutating func trainStep<S: TrainingSampleSource>(source: inout S) throws -> TrainingProgress {
        let t0 = HyperConvTrainer.now()
        let config = generator.config
        var rng = HyperConvTrainer.stepRNG(seed: options.seed, step: step)
        var (condition, target) = try source.nextBatch(size: options.batchSize, rng: &rng)
        let b = options.batchSize
        guard condition.shape == [b] + config.conditionShape else {
            throw DNDError("training: the sample source returned conditions \(condition.shape), expected \([b] + config.conditionShape) (batch × prompts × length × hidden)")
        }
        guard target.shape == [b] + config.tokenShape else {
            throw DNDError("training: the sample source returned targets \(target.shape), expected \([b] + config.tokenShape) (batch × tokens × (r+2) × (cw+2))")
        }
        GaussianNoise.add(to: &condition, std: options.conditionNoise, rng: &rng)
        GaussianNoise.add(to: &target, std: options.targetNoise, rng: &rng)
        let (yHat, cache) = try generator.forwardWithCache(condition)                  // (B, T, r+2, cw+2)
        let loss = WeightedMSE.forward(yHat, target: target, weights: tokenWeights)
        guard loss.isFinite else {
            throw DNDError("training diverged at step \(step + 1): the loss is \(loss); lower learning_rate or check the targets for NaN")
        }
        let dY = WeightedMSE.backward(yHat, target: target, weights: tokenWeights)     // (B, T, r+2, cw+2)
        var grads: [String: Tensor] = [:]
        generator.backward(&grads, dOut: dY, cache: cache)
        let norm = AdamW.clip(&grads, maxNorm: options.clipNorm)
        guard norm.isFinite else {
            throw DNDError("training diverged at step \(step + 1): the gradient norm is \(norm); lower learning_rate or check the conditions for extreme values")
        }
        let lr = options.schedule.rate(at: step)
        var params = generator.parameters
        optimizer.update(&params, grads: grads, lr: lr)
        generator.parameters = params
        step += 1
        recentLosses.append(loss)
        if recentLosses.count > 20 { recentLosses.removeFirst() }
        elapsed += HyperConvTrainer.now() - t0
        return TrainingProgress(step: step, totalSteps: options.steps, loss: loss, learningRate: lr, gradientNorm: norm, elapsed: elapsed)
    }

    /// Trains from the current step to `options.steps`, logging every step, checkpointing every
    /// `checkpointEvery` steps and at the end, and calling `progress` after every step. When `shouldStop`
    /// returns true (checked after each step) it checkpoints and returns early; `isFinished` tells which.
    public mutating func train<S: TrainingSampleSource>(source: inout S, progress: ((TrainingProgress) -> Void)? = nil,
                                                        shouldStop: (() -> Bool)? = nil) throws -> TrainingSummary {
        var last: TrainingProgress?
        while step < options.steps {
            let p = try trainStep(source: &source)
            try appendLog(p)
            progress?(p)
            last = p
            let stopping = shouldStop?() ?? false
            if options.checkpointEvery > 0 && (step % options.checkpointEvery == 0 || step == options.steps) {
                try saveCheckpoint()
            } else if stopping && workDirectory != nil {
                try saveCheckpoint()
            }
            if stopping { break }
        }
        let recent = recentLosses.isEmpty ? Float.nan : recentLosses.reduce(0, +) / Float(recentLosses.count)
        return TrainingSummary(steps: step, batchSize: options.batchSize, learningRate: options.learningRate, seed: options.seed,
                               finalLoss: last?.loss ?? recentLosses.last ?? .nan, recentLoss: recent, seconds: elapsed,
                               finishedAt: ISO8601DateFormatter().string(from: Date()))
    }

    /// The loss of the generator as it is on one fixed batch of `samples` (no noise), split into the normalized chunk
    /// values and the mean/std border (`WeightedMSE.split`).
    public func lossSplit<S: TrainingSampleSource>(source: inout S, samples: Int = 16) throws -> (values: Float, scale: Float) {
        var rng = HyperConvTrainer.stepRNG(seed: options.seed ^ 0x5EED_5917, step: 0)
        let (condition, target) = try source.nextBatch(size: samples, rng: &rng)
        let yHat = try generator.forward(condition)
        return WeightedMSE.split(yHat, target: target, weights: tokenWeights)
    }

    /// True once `options.steps` steps are done.
    public var isFinished: Bool { step >= options.steps }


    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    // MARK: - checkpoints and the loss log

    /// `<work>/checkpoints`.
    public var checkpointsDirectory: URL? { workDirectory?.appendingPathComponent("checkpoints") }
    /// `<work>/loss.jsonl`.
    public var lossLog: URL? { workDirectory?.appendingPathComponent("loss.jsonl") }

    static let optimizerFile = "optimizer.safetensors"
    static let stateFile = "trainer.json"

    /// What a checkpoint records besides tensors.
    struct State: Codable {
        var step: Int
        var optimizerStep: Int
        var elapsedSeconds: Double
        var recentLosses: [Float]
        var options: HyperConvTrainerOptions
        enum CodingKeys: String, CodingKey {
            case step, optimizerStep = "optimizer_step", elapsedSeconds = "elapsed_seconds", recentLosses = "recent_losses", options
        }
    }

    /// Writes `checkpoints/step-<n>/` (generator, optimizer moments, step, options) atomically and prunes old ones.
    @discardableResult
    public func saveCheckpoint() throws -> URL {
        guard let dir = checkpointsDirectory else { throw DNDError("training: no work directory to write checkpoints into") }
        let url = dir.appendingPathComponent(String(format: "step-%08d", step))
        let opt = optimizer.state
        let state = State(step: step, optimizerStep: opt.step, elapsedSeconds: elapsed, recentLosses: recentLosses, options: options)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let stateData = try enc.encode(state)
        let params = generator.parameters, configData = try generator.config.encoded()
        try AtomicFolder.write(url) { tmp in
            try SafeTensorsWriter.write(params, to: tmp.appendingPathComponent(HyperConvGenerator.weightsFile))
            try AtomicFile.write(configData, to: tmp.appendingPathComponent(HyperConvGenerator.configFile))
            try SafeTensorsWriter.write(opt.tensors, to: tmp.appendingPathComponent(HyperConvTrainer.optimizerFile))
            try AtomicFile.write(stateData, to: tmp.appendingPathComponent(HyperConvTrainer.stateFile))
        }
        let all = try HyperConvTrainer.checkpoints(in: dir)
        for old in all.dropLast(options.keepCheckpoints) { try? FileManager.default.removeItem(at: old.url) }
        return url
    }

    /// Complete checkpoints in `dir`, oldest first.
    public static func checkpoints(in dir: URL) throws -> [(step: Int, url: URL)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix("step-"), let s = Int(name.dropFirst(5)) else { return nil }
            let url = dir.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent(stateFile).path) else { return nil }
            return (s, url)
        }.sorted { $0.0 < $1.0 }
    }

    /// Resumes from the newest checkpoint in the work directory, if any; returns the step reached (0: none found).
    @discardableResult
    public mutating func resumeIfPossible() throws -> Int {
        guard let dir = checkpointsDirectory, let newest = try HyperConvTrainer.checkpoints(in: dir).last else { return 0 }
        try resume(from: newest.url)
        return step
    }

    /// Restores weights, optimizer moments, step and elapsed time from `checkpoint`, and drops loss-log lines
    /// of steps after it (they will be redone).
    public mutating func resume(from checkpoint: URL) throws {
        let stateURL = checkpoint.appendingPathComponent(HyperConvTrainer.stateFile)
        let state: State
        do { state = try JSONDecoder().decode(State.self, from: Data(contentsOf: stateURL)) } catch {
            throw DNDError("\(stateURL.path): unreadable training state (\(error)); delete this checkpoint folder to fall back to an older one")
        }
        guard state.options.seed == options.seed && state.options.batchSize == options.batchSize else {
            throw DNDError("\(checkpoint.path): made with seed \(state.options.seed) and batch size \(state.options.batchSize), but this run uses seed \(options.seed) and batch size \(options.batchSize); resume with the same options or start a fresh work directory")
        }
        let config = try GeneratorConfig.load(from: checkpoint.appendingPathComponent(HyperConvGenerator.configFile))
        guard config.chain == generator.config.chain && config.kernel == generator.config.kernel else {
            throw DNDError("\(checkpoint.path): the checkpoint's chain \(config.chain) (kernel \(config.kernel)) differs from this generator's \(generator.config.chain) (kernel \(generator.config.kernel)); start a fresh work directory")
        }
        let weightsURL = checkpoint.appendingPathComponent(HyperConvGenerator.weightsFile)
        try generator.setParametersChecked(try SafeTensorsFile(url: weightsURL).allTensors(), source: weightsURL.path)
        let optURL = checkpoint.appendingPathComponent(HyperConvTrainer.optimizerFile)
        let moments = try SafeTensorsFile(url: optURL).allTensors()
        for (name, p) in generator.parameters where state.optimizerStep > 0 {
            for prefix in ["m.", "v."] {
                guard let t = moments[prefix + name], t.shape == p.shape else {
                    throw DNDError("\(optURL.path): optimizer moment \(prefix + name) is missing or misshapen; delete this checkpoint folder to fall back to an older one")
                }
            }
        }
        optimizer = AdamW(weightDecay: options.weightDecay)
        optimizer.restore(step: state.optimizerStep, tensors: moments)
        step = state.step
        elapsed = state.elapsedSeconds
        recentLosses = state.recentLosses
        try truncateLog(after: step)
    }

    func appendLog(_ p: TrainingProgress) throws {
        guard let url = lossLog else { return }
        let line = p.jsonLine
        let fm = FileManager.default
        if !fm.fileExists(atPath: url.path) {
            try? fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard fm.createFile(atPath: url.path, contents: nil) else {
                throw DNDError("\(url.path): cannot create the loss log; check that the folder is writable")
            }
        }
        guard let h = FileHandle(forWritingAtPath: url.path) else { throw DNDError("\(url.path): cannot open the loss log for writing") }
        defer { try? h.close() }
        do {
            try h.seekToEnd()
            try h.write(contentsOf: Data(line.utf8))
        } catch {
            throw DNDError("\(url.path): cannot append to the loss log (\(error.localizedDescription)); is the disk full?")
        }
    }

    /// Keeps the loss-log lines of steps `1...step` (and drops a torn last line).
    func truncateLog(after step: Int) throws {
        guard let url = lossLog, let data = FileManager.default.contents(atPath: url.path) else { return }
        var kept = ""
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = obj["step"] as? Int, s <= step else { continue }
            kept += line + "\n"
        }
        try AtomicFile.write(Data(kept.utf8), to: url)
    }
}

extension HyperConvGenerator {
    /// `setParameters` with the source named in errors.
    func setParametersChecked(_ new: [String: Tensor], source: String) throws {
        try HyperConvGenerator.check(new, against: blocks, source: source)
        parameters = new
    }
}
