import DNDTestSupport
import Foundation
import Generator
import SafeTensors
import TensorCore
import XCTest

/// A fixed set of (condition, target) pairs; every batch draws its pairs from the step's rng.
struct FixedPairs: TrainingSampleSource {
    var conditions: [Tensor]   // each (N, L, H)
    var targets: [Tensor]      // each (T, r+2, cw+2)
    var calls = 0
    var failAtCall: Int? = nil

    mutating func nextBatch(size: Int, rng: inout SeededRNG) throws -> (condition: Tensor, target: Tensor) {
        calls += 1
        if let f = failAtCall, calls >= f { throw DNDError("simulated crash at batch \(calls)") }
        let idx = (0..<size).map { _ in rng.int(below: conditions.count) }
        return (Tensor.stack(idx.map { conditions[$0] }), Tensor.stack(idx.map { targets[$0] }))
    }

    static func make(_ config: GeneratorConfig, count: Int, seed: UInt64) -> FixedPairs {
        var rng = SeededRNG(seed: seed)
        return FixedPairs(conditions: (0..<count).map { _ in Tensor.randomNormal(config.conditionShape, rng: &rng) },
                          targets: (0..<count).map { _ in Tensor.randomNormal(config.tokenShape, rng: &rng) })
    }
}

final class HyperConvTrainerTests: XCTestCase {
    let config = try! GeneratorConfig(chain: [[4, 6, 8], [8, 5, 7], [12, 4, 6]], kernel: 3)

    func meanLoss(_ g: HyperConvGenerator, _ pairs: FixedPairs, weights: Tensor) throws -> Float {
        let y = try g.forward(Tensor.stack(pairs.conditions))
        return WeightedMSE.forward(y, target: Tensor.stack(pairs.targets), weights: weights)
    }

    func testOverfitsAHandfulOfPairs() throws {
        var source = FixedPairs.make(config, count: 4, seed: 3)
        let g = HyperConvGenerator(config: config, seed: 1)
        var options = HyperConvTrainerOptions()
        options.steps = 400
        options.batchSize = 4
        options.learningRate = 1e-2
        options.warmupSteps = 20
        options.checkpointEvery = 0
        var rng = SeededRNG(seed: 4)
        let weights = Tensor.randomUniform([config.tokenCount], 0.5, 1.5, rng: &rng)
        var trainer = try HyperConvTrainer(generator: g, options: options, tokenWeights: weights)
        let start = try meanLoss(g, source, weights: weights)
        var seen: [TrainingProgress] = []
        let summary = try trainer.train(source: &source) { seen.append($0) }
        let end = try meanLoss(g, source, weights: weights)
        print("overfit: loss \(start) → \(end) (\(100 * end / start)% of start) in \(summary.steps) steps, \(summary.seconds) s")
        XCTAssertLessThan(end, 0.01 * start)
        XCTAssertEqual(seen.map(\.step), Array(1...400))
        XCTAssertEqual(summary.steps, 400)
        XCTAssertEqual(seen[0].learningRate, 1e-2 / 20, accuracy: 1e-9)          // warmup starts low
        XCTAssertEqual(seen[19].learningRate, 1e-2, accuracy: 1e-7)              // peak after warmup
        XCTAssertEqual(seen.last!.learningRate, 1e-3, accuracy: 1e-5)            // cosine down to 0.1×
    }

    func testResumeFromCheckpointContinuesIdentically() throws {
        var options = HyperConvTrainerOptions()
        options.steps = 10
        options.batchSize = 3
        options.learningRate = 3e-3
        options.warmupSteps = 3
        options.checkpointEvery = 5
        options.seed = 77
        options.clipNorm = 0.4                  // some steps clip (grad norms are 0.3–0.6 here)
        let pairs = FixedPairs.make(config, count: 5, seed: 8)

        // Uninterrupted run.
        let workA = TestSupport.temporaryDirectory()
        let a = HyperConvGenerator(config: config, seed: 1)
        var sourceA = pairs
        var trainerA = try HyperConvTrainer(generator: a, options: options, workDirectory: workA)
        _ = try trainerA.train(source: &sourceA)

        // A run that crashes while fetching the batch of step 8 (after the checkpoint of step 5) …
        let workB = TestSupport.temporaryDirectory()
        var crashing = pairs
        crashing.failAtCall = 8
        var trainerB = try HyperConvTrainer(generator: HyperConvGenerator(config: config, seed: 1), options: options, workDirectory: workB)
        XCTAssertThrowsError(try trainerB.train(source: &crashing))
        XCTAssertEqual(try HyperConvTrainer.checkpoints(in: workB.appendingPathComponent("checkpoints")).map(\.step), [5])
        XCTAssertEqual(try logSteps(workB), Array(1...7))

        // … is resumed by a new process: a generator with other weights, restored from the checkpoint.
        let b = HyperConvGenerator(config: config, seed: 999)
        var sourceB = pairs
        var resumed = try HyperConvTrainer(generator: b, options: options, workDirectory: workB)
        XCTAssertEqual(try resumed.resumeIfPossible(), 5)
        XCTAssertEqual(try logSteps(workB), Array(1...5))
        _ = try resumed.train(source: &sourceB)

        for (name, t) in a.parameters { XCTAssertEqual(b.parameters[name], t, "\(name) differs after resume") }
        XCTAssertEqual(try logRecords(workA), try logRecords(workB))
        XCTAssertEqual(try HyperConvTrainer.checkpoints(in: workB.appendingPathComponent("checkpoints")).map(\.step), [5, 10])
    }

