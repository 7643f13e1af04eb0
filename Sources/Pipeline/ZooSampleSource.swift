import Foundation
import Generator
import TensorCore

/// Training pairs drawn from the zoo (DESIGN "Training objective"): every sample picks a dataset, one of its
/// checkpoints, and a fresh random batch of N of its prompts. Prompt hidden states come precomputed (the encoder
/// is frozen), so a batch is only copies.
public struct ZooSampleSource: TrainingSampleSource {
    /// One dataset's material.
    public struct Entry {
        public var name: String
        /// Token-level hidden states of each prompt, `[P, L, H]`.
        public var hidden: Tensor
        /// Weight tokens of each checkpoint, `[K, T, r+2, cw+2]`.
        public var tokens: Tensor
        public init(name: String, hidden: Tensor, tokens: Tensor) { self.name = name; self.hidden = hidden; self.tokens = tokens }
    }

    public let entries: [Entry]
    /// Prompts per sample (N).
    public let prompts: Int

    public init(entries: [Entry], prompts: Int) throws {
        guard !entries.isEmpty else { throw DNDError("training: no datasets to sample from") }
        let l = entries[0].hidden.shape.dropFirst(), t = entries[0].tokens.shape.dropFirst()
        for e in entries {
            guard e.hidden.rank == 3, e.hidden.shape[0] > 0, e.hidden.shape.dropFirst() == l else {
                throw DNDError("training: dataset \(e.name) has prompt states \(e.hidden.shape), expected [P, \(l.map(String.init).joined(separator: ", "))]")
            }
            guard e.tokens.rank == 4, e.tokens.shape[0] > 0, e.tokens.shape.dropFirst() == t else {
                throw DNDError("training: dataset \(e.name) has checkpoint tokens \(e.tokens.shape), expected [K, \(t.map(String.init).joined(separator: ", "))]")
            }
        }
        self.entries = entries; self.prompts = prompts
    }

    /// N prompt indices of a dataset with P prompts: without replacement when P ≥ N, else every prompt once
    /// and the rest drawn again.
    public static func choosePrompts(_ n: Int, from p: Int, rng: inout SeededRNG) -> [Int] {
        if p >= n { return rng.sample(n, from: p) }
        var idx = rng.shuffled(Array(0..<p))
        while idx.count < n { idx.append(rng.int(below: p)) }
        return idx
    }

    /// One training sample's choices: a dataset (index into `entries`), one of its checkpoints and N of its prompts.
    public struct Draw: Equatable, Sendable {
        public var dataset: Int
        public var checkpoint: Int
        public var prompts: [Int]
    }

    /// The choices of `size` samples for datasets of `(prompts, checkpoints)` each, drawn from `rng` in this order
    /// per sample: dataset, checkpoint, prompts. `nextBatch` draws exactly these; `dnd export-training` writes them
    /// out as the sample schedule.
    public static func draw(size: Int, datasets: [(prompts: Int, checkpoints: Int)], n: Int, rng: inout SeededRNG) -> [Draw] {
        (0..<size).map { _ in
            let d = rng.int(below: datasets.count)
            let k = rng.int(below: datasets[d].checkpoints)
            return Draw(dataset: d, checkpoint: k, prompts: choosePrompts(n, from: datasets[d].prompts, rng: &rng))
        }
    }

    public mutating func nextBatch(size: Int, rng: inout SeededRNG) throws -> (condition: Tensor, target: Tensor) {
        let e0 = entries[0]
        let (l, h) = (e0.hidden.shape[1], e0.hidden.shape[2])
        let tokenShape = Array(e0.tokens.shape.dropFirst())
        let promptSize = l * h, targetSize = tokenShape.reduce(1, *)
        var condition = Tensor(uninitialized: [size, prompts, l, h])     // [B, N, L, H]
        var target = Tensor(uninitialized: [size] + tokenShape)          // [B, T, r+2, cw+2]
        let n = prompts
        let draws = ZooSampleSource.draw(size: size, datasets: entries.map { ($0.hidden.shape[0], $0.tokens.shape[0]) }, n: n, rng: &rng)
        condition.withUnsafeMutableBufferPointer { c in
            target.withUnsafeMutableBufferPointer { t in
                for (b, s) in draws.enumerated() {
                    let e = entries[s.dataset]
                    (t.baseAddress! + b * targetSize).update(from: e.tokens.pointer + s.checkpoint * targetSize, count: targetSize)
                    for (j, i) in s.prompts.enumerated() {
                        (c.baseAddress! + (b * n + j) * promptSize).update(from: e.hidden.pointer + i * promptSize, count: promptSize)
                    }
                }
            }
        }
        return (condition, target)
    }
}
