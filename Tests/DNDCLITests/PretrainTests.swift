import DNDTestSupport
import Foundation
import LLM
import LoRA
import XCTest

/// `dnd pretrain` then `dnd finetune`, end to end, on a few KB of text.
final class PretrainTests: XCTestCase {
    /// A few KB of simple, repetitive text a tiny model can learn something from in seconds.
    static func corpus() -> String {
        let animals = ["cat", "dog", "bird", "fish", "horse", "mouse"], colors = ["red", "blue", "green", "black", "white"]
        var lines: [String] = []
        for (i, a) in animals.enumerated() {
            for (j, c) in colors.enumerated() {
                lines.append("The \(c) \(a) sat near the \(colors[(i + j + 1) % colors.count]) door.")
                lines.append("A \(a) is an animal; this one is \(c).")
            }
        }
        return lines.joined(separator: "\n")
    }

    func testPretrainThenFinetune() throws {
        let dir = TestSupport.temporaryDirectory("dnd-pretrain")
        let text = dir.appendingPathComponent("corpus.txt")
        try Self.corpus().write(to: text, atomically: true, encoding: .utf8)
        XCTAssertGreaterThan(Self.corpus().utf8.count, 2000)
        let cfg = dir.appendingPathComponent("config.json")
        try #"{"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 64, "bpe_merges": 64, "seq_len": 48, "batch_size": 8, "steps": 60, "learning_rate": 0.01}"#
            .write(to: cfg, atomically: true, encoding: .utf8)
        let model = dir.appendingPathComponent("base")
        let p = try TestSupport.runDND(["pretrain", "--config", cfg.path, "--data", text.path, "--out", model.path])
        XCTAssertEqual(p.status, 0, p.stderr)
        let losses = p.stdout.split(separator: "\n").compactMap { line -> Double? in
            guard let r = line.range(of: "loss ") else { return nil }
            return Double(line[r.upperBound...].prefix { $0 != " " })
        }
        XCTAssertGreaterThan(losses.count, 10)
        print("pretrain loss \(losses.first!) → \(losses.last!)")
        XCTAssertLessThan(losses.last!, losses.first! - 2, "pretraining lowers the loss")
        for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: model.appendingPathComponent(f).path), f)
        }
        let lm = try CausalLM(folder: model)
        XCTAssertEqual(lm.config.architecture, .qwen2)
        XCTAssertEqual(lm.config.hiddenSize, 32)
        XCTAssertTrue(lm.tokenizer.hasChatML)
        XCTAssertEqual(lm.tokenizer.decode(lm.tokenizer.encode("The red cat sat.")), "The red cat sat.")

        // Fine-tune on the pretrained base; checkpoints 8…10 and prompts.jsonl make a zoo entry.
        let data = dir.appendingPathComponent("task.jsonl")
        let records = (0..<12).map { i in #"{"prompt": "Color of animal \#(i)?", "response": "\#(["red", "blue"][i % 2])"}"# }
        try records.joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let zoo = dir.appendingPathComponent("zoo/colors")
        let f = try TestSupport.runDND(["finetune", "--base", model.path, "--data", data.path, "--out", zoo.path, "--rank", "4", "--alpha", "8",
                                        "--targets", "q_proj,v_proj", "--lr", "0.01", "--steps", "10", "--batch", "4", "--save-from", "8", "--save-every", "1"])
        XCTAssertEqual(f.status, 0, f.stderr)
        XCTAssertTrue(f.stdout.contains("step 10/10"), f.stdout)
        XCTAssertTrue(f.stdout.contains("tok/s"), f.stdout)
        let names = try FileManager.default.contentsOfDirectory(atPath: zoo.path).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertEqual(names, ["checkpoint-10", "checkpoint-8", "checkpoint-9", "prompts.jsonl"])
        let adapter = try LoRAAdapter(folder: zoo.appendingPathComponent("checkpoint-10"))
        XCTAssertEqual(adapter.modules, [.q_proj, .v_proj])
        XCTAssertEqual(adapter.config.baseModelNameOrPath, model.path)
        try lm.validate(adapter: adapter)
        XCTAssertEqual(try Data(contentsOf: zoo.appendingPathComponent("prompts.jsonl")), try Data(contentsOf: data))
    }

    func testBadConfigAndDataGiveClearErrors() throws {
        let dir = TestSupport.temporaryDirectory()
        let cfg = dir.appendingPathComponent("c.json"), text = dir.appendingPathComponent("t.txt")
        try #"{"hidden_size": 30, "num_attention_heads": 4}"#.write(to: cfg, atomically: true, encoding: .utf8)
        try "some text".write(to: text, atomically: true, encoding: .utf8)
        var r = try TestSupport.runDND(["pretrain", "--config", cfg.path, "--data", text.path, "--out", dir.appendingPathComponent("m").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("c.json") && r.stderr.contains("hidden_size 30"), r.stderr)
        r = try TestSupport.runDND(["finetune", "--base", TestSupport.fixture("tiny-qwen2").path, "--data", text.path,
                                    "--out", dir.appendingPathComponent("o").path, "--targets", "qq_proj"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("qq_proj"), r.stderr)
    }
}
