import DNDTestSupport
import Foundation
import LLM
import Pipeline
import XCTest

/// The usage lines of report.json / report.html, exactly.
final class ServingGuideTests: XCTestCase {
    let folder = URL(fileURLWithPath: "/srv/dnd/outbox/math-1")

    func testAHubIDAndAGGUFBase() throws {
        let model = try ModelSource.resolve(TestSupport.fixture("gguf/tiny-llama/tiny-llama.gguf"))
        let file = model.url.path, dir = model.url.deletingLastPathComponent().path
        let g = ServingGuide(folder: folder, name: "math-1",
                             baseModel: BaseModelName(name: "HuggingFaceTB/SmolLM2-135M-Instruct", rule: .publicID, reason: "", model: model),
                             rank: 8, gguf: true)
        XCTAssertEqual(g.peft, [
            "from transformers import AutoModelForCausalLM",
            "from peft import PeftModel",
            "base = AutoModelForCausalLM.from_pretrained(\"\(dir)\", gguf_file=\"tiny-llama.gguf\")",
            "model = PeftModel.from_pretrained(base, \"/srv/dnd/outbox/math-1\")",
        ])
        XCTAssertEqual(g.vllm[0], "vllm serve HuggingFaceTB/SmolLM2-135M-Instruct --enable-lora --lora-modules math-1=/srv/dnd/outbox/math-1")
        XCTAssertEqual(g.vllm[2], "VLLM_ALLOW_RUNTIME_LORA_UPDATING=true VLLM_PLUGINS=lora_filesystem_resolver VLLM_LORA_RESOLVER_CACHE_DIR=/srv/dnd/outbox vllm serve HuggingFaceTB/SmolLM2-135M-Instruct --enable-lora")
        XCTAssertEqual(g.llamaCpp, ["llama-server -m \(file) --lora /srv/dnd/outbox/math-1/adapter.gguf"])
        XCTAssertEqual(g.ollama, ["# Modelfile:", "FROM \(file)", "ADAPTER /srv/dnd/outbox/math-1/adapter.gguf", "# then:",
                                  "ollama create math-1 -f Modelfile", "ollama run math-1"])
    }

    func testNoBaseModelKnown() {
        let g = ServingGuide(folder: URL(fileURLWithPath: "/tmp/My Adapter"), name: "My Adapter",
                             baseModel: BaseModelName(name: nil, rule: .none, reason: ""), rank: 32, gguf: false)
        XCTAssertEqual(g.peft.first, "# BASE_MODEL: the base model the adapter was generated for (its adapter_config.json names none)")
        XCTAssertTrue(g.peft.contains("base = AutoModelForCausalLM.from_pretrained(\"BASE_MODEL\")"))
        XCTAssertTrue(g.vllm.contains("vllm serve BASE_MODEL --enable-lora --max-lora-rank 32 --lora-modules 'My Adapter=/tmp/My Adapter'"), "\(g.vllm)")
        XCTAssertEqual(g.llamaCpp.first, "dnd export-gguf '/tmp/My Adapter' --base BASE_MODEL   # writes adapter.gguf")
        XCTAssertEqual(g.llamaCpp.last, "llama-server -m BASE.gguf --lora '/tmp/My Adapter/adapter.gguf'")
        XCTAssertTrue(g.ollama.contains("ollama create my-adapter -f Modelfile"))
    }
}
