import Foundation
import LoRA
import Prompts
import TensorCore

/// One training dataset of the zoo: `checkpoints/<name>/prompts.jsonl` plus its PEFT checkpoint folders.
public struct ZooDataset: Sendable {
    public var name: String
    public var folder: URL
    public var prompts: [PromptRecord]
    /// Checkpoint folders, sorted by name (natural order: checkpoint-9 before checkpoint-10).
    public var checkpoints: [URL]
    /// The checkpoints, loaded (memory-mapped) and validated, in the order of `checkpoints`.
    public var adapters: [LoRAAdapter]
}

/// The checkpoint zoo under `checkpoints/`: scanning, validation and a fingerprint.
///
/// Rules: every dataset folder (not starting with a dot) holds `prompts.jsonl` (or `.json`/`.txt`) and at least
/// one PEFT LoRA folder; every checkpoint in the zoo has the same base model, rank, alpha, target modules and
/// tensor shapes, so that one generator can learn them all.
public struct Zoo: Sendable {
    public var root: URL
    public var datasets: [ZooDataset]
    /// The shared adapter geometry, from the first checkpoint.
    public var reference: LoRAAdapter
    /// Datasets skipped while scanning and why (incomplete copies, no checkpoints yet).
    public var warnings: [String]

    public static let promptFileNames = ["prompts.jsonl", "prompts.json", "prompts.txt"]

    /// Scans `root`; `holdout` names datasets to leave out (each must exist).
    public static func scan(_ root: URL, holdout: [String] = [], limits: PromptLimits = PromptLimits()) throws -> Zoo {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
            throw DNDError("\(root.path): no checkpoint zoo here; create checkpoints/<dataset>/ with prompts.jsonl and PEFT checkpoint folders (dnd finetune writes them)")
        }
        let names = try fm.contentsOfDirectory(atPath: root.path).filter { !$0.hasPrefix(".") }.sorted(by: naturalLess)
        for h in holdout where !names.contains(h) {
            throw DNDError("\(root.path): --holdout \(h) names no dataset; datasets are: \(names.joined(separator: ", "))")
        }
        var datasets: [ZooDataset] = []
        var warnings: [String] = []
        for name in names where !holdout.contains(name) {
            let folder = root.appendingPathComponent(name)
            guard isDirectory(folder) else { continue }
            guard let promptFile = promptFileNames.map({ folder.appendingPathComponent($0) }).first(where: { fm.fileExists(atPath: $0.path) }) else {
                warnings.append("\(folder.path): skipped, no prompts.jsonl (add the dataset's prompts next to its checkpoints)")
                continue
            }
            let entries = try fm.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") }.sorted(by: naturalLess)
            let ckpts = entries.map { folder.appendingPathComponent($0) }
                .filter { fm.fileExists(atPath: $0.appendingPathComponent(LoRAAdapter.configFile).path) }
            guard !ckpts.isEmpty else {
                warnings.append("\(folder.path): skipped, no checkpoint folders (each needs adapter_config.json and adapter_model.safetensors)")
                continue
            }
            let prompts = try PromptFile.read(promptFile, limits: limits)
            let adapters = try ckpts.map { try LoRAAdapter(folder: $0) }
            datasets.append(ZooDataset(name: name, folder: folder, prompts: prompts, checkpoints: ckpts, adapters: adapters))
        }
        let all = datasets.flatMap(\.adapters)
        guard let ref = all.first else {
            throw DNDError("\(root.path): no usable dataset (each needs prompts.jsonl and at least one PEFT checkpoint folder)\(warnings.isEmpty ? "" : "; " + warnings.joined(separator: "; "))")
        }
        for a in all where a.config.baseModelNameOrPath != ref.config.baseModelNameOrPath {
            throw DNDError("\(a.origin) and \(ref.origin) disagree: base model '\(a.config.baseModelNameOrPath ?? "none")' vs '\(ref.config.baseModelNameOrPath ?? "none")'; every checkpoint of the zoo must be trained on the same base model")
        }
        try ZooConsistency.check(all)
        return Zoo(root: root, datasets: datasets, reference: ref, warnings: warnings)
    }

    /// The fingerprint of a zoo with no file in it: nothing to train on.
    public static let emptyFingerprint = "empty"

    /// The one fingerprint of `checkpoints/` (the daemon's retraining trigger, the training's resume key, the
    /// generator's record of its zoo): SHA-256 over every regular file's relative path, size and modification time
    /// under `root`, hidden files and folders skipped, links not followed. It changes whenever a checkpoint or prompt
    /// file is added, removed or rewritten; `emptyFingerprint` when there is no file. Plain `lstat` calls (no owner or
    /// group look-ups), so a large zoo is cheap to fingerprint at every rescan.
    public static func fingerprint(_ root: URL) -> String {
        var rows: [String] = []
        func walk(_ dir: URL, _ rel: String, depth: Int) {
            guard depth < 32 else { return }
            for name in Rename.names(dir) where !name.hasPrefix(".") {
                let url = dir.appendingPathComponent(name)
                var st = stat()
                guard lstat(url.path, &st) == 0 else { continue }
                let path = rel + "/" + name
                switch st.st_mode & S_IFMT {
                case S_IFDIR: walk(url, path, depth: depth + 1)
                case S_IFREG:
                    // The seconds as Foundation's file dates give them (the text of the fingerprint predates this walk).
                    let t = Date(timeIntervalSinceReferenceDate: (Double(st.st_mtim.tv_sec) - Date.timeIntervalBetween1970AndReferenceDate)
                                 + Double(st.st_mtim.tv_nsec) / 1e9).timeIntervalSince1970
                    rows.append("\(path)\t\(st.st_size)\t\(String(format: "%.6f", t))")
                default: continue
                }
            }
        }
        walk(root, "", depth: 0)
        guard !rows.isEmpty else { return emptyFingerprint }
        return Hashing.sha256Hex(parts: rows.sorted())
    }

    static func isDirectory(_ url: URL) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &d) && d.boolValue
    }
}

/// Natural order: digit runs compare as numbers (checkpoint-9 < checkpoint-10).
public func naturalLess(_ a: String, _ b: String) -> Bool {
    a.compare(b, options: [.numeric]) == .orderedAscending
}
