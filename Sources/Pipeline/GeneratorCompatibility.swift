import Foundation
import Generator
import LoRA
import TensorCore
import TextEncoder

/// Whether a generator folder trained elsewhere (dnd_torch) can serve a root: its identity matches its weights, it
/// was trained on conditions of this encoder, it emits adapters shaped like the root's checkpoints, and it runs.
public enum GeneratorCompatibility {
    /// The files of a generator folder, in the order they are copied.
    public static func files(in folder: URL) -> [String] { GeneratorBundle.files(in: folder) }

    /// Throws (naming the folder, the mismatch and the fix) when `bundle` cannot serve `zoo` with `encoder`; returns
    /// notes for what is allowed but worth saying. `zoo` nil: the root has no checkpoints yet, shapes are not compared.
    public static func check(_ bundle: GeneratorBundle, encoder: SentenceEncoder, zoo: Zoo?) throws -> [String] {
        let folder = bundle.folder.path, c = bundle.config
        var notes: [String] = []
        let weights = try Data(contentsOf: bundle.folder.appendingPathComponent(HyperConvGenerator.weightsFile), options: .alwaysMapped)
        let identity = "gen-" + String(Hashing.sha256Hex(weights).prefix(16))
        guard bundle.metadata.identity == identity else {
            throw DNDError("\(folder): pipeline.json names identity '\(bundle.metadata.identity)' but the weights hash to \(identity); the folder was changed after it was written, write it again")
        }
        guard c.encoderIdentity == encoder.identity, c.hidden == encoder.hiddenSize else {
            throw DNDError("\(folder): the generator was trained on conditions of encoder '\(c.encoderIdentity)' (hidden \(c.hidden)) but this root uses '\(encoder.identity)' (hidden \(encoder.hiddenSize)); export and train with the root's encoder")
        }
        if let zoo {
            let ref = zoo.reference
            let want = try TokenLayout(adapter: ref, chunkWidth: c.chunkWidth), have = try bundle.layout()
            guard want.rank == have.rank, want.tokens == have.tokens else {
                throw DNDError("\(folder): the generator emits rank \(have.rank) adapters of \(have.count) weight tokens (\(c.layers) layers of \(c.targetModules.joined(separator: ","))) but the checkpoints under \(zoo.root.path) are rank \(want.rank), \(want.count) tokens at chunk width \(c.chunkWidth) (\(ref.layerCount) layers of \(ref.modules.map(\.rawValue).joined(separator: ","))); export this root's zoo and train again")
            }
            guard c.loraAlpha == ref.config.loraAlpha, bundle.metadata.useRslora == ref.config.useRslora else {
                throw DNDError("\(folder): the generator writes lora_alpha \(c.loraAlpha) (rsLoRA \(bundle.metadata.useRslora)) but the checkpoints have \(ref.config.loraAlpha) (rsLoRA \(ref.config.useRslora)); export this root's zoo and train again")
            }
            if c.baseModel != ref.config.baseModelNameOrPath {
                notes.append("the generator names base model '\(c.baseModel ?? "none")', the checkpoints '\(ref.config.baseModelNameOrPath ?? "none")'")
            }
            let missing = bundle.metadata.datasets.filter { d in !zoo.datasets.contains { $0.name == d } }
            if !missing.isEmpty { notes.append("trained on datasets not in this root's checkpoints/: \(missing.joined(separator: ", "))") }
        } else {
            notes.append("the root has no checkpoints yet: the adapter shapes were not compared with a zoo")
        }
        // It runs: a zero condition gives finite tokens that decode into an adapter.
        let tokens = try bundle.generator.forward(Tensor(zeros: [1] + c.conditionShape))
        guard !tokens.hasNonFinite else { throw DNDError("\(folder): the generator's output holds NaN or infinite values; retrain it") }
        _ = try WeightTokenizer.detokenize(tokens.reshaped(c.tokenShape), layout: try bundle.layout(), config: bundle.loraConfig)
        return notes
    }
}
