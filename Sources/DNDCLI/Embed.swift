import ArgumentParser
import Foundation
import Pipeline
import Prompts
import SafeTensors
import TextEncoder

/// `dnd embed`: sentence embeddings (and optionally token states) of a prompt file.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode the prompts of a .jsonl/.json/.txt file with the sentence encoder.",
        discussion: """
        Writes `pooled` [N, H] (the L2-normalised sentence embeddings), `sentences` [N, H] (each prompt's mean
        embedding of its sentences, split after `.`, `?` or `!` and white space: what a prompt head of `sentences`
        reads besides `pooled`) and, with --length L, `hidden` [N, L, H] (token states zero-padded or truncated to
        L tokens: what the generator is conditioned on).
        """)

    @Option(help: "Prompt file: .jsonl (one {\"prompt\": …} a line), .json or .txt (one prompt a line).") var input: String
    @Option(help: "Encoder folder (default: $DND_ENCODER or the installed all-MiniLM-L6-v2).") var model: String?
    @Option(help: "Output .safetensors file.") var out: String
    @Option(help: "Also write token states `hidden` [N, L, H] padded or truncated to this many tokens.") var length: Int?

    func validate() throws {
        if let l = length, l < 1 { throw ValidationError("--length must be at least 1") }
    }

    func run() throws {
        let records = try PromptFile.read(URL(fileURLWithPath: input))
        let folder = try model.map { URL(fileURLWithPath: $0) } ?? SentenceEncoder.defaultFolder()
        let encoder = try SentenceEncoder(folder: folder)
        let texts = records.map(\.prompt)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let tokenized = texts.map(encoder.tokenizer.encodeCountingPieces)
        let (hidden, pooled) = try encoder.encode(tokenIDs: tokenized.map(\.ids), length: length)
        var sentenceCount = 0
        let sentences = try PromptHead.sentenceMeans(texts, pooled: pooled) { parts in
            sentenceCount = parts.count
            return try encoder.pooled(parts, cache: nil)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        var tensors = ["pooled": pooled, "sentences": sentences]
        if length != nil { tensors["hidden"] = hidden }
        var metadata = ["encoder": encoder.identity, "input": input]
        if let l = length { metadata["length"] = String(l) }
        try SafeTensorsWriter.write(tensors, to: URL(fileURLWithPath: out), metadata: metadata)
        let truncated = tokenized.filter { $0.pieces + 2 > encoder.maxSequenceLength }.count
        let tokens = tokenized.reduce(0) { $0 + $1.ids.count }
        var summary = "embedded \(texts.count) prompts (\(tokens) tokens"
        if truncated > 0 { summary += ", \(truncated) truncated to \(encoder.maxSequenceLength)" }
        if sentenceCount > 0 { summary += "; \(sentenceCount) sentences of the prompts that have several" }
        summary += String(format: ") in %.2f s (%.1f prompts/s) with %@", seconds, Double(texts.count) / max(seconds, 1e-9), encoder.identity)
        summary += "\nwrote pooled \(pooled.shape), sentences \(sentences.shape)" + (length != nil ? ", hidden \(hidden.shape)" : "") + " → \(out)"
        print(summary)
    }
}
