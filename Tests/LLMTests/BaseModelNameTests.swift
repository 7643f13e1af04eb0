import DNDTestSupport
import Foundation
import GGUF
import LLM
import XCTest

/// The rules for `base_model_name_or_path`: configured override, public id from the model's files, absolute path,
/// the zoo's name; never a relative path.
final class BaseModelNameTests: XCTestCase {
    let cwd = URL(fileURLWithPath: "/work/somewhere")

    /// A copy of tiny-qwen2.gguf with extra metadata.
    func gguf(_ dir: URL, _ name: String, _ meta: [String: GGUFValue]) throws -> URL {
        let src = try GGUFFile(url: TestSupport.fixture("gguf/tiny-qwen2/tiny-qwen2.gguf"))
        var w = GGUFWriter()
        for (k, v) in src.metadata.entries { w.set(k, v) }
        for (k, v) in meta { w.set(k, v) }
        for t in src.tensors { try w.addTensor(t.name, try src.tensor(t.name), as: .f32) }
        let url = dir.appendingPathComponent(name)
        try w.write(to: url)
        return url
    }

    /// A Hugging Face folder (tiny-qwen2's config) whose config.json has `_name_or_path` = `nameOrPath`.
    func hfFolder(_ dir: URL, _ nameOrPath: String) throws -> URL {
        let folder = dir.appendingPathComponent("hf-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var cfg = try XCTUnwrap(TestSupport.json(TestSupport.fixture("tiny-qwen2/config.json")) as? [String: Any])
        cfg["_name_or_path"] = nameOrPath
        try JSONSerialization.data(withJSONObject: cfg).write(to: folder.appendingPathComponent("config.json"))
        return folder
    }

    func resolve(_ configured: String? = nil, model: ModelSource? = nil, zoo: String? = nil, root: URL? = nil,
                 relativeTo: URL? = nil) -> BaseModelName {
        BaseModelName.resolve(configured: configured, setting: "--base-model-name", relativeTo: relativeTo ?? cwd, model: model, zoo: zoo, root: root)
    }

    func testAConfiguredNameWinsAndRelativePathsInItBecomeAbsolute() throws {
        let dir = TestSupport.temporaryDirectory()
        let model = try ModelSource.resolve(TestSupport.fixture("gguf/tiny-qwen2/tiny-qwen2.gguf"))
        let id = resolve("HuggingFaceTB/SmolLM2-135M-Instruct", model: model, zoo: "base")
        XCTAssertEqual(id.name, "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertEqual(id.rule, .configured)
        XCTAssertEqual(id.reason, "set by --base-model-name")
        XCTAssertEqual(id.model, model, "the model's files still lay out adapter.gguf")
        XCTAssertEqual(resolve("smollm2").name, "smollm2", "a served name (vLLM --served-model-name) is taken as given")
        XCTAssertEqual(resolve("/models/../models/smol").name, "/models/smol")
        let rel = resolve("./models/smol")
        XCTAssertEqual(rel.name, "/work/somewhere/models/smol")
        XCTAssertTrue(rel.reason.contains("'./models/smol', a relative path, made absolute against /work/somewhere"), rel.reason)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("base"), withIntermediateDirectories: true)
        XCTAssertEqual(resolve("base", relativeTo: dir).name, dir.appendingPathComponent("base").standardizedFileURL.path,
                       "a name that is a folder under the config's directory is that folder")
        XCTAssertEqual(resolve("", model: model).rule, .absolutePath, "an empty setting is no setting")
    }

    func testThePublicIDTheModelsFilesName() throws {
        let dir = TestSupport.temporaryDirectory()
        let repo = try ModelSource.resolve(gguf(dir, "repo.gguf", ["general.source.huggingface.repository": .string("Qwen/Qwen2-0.5B")]))
        let n = resolve(model: repo)
        XCTAssertEqual(n.name, "Qwen/Qwen2-0.5B")
        XCTAssertEqual(n.rule, .publicID)
        XCTAssertTrue(n.reason.contains("its GGUF metadata"), n.reason)
        let url = try ModelSource.resolve(gguf(dir, "url.gguf", ["general.source.url": .string("https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct/tree/main")]))
        XCTAssertEqual(resolve(model: url).name, "HuggingFaceTB/SmolLM2-135M-Instruct")
        let hf = try ModelSource.resolve(hfFolder(dir, "Qwen/Qwen2.5-0.5B-Instruct"))
        XCTAssertEqual(resolve(model: hf).name, "Qwen/Qwen2.5-0.5B-Instruct")
        XCTAssertTrue(resolve(model: hf).reason.contains("config.json _name_or_path"))
    }

    func testElseTheAbsolutePathOfTheBaseModel() throws {
        let dir = TestSupport.temporaryDirectory()
        let local = try ModelSource.resolve(hfFolder(dir, "/home/me/checkpoints/run-3"))
        let n = resolve(model: local, zoo: "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertEqual(n.rule, .absolutePath, "a local _name_or_path is no public id")
        XCTAssertEqual(n.name, local.url.path)
        XCTAssertTrue(n.name!.hasPrefix("/"))
        let plain = try ModelSource.resolve(TestSupport.fixture("gguf/tiny-llama/tiny-llama.gguf"))
        XCTAssertEqual(resolve(model: plain).name, plain.url.path)
    }

    func testTheZoosNameWhenNoBaseModelIsKnownNeverARelativePath() throws {
        let root = TestSupport.temporaryDirectory()
        XCTAssertEqual(resolve(zoo: "HuggingFaceTB/SmolLM2-135M-Instruct").rule, .zoo)
        XCTAssertEqual(resolve(zoo: "HuggingFaceTB/SmolLM2-135M-Instruct").name, "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertEqual(resolve(zoo: "/models/smol").name, "/models/smol")
        let none = resolve(zoo: "base", root: root)
        XCTAssertNil(none.name, "'base' is relative and there is no model under the root")
        XCTAssertEqual(none.rule, .none)
        XCTAssertTrue(none.reason.contains("set base_model_name"), none.reason)
        XCTAssertNil(resolve(zoo: "base").name)
        XCTAssertNil(resolve().name)
        // A relative zoo name that is a model under the root is that model.
        let base = root.appendingPathComponent("base")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        _ = try gguf(base, "m.gguf", [:])
        let found = resolve(zoo: "base", root: root)
        XCTAssertEqual(found.rule, .absolutePath)
        XCTAssertEqual(found.name, base.appendingPathComponent("m.gguf").standardizedFileURL.path)
        XCTAssertEqual(found.model?.format, .gguf)
        XCTAssertTrue(found.reason.contains("the generator's zoo names 'base', a path relative to the root"), found.reason)
    }

    func testTheReportFormIsNameRuleAndReason() throws {
        let n = resolve(zoo: "owner/model")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(n)) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["name", "rule", "reason"])
        XCTAssertEqual(json["rule"] as? String, "zoo")
    }

    func testConfigWithoutWeightsAndTheGGUFLayout() throws {
        let smol = try ModelSource.resolve(TestSupport.requireSmolLM2()).config()
        XCTAssertEqual(smol.ggufLoRABase, .init(architecture: "llama", heads: 9, kvHeads: 3))
        let hf = try ModelSource.resolve(TestSupport.fixture("tiny-qwen2")).config()
        XCTAssertEqual(hf.ggufLoRABase.architecture, "qwen2")
    }
}
