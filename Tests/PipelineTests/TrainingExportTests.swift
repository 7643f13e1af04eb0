import DNDTestSupport
import Foundation
import Generator
import LoRA
import Pipeline
import SafeTensors
import TensorCore
import TextEncoder
import XCTest

/// `TrainingExport`: what the shards hold is what `dnd train` trains on, batch for batch, in shards as small as asked.
final class TrainingExportTests: XCTestCase {
    func testShardsScheduleAndInitAreWhatDndTrainUses() throws {
        let root = TestSupport.temporaryDirectory("dnd-export-lib")
        let checkpoints = root.appendingPathComponent("checkpoints")
        try makeZoo(at: checkpoints, datasets: ["code", "math"], checkpoints: 3, rank: 4, layers: 2, hidden: 64,
                    outFeatures: [.v_proj: 32], prompts: { d, i in "Task \(d): item \(i)." })
        let encoder = try SentenceEncoder(folder: TestSupport.encoderModel)
        var settings = TrainSettings()
        settings.steps = 5; settings.prompts = 4; settings.length = 16; settings.batchSize = 3; settings.seed = 11
        settings.budgetParameters = 800_000
        let zoo = try Zoo.scan(checkpoints)
        let cache = try EmbeddingCache(folder: root.appendingPathComponent("state/embeddings"), encoderIdentity: encoder.identity, length: 16)
        let out = root.appendingPathComponent("export")
        // 64 KiB shards: two prompts' states [16, 384] per prompt shard, all three checkpoints in one target shard.
        let outcome = try TrainingExport.run(zoo: zoo, encoder: encoder, cache: cache, settings: settings, holdout: [], output: out,
                                             shardBytes: 1 << 16, dndVersion: "test")
        let m = outcome.manifest
        XCTAssertEqual(m.datasets.map(\.promptShards.count), [3, 3])
        XCTAssertEqual(m.datasets.map(\.targetShards.count), [1, 1])
        XCTAssertEqual(outcome.written, 10)

        // The plan dnd train builds: same chain, options and initial weights.
        let plan = try TrainingPlan(zoo: zoo, encoderIdentity: encoder.identity, hidden: encoder.hiddenSize, settings: settings)
        XCTAssertEqual(try GeneratorConfig.load(from: out.appendingPathComponent("generator.json")), plan.config)
        XCTAssertEqual(m.training, plan.options)
        let initial = try SafeTensorsFile(url: out.appendingPathComponent("init.safetensors")).allTensors()
        for (name, p) in plan.initialGenerator().parameters { XCTAssertEqual(initial[name], p, name) }

        // Rows back from the shards, and the batch of every step rebuilt from the schedule, against dnd train's source.
        func rows(_ names: [String], _ tensor: String) throws -> Tensor {
            Tensor.concatenate(try names.map { try SafeTensorsFile(url: out.appendingPathComponent($0)).tensor(tensor).map { $0 } })
        }
        // Residual targets (the default): relative to the zoo's mean, which the export's normalization file holds.
        let normalization = try TargetNormalization.read(folder: out, config: zoo.reference.config, sites: zoo.reference.sites)
        XCTAssertNotNil(normalization.meanAdapter)
        XCTAssertNotNil(normalization.conditionMean, "standardized conditions: the statistics travel with the export")
        XCTAssertEqual(normalization.head?.datasets, 2, "the prompt head (the default) travels with the export")
        var entries: [ZooSampleSource.Entry] = []
        for (i, d) in zoo.datasets.enumerated() {
            let hidden = try rows(m.datasets[i].promptShards, "hidden"), tokens = try rows(m.datasets[i].targetShards, "tokens")
            // Targets are what the head leaves for the dataset's feature (of the default `sentences`: its exported pooled
            // rows and its prompts' sentences, which the export encoded through the cache).
            XCTAssertEqual(normalization.head?.kind, .sentences)
            let feature = try PromptHead.feature(.sentences, prompts: plan.prompts[i], pooled: try rows(m.datasets[i].promptShards, "pooled")) {
                try cache.embed($0) { encoder.encode($0, length: 16) }.pooled
            }
            XCTAssertEqual(tokens, try WeightTokenizer.tokenize(d.adapters.map { normalization.target($0, feature: feature) }, layout: plan.layout))
            XCTAssertEqual(hidden, try cache.embed(plan.prompts[i]) { encoder.encode($0, length: 16) }.hidden)
            entries.append(.init(name: d.name, hidden: hidden, tokens: tokens))
        }
        let weights = try SafeTensorsFile(url: out.appendingPathComponent("weights.safetensors")).tensor("token_weights")
        XCTAssertEqual(weights.array, try LossWeights.average(zoo.datasets.map { try LossWeights.perToken(checkpoints: $0.adapters, layout: plan.layout) }))
        let schedule = try SafeTensorsFile(url: out.appendingPathComponent("schedule.safetensors"))
        let (ds, ks, ps) = (try schedule.integers("dataset"), try schedule.integers("checkpoint"), try schedule.integers("prompts"))
        var source = try ZooSampleSource(entries: entries, prompts: 4)
        for step in 0..<5 {
            var rng = HyperConvTrainer.stepRNG(seed: 11, step: step)
            let (condition, target) = try source.nextBatch(size: 3, rng: &rng)
            for b in 0..<3 {
                let i = step * 3 + b, e = entries[ds[i]]
                XCTAssertEqual(target.slice(b..<(b + 1)), e.tokens.slice(ks[i]..<(ks[i] + 1)), "step \(step) sample \(b)")
                let chosen = Tensor.stack(ps[(i * 4)..<(i * 4 + 4)].map { e.hidden.row($0) })
                XCTAssertEqual(condition.slice(b..<(b + 1)).reshaped(chosen.shape), chosen, "step \(step) sample \(b)")
            }
        }
    }
}
