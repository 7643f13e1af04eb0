import ArgumentParser
import Foundation
import LoRA
import SafeTensors

/// `dnd debug lora-tokens`: an adapter's DnD weight tokens and their layout, for parity checks.
struct LoRATokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lora-tokens",
        abstract: "Cut a PEFT LoRA adapter into DnD weight tokens [T, r+2, cw+2] (and write their layout)."
    )

    @Option(help: "A PEFT LoRA folder (adapter_config.json + adapter_model.safetensors).") var adapter: String
    @Option(help: "Chunk width cw: columns of lora_A / lora_B transposed per token.") var chunkWidth: Int
    @Option(help: "Output .safetensors file; holds one float32 tensor 'tokens' [T, r+2, cw+2].") var out: String
    @Option(help: "Also write the token layout (layer, module, matrix, chunk, width, start, key per token) as JSON.") var layout: String?

    func validate() throws {
        guard chunkWidth >= 1 else { throw ValidationError("--chunk-width must be at least 1 (got \(chunkWidth))") }
    }

    func run() throws {
        let folder = URL(fileURLWithPath: adapter)
        let a = try LoRAAdapter(folder: folder)
        var (tokens, lay) = try WeightTokenizer.tokenize(a, chunkWidth: chunkWidth)
        lay.adapter = folder.standardizedFileURL.lastPathComponent
        try SafeTensorsWriter.write(["tokens": tokens], to: URL(fileURLWithPath: out), metadata: [
            "chunk_width": String(chunkWidth), "rank": String(lay.rank), "num_tokens": String(lay.count),
        ])
        if let layout { try lay.write(to: URL(fileURLWithPath: layout)) }
        print("\(lay.count) tokens of shape \(lay.tokenShape) (rank \(lay.rank), chunk width \(chunkWidth), \(lay.sites.count) sites) -> \(out)")
    }
}
