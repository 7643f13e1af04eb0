import Foundation
import Generator
import SafeTensors
import TensorCore

/// `manifest.json` of a `dnd export-training` folder: everything a trainer outside dnd needs, by file, with sizes and
/// SHA-256 of every file, written last (a folder without it is an incomplete export). Snake_case keys.
///
/// ```
/// OUT/manifest.json              this index
///     generator.json             the chain to train (GeneratorConfig, the file dnd writes into a generator folder)
///     layout.json                the weight-token layout (TokenLayout's JSON index: layer, module, matrix, chunk per token)
///     pipeline.json              the generator folder's pipeline.json, identity and trained_at left to the trainer
///     init.safetensors           dnd's initial weights for the seed (blocks.<i>.*)
///     schedule.safetensors       the sample order of `dnd train`: dataset [S, B], checkpoint [S, B], prompts [S, B, N] (I32)
///     weights.safetensors        token_weights [T] (the loss weights trained with), per_dataset [D, T]
///     datasets.safetensors       mean.<dataset> [H] (the generator folder's datasets.safetensors)
///     shards/prompts-DDDD-PPP.safetensors   hidden [p, L, H], pooled [p, H]: prompts first..<first+p of dataset DDDD
///     shards/targets-DDDD-PPP.safetensors   tokens [k, T, r+2, cw+2]: checkpoints first..<first+k of dataset DDDD
///     shards/weights-DDDD.safetensors       weights [T]: dataset DDDD's per-token loss weights
///     shards/*.safetensors.json             a shard's key, size and SHA-256: how a rerun knows it is complete
/// ```
public struct TrainingExportManifest: Codable, Sendable {
    public static let formatName = "dnd-training-export"
    public static let currentVersion = 1
    public static let fileName = "manifest.json"
    /// The single files, by name.
    public static let generatorFile = "generator.json", layoutFile = "layout.json", pipelineFile = "pipeline.json"
    public static let initFile = "init.safetensors", scheduleFile = "schedule.safetensors"
    public static let weightsFile = "weights.safetensors", datasetsFile = "datasets.safetensors"
    public static let shardsFolder = "shards"

    public var format: String = TrainingExportManifest.formatName
    public var version: Int = TrainingExportManifest.currentVersion
    public var dndVersion: String
    public var createdAt: String
    /// The zoo exported (`<root>/checkpoints`) and its `Zoo.fingerprint`.
    public var zoo: String
    public var zooFingerprint: String
    public var encoderIdentity: String
    public var holdout: [String]
    /// The settings of the run the export describes (`dnd train`'s), and the optimizer options they give.
    public var settings: TrainSettings
    public var training: HyperConvTrainerOptions
    /// `[N, L, H]` and `[T, r+2, cw+2]`.
    public var conditionShape: [Int]
    public var tokenShape: [Int]
    public var parameters: Int
    /// The single files (relative name → size, SHA-256).
    public var files: [String: FileEntry]
    public var datasets: [Dataset]
    public var shards: [Shard]

    /// A file's size and content hash.
    public struct FileEntry: Codable, Sendable, Equatable {
        public var bytes: Int
        public var sha256: String
    }

    /// One dataset: its prompts and checkpoints, and the shards holding them (consecutive ranges, in order).
    public struct Dataset: Codable, Sendable {
        public var name: String
        public var prompts: Int
        /// Checkpoint folder names, in training order (index = the schedule's checkpoint index).
        public var checkpoints: [String]
        public var promptShards: [String]
        public var targetShards: [String]
        public var weightsShard: String
        enum CodingKeys: String, CodingKey {
            case name, prompts, checkpoints, promptShards = "prompt_shards", targetShards = "target_shards", weightsShard = "weights_shard"
        }
    }

    /// What a shard holds.
    public enum Kind: String, Codable, Sendable { case prompts, targets, weights }

    /// One shard file: rows `first..<first+count` (prompts or checkpoints) of dataset `dataset`.
    public struct Shard: Codable, Sendable {
        public var file: String
        public var kind: Kind
        public var dataset: Int
        public var first: Int
        public var count: Int
        public var bytes: Int
        public var sha256: String
        /// Tensor name → dtype and shape.
        public var tensors: [String: TensorEntry]
    }

    public struct TensorEntry: Codable, Sendable, Equatable {
        public var dtype: String
        public var shape: [Int]
    }

    enum CodingKeys: String, CodingKey {
        case format, version, dndVersion = "dnd_version", createdAt = "created_at", zoo, zooFingerprint = "zoo_fingerprint"
        case encoderIdentity = "encoder_identity", holdout, settings, training, conditionShape = "condition_shape"
        case tokenShape = "token_shape", parameters, files, datasets, shards
    }

    /// Total bytes of every file the manifest lists.
    public var bytes: Int { files.values.reduce(0) { $0 + $1.bytes } + shards.reduce(0) { $0 + $1.bytes } }

    // MARK: - Reading and validation

