import ArgumentParser
import Foundation
import LLM
import TensorCore

/// `dnd pretrain`: trains a small Qwen2-architecture model from scratch and writes a Hugging Face folder.
struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain a small Qwen2-architecture model (and its byte-level BPE tokenizer) from scratch.",
        discussion: """
        --config is a JSON file of model and training settings (snake_case, all optional): hidden_size,
        num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size, tie_word_embeddings,
        bpe_merges, seq_len, batch_size, steps, learning_rate, warmup_steps, weight_decay, seed, max_seconds…
        --data is a .txt file, or .jsonl records ({"text": …} or prompt/response, trained as ChatML turns).
        OUT receives config.json, model.safetensors, tokenizer.json and tokenizer_config.json.
        """
    )

    @Option(help: "JSON file of model and training settings.") var config: String
    @Option(help: "Training text (.txt) or records (.jsonl).") var data: String
    @Option(help: "Output model folder.") var out: String
    @Flag(help: "Print only the summary, not a line per step.") var quiet = false

    func run() throws {
        let cfgURL = URL(fileURLWithPath: config)
        guard let raw = FileManager.default.contents(atPath: cfgURL.path) else { throw DNDError("\(config): cannot read the config file") }
        let cfg: PretrainConfig
        do { cfg = try JSONDecoder().decode(PretrainConfig.self, from: raw) } catch let e as DNDError {
            throw DNDError("\(config): \(e.message)")
        } catch {
            throw DNDError("\(config): not a valid pretrain config (a JSON object of snake_case settings): \(error.localizedDescription)")
        }
        let docs = try Pretrainer.readDocuments(URL(fileURLWithPath: data))
        print("pretraining hidden \(cfg.hiddenSize), \(cfg.numHiddenLayers) layers, \(cfg.numAttentionHeads)/\(cfg.numKeyValueHeads) heads on \(docs.count) documents")
        var every = 1
        let model = try Pretrainer.pretrain(config: cfg, documents: docs, out: URL(fileURLWithPath: out)) { p in
            if p.step == 1 { every = max(1, p.steps / 50) }
            guard !quiet, p.step % every == 0 || p.step == p.steps else { return }
            print(String(format: "step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  %.0f s", p.step, p.steps, p.loss, p.learningRate, p.tokensPerSecond, p.elapsed))
            fflush(stdout)
        }
        print(String(format: "wrote %@: %.2fM parameters, vocabulary %d", out, Double(model.config.parameterCount) / 1e6, model.config.vocabSize))
    }
}
