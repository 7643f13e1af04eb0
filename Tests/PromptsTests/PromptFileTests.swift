import DNDTestSupport
import Foundation
@testable import Prompts
import TensorCore
import XCTest

final class PromptFileTests: XCTestCase {
    func write(_ text: String, _ name: String) -> URL { write(Data(text.utf8), name) }

    func write(_ data: Data, _ name: String) -> URL {
        let url = TestSupport.temporaryDirectory().appendingPathComponent(name)
        try! data.write(to: url)
        return url
    }

    /// The structured error `load` throws for `url`.
    func rejection(_ url: URL, limits: PromptLimits = PromptLimits(), file: StaticString = #filePath, line: UInt = #line) -> PromptFileError? {
        do {
            _ = try PromptFile.load(url, name: url.lastPathComponent, limits: limits)
            XCTFail("\(url.lastPathComponent) was accepted", file: file, line: line)
        } catch let e as PromptFileError { return e } catch {
            XCTFail("\(url.lastPathComponent): not a PromptFileError: \(error)", file: file, line: line)
        }
        return nil
    }

    func assertFails(_ url: URL, _ parts: [String], limits: PromptLimits = PromptLimits(), file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try PromptFile.read(url, limits: limits), file: file, line: line) { e in
            let m = "\(e)"
            XCTAssertTrue(e is DNDError, "the command-line door reports a DNDError", file: file, line: line)
            XCTAssertTrue(m.contains(url.path), m, file: file, line: line)
            for p in parts { XCTAssertTrue(m.contains(p), "'\(p)' in: \(m)", file: file, line: line) }
        }
    }

    func testJSONLWithAllFieldKinds() throws {
        let url = write("""
        {"prompt": "2+2?", "response": "4", "source": "unit"}

        {"prompt": "Pick", "choices": ["[A]", "[B]"], "answer": "[B]", "system": "be brief"}
        {"prompt": "idx", "choices": ["x", "y", "z"], "answer": 2}
        """, "p.jsonl")
        let r = try PromptFile.read(url)
        XCTAssertEqual(r.count, 3)
        XCTAssertEqual(r[0].response, "4")
        XCTAssertEqual(r[0].extra["source"], "\"unit\"")
        XCTAssertEqual(r[1].correctChoice, 1)
        XCTAssertEqual(r[1].system, "be brief")
        XCTAssertEqual(r[1].line, 3)
        XCTAssertEqual(r[2].correctChoice, 2)
        XCTAssertTrue(r.allSatisfy(\.isEvaluable))
    }

    func testJSONArrayAndText() throws {
        XCTAssertEqual(try PromptFile.read(write(#"["a", {"prompt": "b"}]"#, "p.json")).map(\.prompt), ["a", "b"])
        XCTAssertEqual(try PromptFile.read(write("one\n\n two \n", "p.txt")).map(\.prompt), ["one", "two"])
        XCTAssertEqual(try PromptFile.read(write(#"{"prompt": "n"}"#, "p.ndjson")).map(\.prompt), ["n"])
    }

    /// Issue 15.1: a file saved with Windows (or old Mac) line endings reads like one saved with LF.
    func testEveryLineEndingGivesTheSameRecords() throws {
        let endings = ["LF": ["\n", "\n", "\n"], "CRLF": ["\r\n", "\r\n", "\r\n"], "CR": ["\r", "\r", "\r"],
                       "mixed": ["\r\n", "\n", "\r"], "no final break": ["\n", "\r\n", ""]]
        for (name, e) in endings {
            let jsonl = "{\"prompt\": \"first\"}\(e[0])\(e[1])  {\"prompt\": \"second\", \"response\": \"2\"}\(e[1]){\"prompt\": \"third\"}\(e[2])"
            let j = try PromptFile.load(write(jsonl, "p.jsonl")).records
            XCTAssertEqual(j.map(\.prompt), ["first", "second", "third"], name)
            XCTAssertEqual(j.map(\.line), [1, 3, 4], name)
            XCTAssertEqual(j[1].response, "2", name)
            let txt = "first\(e[0])\(e[1])second \(e[1])third\(e[2])"
            let t = try PromptFile.load(write(txt, "p.txt")).records
            XCTAssertEqual(t.map(\.prompt), ["first", "second", "third"], name)
            XCTAssertEqual(t.map(\.line), [1, 3, 4], name)
        }
        // A bad line is still named by its number in a CRLF file.
        XCTAssertEqual(rejection(write("{\"prompt\": \"a\"}\r\n{nope\r\n", "crlf.jsonl"))?.line, 2)
    }

    func testAByteOrderMarkIsSkipped() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        XCTAssertEqual(try PromptFile.load(write(Data(bom + Array("{\"prompt\": \"a\"}\r\n".utf8)), "b.jsonl")).records.map(\.prompt), ["a"])
        XCTAssertEqual(try PromptFile.load(write(Data(bom + Array("[\"a\"]".utf8)), "b.json")).records.map(\.prompt), ["a"])
        XCTAssertEqual(try PromptFile.load(write(Data(bom + Array("a".utf8)), "b.txt")).records.map(\.prompt), ["a"])
    }

    /// Issue 15.2: one over-long prompt is cut at a character boundary with a warning naming its line; the file is used.
    func testAnOverlongPromptIsCutWithAWarningNamingTheLine() throws {
        var lines = (1...41).map { "{\"prompt\": \"question \($0)\"}" }
        lines[16] = "{\"prompt\": \"\(String(repeating: "é", count: 100_059))\"}"
        let c = try PromptFile.load(write(lines.joined(separator: "\n"), "long.jsonl"))
        XCTAssertEqual(c.records.count, 41)
        XCTAssertEqual(c.records[16].prompt, String(repeating: "é", count: 32_768))
        XCTAssertEqual(c.records[17].prompt, "question 18")
        XCTAssertEqual(c.warnings, [PromptFileWarning(line: 17, what: "the prompt has 100059 characters, over max_prompt_chars = 32768: only its first 32768 are used")])
        XCTAssertEqual(c.warnings[0].description, "line 17: the prompt has 100059 characters, over max_prompt_chars = 32768: only its first 32768 are used")
        // Characters, not bytes or scalars: a flag emoji (two scalars, eight bytes) is one.
        let flags = try PromptFile.load(write(String(repeating: "🇫🇷", count: 30), "flags.txt"), limits: PromptLimits(maxPromptChars: 25))
        XCTAssertEqual(flags.records[0].prompt, String(repeating: "🇫🇷", count: 25))
        XCTAssertEqual(flags.warnings.map(\.line), [1])
        let json = try PromptFile.load(write("[\"ok\", \"\(String(repeating: "x", count: 30))\"]", "a.json"), limits: PromptLimits(maxPromptChars: 20))
        XCTAssertEqual(json.records.map(\.prompt.count), [2, 20])
        XCTAssertEqual(json.warnings.map(\.description), ["element 2: the prompt has 30 characters, over max_prompt_chars = 20: only its first 20 are used"])
    }

    /// Issue 15.6: an extension dnd does not read is refused as such, not parsed as JSONL.
    func testAnUnsupportedFileTypeIsRefusedAsSuch() {
        let csv = rejection(write("prompt\nhello\n", "table.csv"))
        XCTAssertEqual(csv?.what, "unsupported file type (.csv)")
        XCTAssertEqual(csv?.fix, "save the prompts as .jsonl (one JSON object a line), .json (an array) or .txt (one prompt a line)")
        XCTAssertNil(csv?.line)
        XCTAssertEqual(rejection(write("hello\n", "prompts"))?.what, "unsupported file type (no extension)")
    }

    func testInvalidJSONOnLineK() {
        assertFails(write("{\"prompt\": \"ok\"}\n{\"prompt\": \"ok\"}\n{broken\n", "bad.jsonl"), ["line 3", "not valid JSON"])
        let e = rejection(write("{\"prompt\":\"a\"}\n{nope\n{\"text\": 1}\n", "bad.jsonl"))
        XCTAssertEqual(e, PromptFileError(file: "bad.jsonl", line: 2, what: "not valid JSON (starts with \"{nope\"); line 3: no \"prompt\" field (fields: text)",
                                          fix: "each record needs a non-empty \"prompt\" string"))
        XCTAssertEqual(e?.description, "bad.jsonl: line 2: not valid JSON (starts with \"{nope\"); line 3: no \"prompt\" field (fields: text); each record needs a non-empty \"prompt\" string")
    }

    func testMissingPromptField() {
        assertFails(write("{\"prompt\": \"ok\"}\n{\"question\": \"no\"}\n", "bad.jsonl"), ["line 2", "no \"prompt\" field", "question"])
    }

    func testJSONArrayProblemsNameTheElement() {
        let e = rejection(write(#"["a", {"text": "b"}, ,"c"]"#, "bad.json"))
        XCTAssertEqual(e?.location, "element 2")
        XCTAssertEqual(e?.what, "no \"prompt\" field (fields: text); element 3: not valid JSON (an empty element: a stray comma?)")
        XCTAssertEqual(rejection(write(#"{"prompt": "a"}"#, "obj.json"))?.what,
                       "not a JSON array (the file starts with an object); a .json prompt file is an array of objects with a \"prompt\" field (or of strings)")
        XCTAssertEqual(rejection(write(#"["a", "b""#, "open.json"))?.what, "not valid JSON: the array is not closed (no final ])")
    }

    func testEmptyBinaryAndNonUTF8Files() {
        assertFails(write("", "empty.jsonl"), ["empty"])
        XCTAssertEqual(rejection(write(Data([0x7B, 0x00, 0xFF, 0x10]), "bin.jsonl"))?.what, "binary data (NUL bytes)")
        assertFails(write("\n\n  \n", "blank.jsonl"), ["no prompts"])
        let latin1 = rejection(write(Data([0x6F, 0x6B, 0x0A, 0x63, 0x61, 0x66, 0xE9, 0x0A]), "latin1.txt"))
        XCTAssertEqual(latin1?.what, "not valid UTF-8 text")
        XCTAssertEqual(latin1?.line, 2)
    }

    func testHardLimits() {
        let big = write(String(repeating: "{\"prompt\": \"x\"}\n", count: 100), "big.jsonl")
        assertFails(big, ["the file is 1600 bytes, over the limit of 1000 bytes", "max_file_bytes"], limits: PromptLimits(maxFileBytes: 1000))
        assertFails(big, ["100 prompts is over the limit of 10", "max_prompts"], limits: PromptLimits(maxPrompts: 10))
        let record = rejection(write("{\"prompt\": \"ok\"}\n{\"prompt\": \"\(String(repeating: "y", count: 50))\"}\n", "rec.jsonl"),
                               limits: PromptLimits(maxRecordBytes: 30))
        XCTAssertEqual(record?.line, 2)
        XCTAssertEqual(record?.what, "the line is over the limit of 30 bytes for one record")
        XCTAssertEqual(record?.fix, "shorten it (prompts over max_prompt_chars are cut anyway) or raise max_record_bytes in config.toml")
        XCTAssertEqual(rejection(write("[\"ok\", \"\(String(repeating: "y", count: 50))\"]", "rec.json"), limits: PromptLimits(maxRecordBytes: 30))?.location, "element 2")
        // A .txt line over the record limit is cut instead (it needs no parsing), at a character boundary.
        let txt = try? PromptFile.load(write("ok\n" + String(repeating: "é", count: 40) + "\n", "rec.txt"), limits: PromptLimits(maxRecordBytes: 31))
        XCTAssertEqual(txt?.records.map(\.prompt), ["ok", String(repeating: "é", count: 15)])
        XCTAssertEqual(txt?.warnings.map(\.description), ["line 2: the line has 80 bytes, over max_record_bytes = 31: only its first 15 characters are used"])
    }

    /// Issue 15.6: limits are checked while the file streams in; memory holds one record, not the file.
    func testLimitsAreCheckedWhileStreaming() throws {
        let limits = PromptLimits(maxPrompts: 5, maxRecordBytes: 100_000)
        // One endless line: refused at the first chunk that takes it past the record limit, whatever follows.
        var p = PromptFileParser(name: "one-line.jsonl", format: .jsonl, limits: limits)
        let chunk = Array(repeating: UInt8(ascii: "a"), count: 64 << 10)
        var fed = 0
        XCTAssertThrowsError(try {
            try Array("{\"prompt\": \"".utf8).withUnsafeBytes { try p.feed($0) }
            while fed < 64 << 20 { try chunk.withUnsafeBytes { try p.feed($0) }; fed += chunk.count }
        }()) { e in XCTAssertEqual((e as? PromptFileError)?.what, "the line is over the limit of 100000 bytes for one record") }
        XCTAssertEqual(fed, 64 << 10, "the parser read on past the limit")
        // Past max_prompts, records are only counted, never parsed or kept.
        var q = PromptFileParser(name: "many.jsonl", format: .jsonl, limits: limits)
        try Array(String(repeating: "{\"prompt\": \"p\"}\n", count: 1000).utf8).withUnsafeBytes { try q.feed($0) }
        XCTAssertEqual(q.keptRecords, 5)
        XCTAssertThrowsError(try q.finish()) { XCTAssertEqual(($0 as? PromptFileError)?.what, "1000 prompts is over the limit of 5") }
    }

    func testChoicesAnswerMustBeAChoice() {
        assertFails(write(#"{"prompt": "p", "choices": ["a", "b"], "answer": "c"}"#, "c.jsonl"), ["line 1", "not one of the choices"])
    }

    /// One reader for both doors: links are refused, never followed; FIFOs and folders never opened or waited on.
    func testLinksFIFOsAndFoldersAreRefusedWithoutFollowingOrBlocking() throws {
        let dir = TestSupport.temporaryDirectory("dnd-prompts")
        let target = dir.appendingPathComponent("target.jsonl")
        try Data("{\"prompt\":\"secret\"}\n".utf8).write(to: target)
        let link = dir.appendingPathComponent("link.jsonl")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        XCTAssertEqual(rejection(link), PromptFileError(file: "link.jsonl", what: "it is a symbolic link, and dnd never follows links",
                                                        fix: "use the file itself (cp -L), not a link to it"))
        assertFails(link, ["symbolic link"])
        let fifo = dir.appendingPathComponent("pipe.jsonl")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        XCTAssertEqual(rejection(fifo)?.what, "it is a FIFO (named pipe), not a regular file")
        let folder = dir.appendingPathComponent("folder.jsonl")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        XCTAssertEqual(rejection(folder)?.what, "it is a folder, not a regular file")
    }
}

final class PromptFileHugeTests: XCTestCase {
    func testOneGigabyteFileIsRefusedBeforeReading() throws {
        let url = TestSupport.temporaryDirectory().appendingPathComponent("huge.jsonl")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let h = try FileHandle(forWritingTo: url)
        try h.truncate(atOffset: 1 << 30)  // sparse: 1 GiB of zeros without writing them
        try h.close()
        XCTAssertThrowsError(try PromptFile.read(url)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains(url.path) && m.contains("the file is 1073741824 bytes, over the limit") && m.contains("max_file_bytes"), m)
        }
    }
}