    /// Reads `folder/manifest.json` and checks the folder against it: every file present with its size, every shard's
    /// tensors as listed and consistent with the chain, the schedule in range; with `full`, every SHA-256 too.
    /// Errors name the file and say what to do.
    public static func validate(folder: URL, full: Bool) throws -> TrainingExportManifest {
        let url = folder.appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DNDError("\(folder.path): no \(fileName); the export is incomplete or was interrupted, run `dnd export-training` again (complete shards are kept)")
        }
        let m: TrainingExportManifest
        do { m = try JSONDecoder().decode(TrainingExportManifest.self, from: data) } catch {
            throw DNDError("\(url.path): not a valid export manifest (\(error)); run `dnd export-training` again")
        }
        guard m.format == formatName, m.version >= 1, m.version <= currentVersion else {
            throw DNDError("\(url.path): format \(m.format) version \(m.version); this dnd reads \(formatName) versions 1…\(currentVersion)")
        }
        func check(_ name: String, _ bytes: Int, _ sha: String) throws {
            let u = folder.appendingPathComponent(name)
            let size = (try? FileManager.default.attributesOfItem(atPath: u.path)[.size] as? Int) ?? nil
            guard let size else { throw DNDError("\(u.path): missing; the export is damaged, run `dnd export-training` again") }
            guard size == bytes else { throw DNDError("\(u.path): \(size) bytes but the manifest says \(bytes); the export is damaged, run `dnd export-training` again") }
            if full {
                let got = try sha256(of: u)
                guard got == sha else { throw DNDError("\(u.path): SHA-256 \(got.prefix(16))… differs from the manifest's \(sha.prefix(16))…; the file is damaged, run `dnd export-training` again") }
            }
        }
        for name in [generatorFile, layoutFile, pipelineFile, initFile, scheduleFile, weightsFile, datasetsFile] {
            guard let f = m.files[name] else { throw DNDError("\(url.path): lists no \(name); run `dnd export-training` again") }
            try check(name, f.bytes, f.sha256)
        }
        let config = try GeneratorConfig.load(from: folder.appendingPathComponent(generatorFile))
        guard config.conditionShape == m.conditionShape, config.tokenShape == m.tokenShape else {
            throw DNDError("\(url.path): condition \(m.conditionShape) and tokens \(m.tokenShape) disagree with generator.json's \(config.conditionShape) and \(config.tokenShape)")
        }
        let (l, h) = (m.conditionShape[1], m.conditionShape[2])
        let byName = Dictionary(m.shards.map { ($0.file, $0) }, uniquingKeysWith: { a, _ in a })
        for s in m.shards {
            try check(s.file, s.bytes, s.sha256)
            let f = try SafeTensorsFile(url: folder.appendingPathComponent(s.file))
            let want: [String: [Int]]
            switch s.kind {
            case .prompts: want = ["hidden": [s.count, l, h], "pooled": [s.count, h]]
            case .targets: want = ["tokens": [s.count] + m.tokenShape]
            case .weights: want = ["weights": [m.tokenShape[0]]]
            }
            for (name, shape) in want {
                guard let info = f.info(name), info.dtype == .f32, info.shape == shape, s.tensors[name]?.shape == shape else {
                    throw DNDError("\(f.url.path): tensor '\(name)' should be F32 \(shape) (\(f.info(name).map { "\($0.dtype.rawValue) \($0.shape)" } ?? "missing")); the export is damaged, run `dnd export-training` again")
                }
            }
        }
        for (i, d) in m.datasets.enumerated() {
            for (kind, names, total) in [(Kind.prompts, d.promptShards, d.prompts), (.targets, d.targetShards, d.checkpoints.count)] {
                var next = 0
                for n in names {
                    guard let s = byName[n], s.kind == kind, s.dataset == i, s.first == next else {
                        throw DNDError("\(url.path): dataset \(d.name): shard \(n) is not the \(kind.rawValue) of rows \(next)… of dataset \(i); run `dnd export-training` again")
                    }
                    next += s.count
                }
                guard next == total, total > 0 else {
                    throw DNDError("\(url.path): dataset \(d.name): its \(kind.rawValue) shards hold \(next) rows, expected \(total) (at least 1)")
                }
            }
            guard let w = byName[d.weightsShard], w.kind == .weights, w.dataset == i else {
                throw DNDError("\(url.path): dataset \(d.name): no weights shard \(d.weightsShard)")
            }
        }
        try checkSchedule(m, folder: folder)
        return m
    }

    /// The schedule covers `training.steps` steps of `training.batch_size` samples, every index in range.
    static func checkSchedule(_ m: TrainingExportManifest, folder: URL) throws {
        let f = try SafeTensorsFile(url: folder.appendingPathComponent(scheduleFile))
        let (s, b, n) = (m.training.steps, m.training.batchSize, m.conditionShape[0])
        for (name, shape) in [("dataset", [s, b]), ("checkpoint", [s, b]), ("prompts", [s, b, n])] {
            guard let info = f.info(name), info.dtype == .i32, info.shape == shape else {
                throw DNDError("\(f.url.path): tensor '\(name)' should be I32 \(shape); run `dnd export-training` again")
            }
        }
        let ds = try f.integers("dataset"), ks = try f.integers("checkpoint"), ps = try f.integers("prompts")
        for i in 0..<(s * b) {
            let d = ds[i]
            guard d >= 0 && d < m.datasets.count, ks[i] >= 0 && ks[i] < m.datasets[d].checkpoints.count,
                  ps[(i * n)..<((i + 1) * n)].allSatisfy({ $0 >= 0 && $0 < m.datasets[d].prompts }) else {
                throw DNDError("\(f.url.path): sample \(i % b) of step \(i / b) indexes beyond dataset \(d)'s checkpoints or prompts; run `dnd export-training` again")
            }
        }
    }

    /// SHA-256 of a file, read in 4 MiB pieces (hex).
    public static func sha256(of url: URL) throws -> String {
        guard let h = FileHandle(forReadingAtPath: url.path) else { throw DNDError("\(url.path): cannot open for reading") }
        defer { try? h.close() }
        var hasher = SHA256()
        while true {
            let chunk = try h.read(upToCount: 4 << 20) ?? Data()
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return Hashing.hex(hasher.finalize())
    }
}