    func testStopsEarlyOnRequestWithACheckpoint() throws {
        var options = HyperConvTrainerOptions()
        options.steps = 10
        options.batchSize = 2
        options.checkpointEvery = 4
        let work = TestSupport.temporaryDirectory()
        var source = FixedPairs.make(config, count: 3, seed: 2)
        var trainer = try HyperConvTrainer(generator: HyperConvGenerator(config: config, seed: 1), options: options, workDirectory: work)
        var calls = 0
        let summary = try trainer.train(source: &source, shouldStop: { calls += 1; return calls == 6 })
        XCTAssertEqual(summary.steps, 6)
        XCTAssertFalse(trainer.isFinished)
        XCTAssertEqual(try HyperConvTrainer.checkpoints(in: work.appendingPathComponent("checkpoints")).map(\.step), [4, 6])
        var again = try HyperConvTrainer(generator: HyperConvGenerator(config: config, seed: 1), options: options, workDirectory: work)
        XCTAssertEqual(try again.resumeIfPossible(), 6)
        XCTAssertEqual(try again.train(source: &source).steps, 10)
        XCTAssertTrue(again.isFinished)
    }

    func testRefusesBadSourcesOptionsAndWeights() throws {
        let g = HyperConvGenerator(config: config, seed: 1)
        var options = HyperConvTrainerOptions()
        options.batchSize = 2
        struct Wrong: TrainingSampleSource {
            mutating func nextBatch(size: Int, rng: inout SeededRNG) throws -> (condition: Tensor, target: Tensor) {
                (Tensor(zeros: [size, 4, 6, 9]), Tensor(zeros: [size, 12, 4, 6]))
            }
        }
        var trainer = try HyperConvTrainer(generator: g, options: options)
        var wrong = Wrong()
        XCTAssertThrowsError(try trainer.trainStep(source: &wrong)) { XCTAssertTrue("\($0)".contains("[2, 4, 6, 8]"), "\($0)") }
        XCTAssertThrowsError(try HyperConvTrainer(generator: g, options: options, tokenWeights: Tensor(zeros: [5]))) {
            XCTAssertTrue("\($0)".contains("5 token loss weights"), "\($0)")
        }
        options.batchSize = 0
        XCTAssertThrowsError(try HyperConvTrainer(generator: g, options: options)) { XCTAssertTrue("\($0)".contains("batch_size")) }
        let decoded = try JSONDecoder().decode(HyperConvTrainerOptions.self, from: Data(#"{"steps": 7, "learning_rate": 0.5}"#.utf8))
        XCTAssertEqual(decoded.steps, 7)
        XCTAssertEqual(decoded.learningRate, 0.5)
        XCTAssertEqual(decoded.weightDecay, 0.1)
        XCTAssertEqual(decoded.clipNorm, 1.0)
        XCTAssertEqual(decoded.conditionNoise, 1e-4)
        XCTAssertEqual(decoded.targetNoise, 1e-5)
        XCTAssertThrowsError(try JSONDecoder().decode(HyperConvTrainerOptions.self, from: Data(#"{"clip_norm": -1}"#.utf8)))
    }

    func logRecords(_ work: URL) throws -> [[String: Double]] {
        let text = try String(contentsOf: work.appendingPathComponent("loss.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            var d = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double])
            d["elapsed"] = nil
            return d
        }
    }

    func logSteps(_ work: URL) throws -> [Int] { try logRecords(work).map { Int($0["step"]!) } }
}
