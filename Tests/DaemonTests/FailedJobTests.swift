import Daemon
import DNDTestSupport
import Foundation
import Pipeline
import Prompts
import TensorCore
import XCTest

/// The checks before work starts and the error report: each bad input gives what, where and how to fix it.
final class FailedJobTests: XCTestCase {
    var dir: URL!
    let limits = PromptLimits(maxFileBytes: 1000, maxPrompts: 3, maxPromptChars: 20)

    override func setUp() { dir = TestSupport.temporaryDirectory("dnd-failed") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ data: Data) -> URL {
        let u = dir.appendingPathComponent(name)
        try! data.write(to: u)
        return u
    }

    /// The JobInputError `readInput` throws for `url`.
    func rejection(_ url: URL, file: String? = nil) -> JobInputError? {
        do {
            _ = try FailedJob.readInput(url, fileName: file ?? url.lastPathComponent, limits: limits)
            XCTFail("\(url.lastPathComponent) was accepted")
            return nil
        } catch let e as JobInputError { return e } catch {
            XCTFail("\(url.lastPathComponent): not a JobInputError: \(error)")
            return nil
        }
    }

    func testGoodFileIsParsed() throws {
        let u = write("ok.jsonl", Data("{\"prompt\":\"a\"}\n{\"prompt\":\"b\",\"response\":\"c\"}\n".utf8))
        let r = try FailedJob.readInput(u, fileName: "ok.jsonl", limits: limits)
        XCTAssertEqual(r.map(\.prompt), ["a", "b"])
        XCTAssertEqual(r[1].response, "c")
    }

    func testInvalidJSONNamesTheLine() {
        let e = rejection(write("bad.jsonl", Data("{\"prompt\":\"a\"}\n{nope\n".utf8)))
        XCTAssertEqual(e?.line, 2)
        XCTAssertEqual(e?.what, "not valid JSON (starts with \"{nope\")")
        XCTAssertEqual(e?.fix, "each record needs a non-empty \"prompt\" string; correct line 2 (and any other listed) and drop the file into inbox/ again")
    }

    func testMissingPromptField() {
        let e = rejection(write("np.jsonl", Data("{\"text\":\"a\"}\n".utf8)))
        XCTAssertEqual(e?.line, 1)
        XCTAssertEqual(e?.what, "no \"prompt\" field (fields: text)")
    }

    func testEmptyBinaryAndNonUTF8() {
        XCTAssertEqual(rejection(write("empty.jsonl", Data()))?.what, "the file is empty")
        XCTAssertEqual(rejection(write("bin.jsonl", Data([0x7b, 0x00, 0xff, 0x10])))?.what,
                       "binary data (NUL bytes)")
        XCTAssertEqual(rejection(write("latin1.txt", Data([0x63, 0x61, 0x66, 0xe9])))?.what, "not valid UTF-8 text")
    }

    func testLimitsAreEnforcedBeforeParsing() {
        let big = rejection(write("big.jsonl", Data(repeating: UInt8(ascii: "a"), count: 1001)))
        XCTAssertEqual(big?.what, "the file is 1001 bytes, over the limit of 1000 bytes")
        XCTAssertEqual(big?.fix, "split the file or raise max_file_bytes in config.toml")
        let many = rejection(write("many.txt", Data("a\nb\nc\nd\n".utf8)))
        XCTAssertEqual(many?.what, "4 prompts is over the limit of 3")
        let long = rejection(write("long.txt", Data("short\n\(String(repeating: "x", count: 21))\n".utf8)))
        XCTAssertEqual(long?.line, 2)
        XCTAssertEqual(long?.what, "the prompt has 21 characters, over the limit of 20")
        XCTAssertEqual(long?.fix, "shorten it or raise max_prompt_chars in config.toml")
    }

    func testSymlinksAreRefusedNotFollowed() throws {
        let target = write("target.jsonl", Data("{\"prompt\":\"secret\"}\n".utf8))
        let link = dir.appendingPathComponent("link.jsonl")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        let e = rejection(link)
        XCTAssertEqual(e?.what, "it is a symbolic link, and dnd never follows links out of the inbox")
        XCTAssertEqual(e?.fix, "copy the file itself into inbox/ (cp -L), not a link to it")
    }

    func testFIFOsAndFoldersAreRefusedWithoutBlocking() throws {
        let fifo = dir.appendingPathComponent("pipe.jsonl")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        XCTAssertEqual(rejection(fifo)?.what, "it is a FIFO (named pipe), not a regular file")
        let folder = dir.appendingPathComponent("folder.jsonl")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        XCTAssertEqual(rejection(folder)?.what, "it is a folder, not a regular file")
    }

    func testReportForInputAndProcessingErrors() {
        let input = dir.appendingPathComponent("state/jobs/running/x/x.jsonl")
        let r = FailedJob.report(for: JobInputError(what: "bad", line: 4, fix: "fix it"), job: "x", fileName: "x.jsonl", input: input,
                                 now: Date(timeIntervalSince1970: 0))
        XCTAssertEqual(r, FailedJob.Report(job: "x", file: "x.jsonl", kind: .input, what: "bad", where: "line 4", line: 4, fix: "fix it",
                                           failedAt: Date(timeIntervalSince1970: 0)))
        XCTAssertEqual(FailedJob.report(for: JobInputError(what: "w", line: 2, fix: "f"), job: "x", fileName: "x.json", input: nil).where, "element 2")
        let p = FailedJob.report(for: DNDError("\(input.path): generator exploded"), job: "x", fileName: "x.jsonl", input: input)
        XCTAssertEqual(p.kind, .processing)
        XCTAssertEqual(p.what, "dnd could not make an adapter from x.jsonl: x.jsonl: generator exploded")
        XCTAssertEqual(r.summary, "x.jsonl: line 4: bad; fix it")
    }

    func testErrorJSONUsesSnakeCaseKeys() throws {
        let r = FailedJob.Report(job: "j", file: "f.jsonl", kind: .input, what: "w", where: "line 1", line: 1, fix: "x",
                                 failedAt: Date(timeIntervalSince1970: 0))
        try FailedJob.write(r, into: dir)
        let obj = try TestSupport.json(dir.appendingPathComponent("error.json")) as! [String: Any]
        XCTAssertEqual(Set(obj.keys), ["job", "file", "kind", "what", "where", "line", "fix", "failed_at"])
        XCTAssertEqual(obj["failed_at"] as? String, "1970-01-01T00:00:00Z")
        XCTAssertEqual(try FailedJob.read(dir), r)
    }
}
