import Foundation
import LoRA
import SafeTensors
import TensorCore

/// Options of a LoRA fine-tune (`dnd finetune`); snake_case keys, every one defaulted.
public struct FinetuneOptions: Codable, Sendable, Equatable {
    public var rank = 8
    public var alpha: Float = 16
    public var targets: [LoRAModule] = LoRAModule.allCases
    public var useRslora = false
    public var learningRate: Float = 1e-3
    public var steps = 100
    public var batchSize = 8
    /// Warmup steps of the learning rate (default: a tenth of the steps).
    public var warmupSteps: Int?
    /// The cosine decay ends at this fraction of the peak rate.
    public var minLRFactor: Float = 0.1
    public var weightDecay: Float = 0
    public var maxGradNorm: Float = 1
    /// Longest example in tokens (prompt + response + end marker).
    public var maxLength = 256
    /// First step (1-based) saved as `checkpoint-<step>/`; nil saves only the last step.
    public var saveFrom: Int?
    public var saveEvery = 1
    /// Resume state is written every this many steps (and with every checkpoint).
    public var stateEvery = 50
    public var seed: UInt64 = 0
    /// Data-parallel shards per step (threads with single-threaded BLAS); nil picks `Transformer.defaultShards`.
    public var shards: Int?
    /// Train only B and keep A at its initialisation (LoRA-FA): with one seed for a whole zoo every checkpoint then
    /// shares A exactly, so checkpoints differ only in B and ΔW is linear in what differs.
    public var freezeA = false

    public init() {}

    enum CodingKeys: String, CodingKey {
        case rank, alpha, targets, useRslora = "use_rslora", learningRate = "learning_rate", steps, batchSize = "batch_size"
        case warmupSteps = "warmup_steps", minLRFactor = "min_lr_factor", weightDecay = "weight_decay", maxGradNorm = "max_grad_norm"
        case maxLength = "max_length", saveFrom = "save_from", saveEvery = "save_every", stateEvery = "state_every", seed, shards, freezeA = "freeze_a"
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        let x = FinetuneOptions()
        rank = try c.decodeIfPresent(Int.self, forKey: .rank) ?? x.rank
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha) ?? x.alpha
        targets = try c.decodeIfPresent([LoRAModule].self, forKey: .targets) ?? x.targets
        useRslora = try c.decodeIfPresent(Bool.self, forKey: .useRslora) ?? x.useRslora
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? x.learningRate
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? x.steps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? x.batchSize
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps)
        minLRFactor = try c.decodeIfPresent(Float.self, forKey: .minLRFactor) ?? x.minLRFactor
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? x.weightDecay
        maxGradNorm = try c.decodeIfPresent(Float.self, forKey: .maxGradNorm) ?? x.maxGradNorm
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? x.maxLength
        saveFrom = try c.decodeIfPresent(Int.self, forKey: .saveFrom)
        saveEvery = try c.decodeIfPresent(Int.self, forKey: .saveEvery) ?? x.saveEvery
        stateEvery = try c.decodeIfPresent(Int.self, forKey: .stateEvery) ?? x.stateEvery
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? x.seed
        shards = try c.decodeIfPresent(Int.self, forKey: .shards)
        freezeA = try c.decodeIfPresent(Bool.self, forKey: .freezeA) ?? x.freezeA
        try validate()
    }

    /// Rejects values that cannot train (with the option named).
    public func validate() throws {
        guard rank >= 1 && rank <= 64 else { throw DNDError("rank \(rank) must be 1...64 (vLLM refuses higher ranks)") }
        guard alpha > 0 else { throw DNDError("alpha must be positive") }
        guard !targets.isEmpty else { throw DNDError("no target modules; use 'all' or names like q_proj,v_proj") }
        guard learningRate > 0 && learningRate.isFinite else { throw DNDError("learning rate must be positive") }
        guard steps >= 1, batchSize >= 1, maxLength >= 2, saveEvery >= 1, stateEvery >= 1 else {
            throw DNDError("steps, batch, save-every and state-every must be at least 1, max-length at least 2")
        }
        if let s = saveFrom { guard s >= 1 && s <= steps else { throw DNDError("save-from \(s) must be within 1...\(steps) (the steps)") } }
        if let w = warmupSteps { guard w >= 0 && w < steps else { throw DNDError("warmup \(w) must be below the \(steps) steps") } }
        if let s = shards { guard s >= 1 else { throw DNDError("shards must be at least 1") } }
    }

    var schedule: LRSchedule {
        LRSchedule(peak: learningRate, warmupSteps: warmupSteps ?? steps / 10, totalSteps: steps, minFactor: minLRFactor)
    }

    /// True when `step` (1-based, after the update) is saved as a checkpoint.
    public func saves(step: Int) -> Bool {
        guard let from = saveFrom else { return step == steps }
        return step >= from && (step - from) % saveEvery == 0 || step == steps
    }
}

/// Trains a LoRA adapter on a frozen model with AdamW (warmup + cosine, clipping, seeded data order).
public final class LoRATrainer {
    public let model: CausalLM
    public let options: FinetuneOptions
    public let examples: [TrainingExample]
    public private(set) var adapter: LoRAAdapter
    /// Updates done so far.
    public private(set) var step = 0
    var optimizer: AdamW
    let order: DataOrder

