import Foundation
import Generator
import LoRA
import SafeTensors
import TensorCore
import TextEncoder

/// `dnd export-training`: writes what a trainer outside dnd (dnd_torch under torchrun) needs to train the generator
/// `dnd train` would train on a zoo — targets, loss weights, prompt states, chain, options, initial weights and
/// sample order — as safetensors shards plus `manifest.json` (see `TrainingExportManifest` for the layout).
///
/// Streamed: one shard is built at a time (a target shard one checkpoint at a time), so a zoo larger than memory
/// exports. Resumable: each shard has a sidecar with the hash of its inputs and its own SHA-256; a rerun keeps every
/// shard whose inputs are unchanged and whose bytes still hash right, and rebuilds the rest. The manifest is removed
/// first and written last, then the whole folder is validated against it.
public enum TrainingExport {
    /// What one export did.
    public struct Outcome: Sendable {
        public var manifest: TrainingExportManifest
        /// Shards written by this run, and kept from an earlier one.
        public var written: Int
        public var reused: Int
        public var seconds: Double
    }

    /// Default upper bound of one shard's size.
    public static let defaultShardBytes = 256 << 20

    /// Exports `zoo` for `settings` into `output` (created if needed); prompt states come from `cache` (shared with
    /// `dnd train`), `encoder` encodes the ones it lacks.
    public static func run(zoo: Zoo, encoder: SentenceEncoder, cache: EmbeddingCache, settings: TrainSettings, holdout: [String],
                           output: URL, shardBytes: Int = defaultShardBytes, dndVersion: String,
                           log: (String) -> Void = { _ in }) throws -> Outcome {
        let t0 = Date()
        guard shardBytes >= 1 << 16 else { throw DNDError("export: shard size \(shardBytes) bytes is too small; use at least 64 KiB") }
        let (encoderIdentity, hidden) = (encoder.identity, encoder.hiddenSize)
        let plan = try TrainingPlan(zoo: zoo, encoderIdentity: encoderIdentity, hidden: hidden, settings: settings)
        let fm = FileManager.default
        let shardsDir = output.appendingPathComponent(TrainingExportManifest.shardsFolder)
        do { try fm.createDirectory(at: shardsDir, withIntermediateDirectories: true) } catch {
            throw DNDError("\(output.path): cannot create the export folder (\(error.localizedDescription)); check permissions")
        }
        // From here until the end the folder is an incomplete export.
        try? fm.removeItem(at: output.appendingPathComponent(TrainingExportManifest.fileName))

        let layout = plan.layout
        let layoutData = try layout.jsonData()
        let layoutKey = Hashing.sha256Hex(layoutData)
        let (l, h) = (settings.length, hidden)
        let tokenShape = layout.shape, tokenBytes = tokenShape.reduce(1, *) * 4
        var writer = ShardSet(folder: output)
        // Residual targets are relative to the zoo's mean adapter (the conditions' statistics are fitted below, from the
        // exported raw states; the trainer standardizes with them).
        // A prompt head reads every dataset's feature before any target is written (through the cache, so the shards
        // below find the prompts encoded).
        let head = settings.effectiveHead
        let encode: EmbeddingCache.Encode = { encoder.encode($0, length: l) }
        let features = head == .none ? [] : try zoo.datasets.indices.map { i in
            try PromptHead.feature(settings.headFeature, prompts: plan.prompts[i], pooled: try cache.embed(plan.prompts[i], encode: encode).pooled) {
                try encoder.pooled($0, cache: cache)
            }
        }
        let meanOnly = try TargetNormalization.fit(datasets: zoo.datasets.map(\.adapters), hidden: [], targets: settings.targets, condition: .raw,
                                                   head: head, features: features, feature: settings.headFeature, ridge: settings.headRidge)
        // ("shared-exact": shards from before shared matrices had exactly zero targets are not reused; a head's
        // targets depend on its ridge and every dataset's prompts.)
        let headKey = meanOnly.head == nil ? "" : "head-ridge-\(settings.headRidge)-\(settings.headFeature.rawValue)-" + Hashing.sha256Hex(features.reduce(into: Data()) { d, f in f.withUnsafeBufferPointer { d.append(Data(buffer: $0)) } })
        let targetsKey = settings.targets.rawValue + (meanOnly.meanAdapter == nil ? "" : "shared-exact" + Hashing.sha256Hex(parts: zoo.datasets.flatMap { d in d.checkpoints.map { checkpointSignature($0, zoo: zoo.root) } })) + headKey
        var datasets: [TrainingExportManifest.Dataset] = []
        var perDataset: [[Float]] = []
        var means: [String: Tensor] = [:]
        for (i, d) in zoo.datasets.enumerated() {
            let signatures = d.checkpoints.map { checkpointSignature($0, zoo: zoo.root) }
            // Prompt states, through the embedding cache (the encoder is frozen): the states `dnd train` trains on.
            let prompts = plan.prompts[i]
            var promptShards: [String] = [], pooled: [Tensor] = []
            for (j, range) in parts(prompts.count, rowBytes: (l * h + h) * 4, shardBytes: shardBytes).enumerated() {
                let name = String(format: "prompts-%04d-%03d.safetensors", i, j)
                let key = Hashing.sha256Hex(parts: ["prompts", String(TrainingExportManifest.currentVersion), encoderIdentity, String(l)] + prompts[range])
                let entries = [SafeTensorsStreamWriter.Entry("hidden", .f32, [range.count, l, h]), .init("pooled", .f32, [range.count, h])]
                try writer.shard(name, key: key, kind: .prompts, dataset: i, first: range.lowerBound, count: range.count, entries: entries) { w in
                    let (hs, ps) = try cache.embed(Array(prompts[range])) { encoder.encode($0, length: l) }
                    try w.append(hs); try w.append(ps)
                }
                pooled.append(try SafeTensorsFile(url: shardsDir.appendingPathComponent(name)).tensor("pooled").map { $0 })
                promptShards.append("\(TrainingExportManifest.shardsFolder)/\(name)")
            }
            means[d.name] = Similarity.normalizedMean(Tensor.concatenate(pooled))
            // Targets: one checkpoint's tokens at a time.
            var targetShards: [String] = []
            for (j, range) in parts(d.adapters.count, rowBytes: tokenBytes, shardBytes: shardBytes).enumerated() {
                let name = String(format: "targets-%04d-%03d.safetensors", i, j)
                let key = Hashing.sha256Hex(parts: ["targets", String(TrainingExportManifest.currentVersion), layoutKey, targetsKey] + signatures[range])
                try writer.shard(name, key: key, kind: .targets, dataset: i, first: range.lowerBound, count: range.count,
                                 entries: [.init("tokens", .f32, [range.count] + tokenShape)]) { w in
                    for k in range { try w.append(try WeightTokenizer.tokenize(meanOnly.target(d.adapters[k], feature: features.isEmpty ? nil : features[i]), layout: layout)) }
                }
                targetShards.append("\(TrainingExportManifest.shardsFolder)/\(name)")
            }
            // The dataset's per-token loss weights (the spread across its checkpoints).
            let weightsName = String(format: "weights-%04d.safetensors", i)
            let weightsKey = Hashing.sha256Hex(parts: ["weights", String(TrainingExportManifest.currentVersion), layoutKey] + signatures)
            try writer.shard(weightsName, key: weightsKey, kind: .weights, dataset: i, first: 0, count: layout.count,
                             entries: [.init("weights", .f32, [layout.count])]) { w in
                try w.append(Tensor(shape: [layout.count], data: try LossWeights.perToken(checkpoints: d.adapters, layout: layout)))
            }
            perDataset.append(try SafeTensorsFile(url: shardsDir.appendingPathComponent(weightsName)).tensor("weights").array)
            datasets.append(.init(name: d.name, prompts: prompts.count, checkpoints: d.checkpoints.map(\.lastPathComponent),
                                  promptShards: promptShards, targetShards: targetShards,
                                  weightsShard: "\(TrainingExportManifest.shardsFolder)/\(weightsName)"))
            log("dataset \(i + 1)/\(zoo.datasets.count) \(d.name): \(prompts.count) prompts, \(d.adapters.count) checkpoints (\(writer.written) shards written, \(writer.reused) kept)")
        }

        // The single files: small, rewritten every run.
        var files: [String: TrainingExportManifest.FileEntry] = [:]
        func put(_ name: String, _ data: Data) throws {
            try AtomicFile.write(data, to: output.appendingPathComponent(name))
            files[name] = .init(bytes: data.count, sha256: Hashing.sha256Hex(data))
        }
        func putTensors(_ name: String, _ tensors: [String: Tensor], metadata: [String: String] = [:]) throws {
            try put(name, try SafeTensorsWriter.serialize(tensors.mapValues { .float($0, .f32) }, metadata: metadata))
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try put(TrainingExportManifest.generatorFile, try plan.config.encoded())
        try put(TrainingExportManifest.layoutFile, layoutData)
        try put(TrainingExportManifest.pipelineFile, try enc.encode(plan.metadata(zoo: zoo, holdout: holdout, trainedAt: "")))
        let tokenWeights = try LossWeights.average(perDataset)
        try putTensors(TrainingExportManifest.weightsFile, [
            "token_weights": Tensor(shape: [layout.count], data: tokenWeights),
            "per_dataset": Tensor(shape: [perDataset.count, layout.count], data: perDataset.flatMap { $0 }),
        ])
        try putTensors(TrainingExportManifest.datasetsFile, Dictionary(uniqueKeysWithValues: means.map { ("mean.\($0.key)", $0.value) }))
        // normalization.safetensors: the mean adapter of residual targets and the statistics of standardized conditions
        // (absent when the settings are the paper's); the trainer copies it into the generator folder it writes.
        var normalization = meanOnly
        if settings.condition == .standardized {
            let states = try datasets.flatMap { d in try d.promptShards.map { try SafeTensorsFile(url: output.appendingPathComponent($0)).tensor("hidden") } }
            let stats = try TargetNormalization.fit(datasets: [], hidden: states, targets: .checkpoints, condition: .standardized)
            normalization.conditionMean = stats.conditionMean; normalization.conditionStd = stats.conditionStd
        }
        try? fm.removeItem(at: output.appendingPathComponent(TargetNormalization.file))
        if !normalization.isIdentity { try putTensors(TargetNormalization.file, normalization.tensors, metadata: normalization.metadata) }
        let initial = plan.initialGenerator()
        try putTensors(TrainingExportManifest.initFile, initial.parameters, metadata: ["format": "dnd-generator", "version": String(plan.config.format)])
        try writeSchedule(plan: plan, datasets: datasets, to: output.appendingPathComponent(TrainingExportManifest.scheduleFile), files: &files)
        try writer.removeStale()

        let manifest = TrainingExportManifest(
            dndVersion: dndVersion, createdAt: ISO8601DateFormatter().string(from: Date()), zoo: zoo.root.path,
            zooFingerprint: Zoo.fingerprint(zoo.root), encoderIdentity: encoderIdentity, holdout: holdout, settings: settings,
            training: plan.options, conditionShape: plan.config.conditionShape, tokenShape: tokenShape,
            parameters: initial.parameterCount, files: files, datasets: datasets, shards: writer.shards)
        try AtomicFile.write(try enc.encode(manifest), to: output.appendingPathComponent(TrainingExportManifest.fileName))
        let checked = try TrainingExportManifest.validate(folder: output, full: true)
        return Outcome(manifest: checked, written: writer.written, reused: writer.reused, seconds: Date().timeIntervalSince(t0))
    }

    /// `dnd train`'s sample order for the plan: step `s` draws its batch from `HyperConvTrainer.stepRNG(seed, s)`
    /// exactly as `ZooSampleSource` does. `dataset` [S, B], `checkpoint` [S, B], `prompts` [S, B, N], I32.
    static func writeSchedule(plan: TrainingPlan, datasets: [TrainingExportManifest.Dataset], to url: URL,
                              files: inout [String: TrainingExportManifest.FileEntry]) throws {
        let (s, b, n) = (plan.options.steps, plan.options.batchSize, plan.config.prompts)
        let sizes = datasets.map { (prompts: $0.prompts, checkpoints: $0.checkpoints.count) }
        var ds: [Int32] = [], ks: [Int32] = [], ps: [Int32] = []
        ds.reserveCapacity(s * b); ks.reserveCapacity(s * b); ps.reserveCapacity(s * b * n)
        for step in 0..<s {
            var rng = HyperConvTrainer.stepRNG(seed: plan.options.seed, step: step)
            for d in ZooSampleSource.draw(size: b, datasets: sizes, n: n, rng: &rng) {
                ds.append(Int32(d.dataset)); ks.append(Int32(d.checkpoint)); ps.append(contentsOf: d.prompts.map { Int32($0) })
            }
        }
        var hasher = SHA256()
        var bytes = 0
        let w = try SafeTensorsStreamWriter(url: url, entries: [.init("dataset", .i32, [s, b]), .init("checkpoint", .i32, [s, b]),
                                                                 .init("prompts", .i32, [s, b, n])],
                                            metadata: ["seed": String(plan.options.seed)]) { buf in hasher.update(bufferPointer: buf); bytes += buf.count }
        try w.append(int32: ds); try w.append(int32: ks); try w.append(int32: ps)
        try w.finish()
        files[url.lastPathComponent] = .init(bytes: bytes, sha256: Hashing.hex(hasher.finalize()))
    }

    /// Consecutive row ranges of at most `shardBytes` each (at least one row per shard).
    static func parts(_ rows: Int, rowBytes: Int, shardBytes: Int) -> [Range<Int>] {
        let per = max(1, shardBytes / max(1, rowBytes))
        return stride(from: 0, to: rows, by: per).map { $0..<min(rows, $0 + per) }
    }

    /// What a checkpoint's tokens depend on: its folder (relative to the zoo) and its files' sizes and mtimes.
    static func checkpointSignature(_ folder: URL, zoo: URL) -> String {
        let rel = folder.standardizedFileURL.path.dropFirst(zoo.standardizedFileURL.path.count)
        let files = [LoRAAdapter.configFile, LoRAAdapter.weightsFile].map { name -> String in
            let a = try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)
            let t = (a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(name)\t\((a?[.size] as? Int) ?? -1)\t\(String(format: "%.6f", t))"
        }
        return ([String(rel)] + files).joined(separator: "\t")
    }

    /// The shards of one export: writes or keeps each, and remembers them for the manifest.
    struct ShardSet {
        let folder: URL
        var shards: [TrainingExportManifest.Shard] = []
        var written = 0, reused = 0

        init(folder: URL) { self.folder = folder }

        var shardsDir: URL { folder.appendingPathComponent(TrainingExportManifest.shardsFolder) }

        /// A shard's sidecar: the key of its inputs, its size and SHA-256.
        struct Sidecar: Codable { var key: String; var bytes: Int; var sha256: String }

        /// Keeps `shards/<name>` when its sidecar has `key` and the file still hashes to the recorded SHA-256;
        /// otherwise writes it through `fill` (streamed) and then its sidecar.
        mutating func shard(_ name: String, key: String, kind: TrainingExportManifest.Kind, dataset: Int, first: Int, count: Int,
                            entries: [SafeTensorsStreamWriter.Entry], fill: (SafeTensorsStreamWriter) throws -> Void) throws {
            let url = shardsDir.appendingPathComponent(name), sideURL = shardsDir.appendingPathComponent(name + ".json")
            let tensors = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, TrainingExportManifest.TensorEntry(dtype: $0.dtype.rawValue, shape: $0.shape)) })
            if let data = FileManager.default.contents(atPath: sideURL.path), let side = try? JSONDecoder().decode(Sidecar.self, from: data),
               side.key == key, (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) == side.bytes,
               (try? TrainingExportManifest.sha256(of: url)) == side.sha256 {
                shards.append(.init(file: "\(TrainingExportManifest.shardsFolder)/\(name)", kind: kind, dataset: dataset, first: first,
                                    count: count, bytes: side.bytes, sha256: side.sha256, tensors: tensors))
                reused += 1
                return
            }
            try? FileManager.default.removeItem(at: sideURL)
            var hasher = SHA256()
            var bytes = 0
            let w = try SafeTensorsStreamWriter(url: url, entries: entries, metadata: ["kind": kind.rawValue, "dataset": String(dataset), "first": String(first)]) { buf in
                hasher.update(bufferPointer: buf); bytes += buf.count
            }
            try fill(w)
            try w.finish()
            let side = Sidecar(key: key, bytes: bytes, sha256: Hashing.hex(hasher.finalize()))
            try AtomicFile.write(try JSONEncoder().encode(side), to: sideURL)
            shards.append(.init(file: "\(TrainingExportManifest.shardsFolder)/\(name)", kind: kind, dataset: dataset, first: first,
                                count: count, bytes: side.bytes, sha256: side.sha256, tensors: tensors))
            written += 1
        }

        /// Removes files under shards/ that this export does not list (a smaller zoo, a wider shard size, temp files).
        func removeStale() throws {
            let keep = Set(shards.flatMap { s -> [String] in let n = (s.file as NSString).lastPathComponent; return [n, n + ".json"] })
            for name in (try? FileManager.default.contentsOfDirectory(atPath: shardsDir.path)) ?? [] where !keep.contains(name) {
                try? FileManager.default.removeItem(at: shardsDir.appendingPathComponent(name))
            }
        }
    }
}
