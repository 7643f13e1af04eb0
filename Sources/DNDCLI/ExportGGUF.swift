import ArgumentParser
import Foundation
import LLM
import LoRA
import Pipeline
import TensorCore

/// `dnd export-gguf`: a PEFT LoRA folder → `adapter.gguf` in llama.cpp's LoRA layout, natively (no Python).
struct ExportGGUF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-gguf",
        abstract: "Convert a PEFT LoRA folder (a zoo checkpoint, someone else's LoRA) to adapter.gguf for llama.cpp and Ollama.",
        discussion: """
        Writes what llama.cpp's convert_lora_to_gguf.py --outtype f32 writes: general.type = adapter, adapter.type = lora,
        adapter.lora.alpha, F32 blk.<l>.<module>.weight.lora_a/lora_b, the q/k lora_b rows permuted for llama bases, rsLoRA
        alphas rescaled. The base model's files give the architecture and heads (its weights are not read): --base, else the
        adapter's base_model_name_or_path when it is a model on this machine.
        """
    )

    @Argument(help: "A PEFT LoRA folder (adapter_config.json + adapter_model.safetensors).") var adapterDir: String
    @Option(name: .long, help: "The base model: a Hugging Face folder, a .gguf file, or a folder holding one (default: the adapter's base_model_name_or_path when it is a local model).") var base: String?
    @Option(name: .long, help: "Output file (default: ADAPTER_DIR/adapter.gguf).") var out: String?

    func run() throws {
        do {
            let folder = URL(fileURLWithPath: adapterDir).standardizedFileURL
            let adapter = try LoRAAdapter(folder: folder)
            let source = try GGUFExport.base(for: adapter, option: base)
            let url = out.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? folder.appendingPathComponent(GGUFLoRA.fileName)
            let info = try GGUFExport.write(adapter, base: source, to: url)
            let alpha = info.alpha.map { String(format: "%g", $0) } ?? "?"
            print("wrote \(url.path): \(info.architecture ?? "?") LoRA, \(adapter.weights.count) pairs, rank \(adapter.rank), adapter.lora.alpha \(alpha)"
                  + (info.permutedQK ? ", q/k lora_b rows permuted for llama.cpp" : ""))
            let model = source.format == .gguf ? source.url.path : "BASE.gguf"
            print("use: llama-server -m \(model) --lora \(url.path)")
        } catch let e as DNDError {
            fail(e.message)
        }
    }
}
