import ArgumentParser
import Foundation
import SafeTensors
import TensorCore
import TextEncoder

/// `dnd debug embed`: each sentence encoded alone; token states and sentence embedding per sentence.
struct DebugEmbed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Encode each sentence of a JSON array alone; write hidden.<i> [T_i, H] and pooled.<i> [H].")

    @Option(help: "Encoder folder (sentence-transformers BERT folder).") var model: String
    @Option(help: "JSON array of strings.") var input: String
    @Option(help: "Output .safetensors file.") var out: String

    func run() throws {
        let sentences = try readJSONStrings(input)
        let encoder = try SentenceEncoder(folder: URL(fileURLWithPath: model))
        let h = encoder.hiddenSize
        var tensors: [String: Tensor] = [:]
        let t0 = DispatchTime.now().uptimeNanoseconds
        for (i, s) in sentences.enumerated() {
            let t = encoder.tokenize(s).count
            let (hidden, pooled) = encoder.encode([s], length: t)
            tensors["hidden.\(i)"] = hidden.reshaped([t, h])
            tensors["pooled.\(i)"] = pooled.reshaped([h])
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        try SafeTensorsWriter.write(tensors, to: URL(fileURLWithPath: out), metadata: ["encoder": encoder.identity])
        print(String(format: "encoded %d sentences one at a time in %.2f s with %@ → %@", sentences.count, seconds, encoder.identity, out))
    }
}
