import Foundation
import LoRA
import TensorCore

extension CausalLM {
    /// A LoRA for this model, checked against its shapes: a PEFT folder (`adapter_config.json` +
    /// `adapter_model.safetensors`), an `adapter.gguf` (llama.cpp's layout, read back into PEFT's for this model's
    /// architecture and heads), or a folder holding only an `adapter.gguf`.
    public func loadAdapter(_ url: URL) throws -> LoRAAdapter {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw DNDError("\(url.path): no such adapter; give a PEFT folder (adapter_config.json, adapter_model.safetensors) or an adapter.gguf")
        }
        var file = url
        if isDir.boolValue {
            let gguf = url.appendingPathComponent(GGUFLoRA.fileName)
            let peft = FileManager.default.fileExists(atPath: url.appendingPathComponent(LoRAAdapter.configFile).path)
            guard !peft, FileManager.default.fileExists(atPath: gguf.path) else {
                let adapter = try LoRAAdapter(folder: url)
                try validate(adapter: adapter)
                return adapter
            }
            file = gguf
        }
        let adapter = try GGUFLoRA.read(file, base: config.ggufLoRABase)
        try validate(adapter: adapter)
        return adapter
    }
}

extension ModelConfig {
    /// Checks that every module of `adapter` exists in a model of this config and that its A and B fit the module's
    /// shape (what binding, merging and writing adapter.gguf need).
    public func check(_ adapter: LoRAAdapter) throws {
        let origin = adapter.config.baseModelNameOrPath.map { "adapter for \($0)" } ?? "adapter"
        let r = adapter.rank
        for site in adapter.sites {
            let (a, b) = adapter.weights[site]!
            guard site.layer < numHiddenLayers else {
                throw DNDError("\(origin): module \(site) does not exist: the model has \(numHiddenLayers) layers (0...\(numHiddenLayers - 1)); the adapter was made for a different base model")
            }
            let (i, o) = ModelWeights.linearShape(site.module, config: self)
            guard a.shape == [r, i] else {
                throw DNDError("\(origin): module \(site): lora_A is \(a.shape) but \(site.module.rawValue) takes \(i) inputs (expected [\(r), \(i)]); the adapter was made for a different base model")
            }
            guard b.shape == [o, r] else {
                throw DNDError("\(origin): module \(site): lora_B is \(b.shape) but \(site.module.rawValue) has \(o) outputs (expected [\(o), \(r)]); the adapter was made for a different base model")
            }
        }
    }
}