    /// A fresh adapter: A ~ U(−1/√in, 1/√in) (PEFT's Kaiming-uniform default), B = 0, so training starts from the base.
    public init(model: CausalLM, examples: [TrainingExample], options: FinetuneOptions, baseModelName: String? = nil) throws {
        try options.validate()
        guard !examples.isEmpty else { throw DNDError("no training examples") }
        self.model = model; self.options = options; self.examples = examples
        var rng = SeededRNG(seed: options.seed &+ 0x5EED)
        var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for l in 0..<model.config.numHiddenLayers {
            for m in options.targets {
                let (i, o) = model.linearShape(layer: l, module: m)
                let bound = 1 / Float(i).squareRoot()
                w[LoRASite(layer: l, module: m)] = (Tensor.randomUniform([options.rank, i], -bound, bound, rng: &rng), Tensor(zeros: [o, options.rank]))
            }
        }
        let cfg = LoRAConfig(r: options.rank, loraAlpha: options.alpha, targetModules: options.targets, useRslora: options.useRslora,
                             baseModel: baseModelName ?? model.publicID ?? model.source?.url.path)
        adapter = LoRAAdapter(config: cfg, weights: w)
        optimizer = AdamW(weightDecay: options.weightDecay)
        order = DataOrder(count: examples.count, seed: options.seed)
    }

    /// What one update reports.
    public struct StepReport: Sendable {
        public var step: Int
        public var loss: Double
        public var learningRate: Float
        public var gradNorm: Float
        /// Rows run through the model, and rows with a loss.
        public var tokens: Int
        public var targets: Int
    }

    /// One AdamW update on the next batch.
    @discardableResult
    public func trainStep() throws -> StepReport {
        let idx = order.batch(step, size: options.batchSize)
        let lora = try model.bind(adapter)
        let r = model.transformer.lossAndGradients(inputs: idx.map { examples[$0].inputs }, labels: idx.map { examples[$0].labels },
                                                   lora: lora, trainBase: false,
                                                   shards: options.shards ?? model.transformer.defaultShards(batch: options.batchSize))
        var grads: [String: Tensor] = [:]
        var params: [String: Tensor] = [:]
        for (site, g) in r.gradients.lora {
            grads[site.key("B")] = g.b; params[site.key("B")] = adapter.weights[site]!.b
            if !options.freezeA { grads[site.key("A")] = g.a; params[site.key("A")] = adapter.weights[site]!.a }
        }
        let norm = AdamW.clip(&grads, maxNorm: options.maxGradNorm)
        let lr = options.schedule.rate(at: step)
        optimizer.update(&params, grads: grads, lr: lr)
        for site in adapter.weights.keys {
            adapter.weights[site] = (params[site.key("A")] ?? adapter.weights[site]!.a, params[site.key("B")]!)
        }
        step += 1
        return StepReport(step: step, loss: r.loss, learningRate: lr, gradNorm: norm, tokens: r.tokens, targets: r.targets)
    }

    // MARK: resume state

    /// What `state.json` holds next to the adapter and optimizer tensors.
    struct State: Codable {
        var step: Int
        var options: FinetuneOptions
        var dataFingerprint: String
        enum CodingKeys: String, CodingKey { case step, options, dataFingerprint = "data_fingerprint" }
    }

    /// A digest of the examples (FNV-1a over every id and label): resuming on other data is refused.
    var dataFingerprint: String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ v: Int) { h = (h ^ UInt64(bitPattern: Int64(v))) &* 0x100_0000_01B3 }
        for e in examples { mix(e.inputs.count); e.inputs.forEach(mix); e.labels.forEach(mix) }
        return String(h, radix: 16)
    }

    /// Writes adapter, optimizer moments and step into `folder` (each file atomically).
    public func saveState(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try adapter.write(to: folder)
        let (s, moments) = optimizer.state
        try SafeTensorsWriter.write(moments, to: folder.appendingPathComponent("optimizer.safetensors"), metadata: ["step": String(s)])
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(State(step: step, options: options, dataFingerprint: dataFingerprint)),
                             to: folder.appendingPathComponent("state.json"))
    }

    /// Restores a state written by `saveState`; throws when it belongs to other options or data.
    public func loadState(from folder: URL) throws {
        let stateURL = folder.appendingPathComponent("state.json")
        guard let data = FileManager.default.contents(atPath: stateURL.path),
              let st = try? JSONDecoder().decode(State.self, from: data) else {
            throw DNDError("\(stateURL.path): unreadable resume state; delete \(folder.path) to start over")
        }
        guard st.options == options else {
            throw DNDError("\(folder.path): the interrupted run used other options; rerun with the same options, or delete \(folder.path) (or use a new --out) to start over")
        }
        guard st.dataFingerprint == dataFingerprint else {
            throw DNDError("\(folder.path): the interrupted run trained on other data; delete \(folder.path) (or use a new --out) to start over")
        }
        let saved = try LoRAAdapter(folder: folder)
        try model.validate(adapter: saved)
        guard Set(saved.sites) == Set(adapter.sites) else { throw DNDError("\(folder.path): the saved adapter has other modules than the options ask for") }
        let opt = try SafeTensorsFile(url: folder.appendingPathComponent("optimizer.safetensors"))
        var moments: [String: Tensor] = [:]
        for t in opt.tensors { moments[t.name] = try opt.tensor(t.name) }
        optimizer.restore(step: Int(opt.metadata["step"] ?? "") ?? st.step, tensors: moments)
        adapter.weights = saved.weights
        step = st.step
    }
}
