import Daemon
import DNDTestSupport
import Foundation
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

    /// The report the daemon writes for `url` read under `limits`.
    func report(_ url: URL) -> FailedJob.Report? {
        do {
            _ = try PromptFile.load(url, name: url.lastPathComponent, limits: limits)
            XCTFail("\(url.lastPathComponent) was accepted")
            return nil
        } catch {
            return FailedJob.report(for: error, job: "j", fileName: url.lastPathComponent, input: url, now: Date(timeIntervalSince1970: 0))
        }
    }

    func testABadRecordNamesTheLineAndHowToResubmit() {
        let r = report(write("bad.jsonl", Data("{\"prompt\":\"a\"}\n{nope\n".utf8)))
        XCTAssertEqual(r?.kind, .input)
        XCTAssertEqual(r?.where, "line 2")
        XCTAssertEqual(r?.line, 2)
        XCTAssertEqual(r?.what, "not valid JSON (starts with \"{nope\")")
        XCTAssertEqual(r?.fix, "each record needs a non-empty \"prompt\" string; correct line 2 (and any other listed) and drop the file into inbox/ again")
        let j = report(write("bad.json", Data("[\"a\", 3]".utf8)))
        XCTAssertEqual(j?.where, "element 2")
        XCTAssertEqual(j?.fix, "each record needs a non-empty \"prompt\" string; correct element 2 (and any other listed) and drop the file into inbox/ again")
    }

    func testWholeFileProblemsSayHowToResubmit() throws {
        XCTAssertEqual(report(write("big.jsonl", Data(repeating: UInt8(ascii: "a"), count: 1001)))?.fix, "split the file or raise max_file_bytes in config.toml")
        let target = write("target.jsonl", Data("{\"prompt\":\"secret\"}\n".utf8))
        let link = dir.appendingPathComponent("link.jsonl")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        let r = report(link)
        XCTAssertEqual(r?.what, "it is a symbolic link, and dnd never follows links")
        XCTAssertEqual(r?.fix, "use the file itself (cp -L), not a link to it, then drop it into inbox/ again")
        XCTAssertNil(r?.where)
    }

    func testReportForInputAndProcessingErrors() {
        let input = dir.appendingPathComponent("state/jobs/running/x/x.jsonl")
        let r = FailedJob.report(for: PromptFileError(file: "x.jsonl", line: 4, what: "bad", fix: "fix it in config.toml"), job: "x",
                                 fileName: "x.jsonl", input: input, now: Date(timeIntervalSince1970: 0))
        XCTAssertEqual(r, FailedJob.Report(job: "x", file: "x.jsonl", kind: .input, what: "bad", where: "line 4", line: 4, fix: "fix it in config.toml",
                                           failedAt: Date(timeIntervalSince1970: 0)))
        XCTAssertEqual(FailedJob.report(for: PromptFileError(file: "x.json", line: 2, unit: .element, what: "w", fix: "f"), job: "x",
                                        fileName: "x.json", input: nil).where, "element 2")
        let p = FailedJob.report(for: DNDError("\(input.path): generator exploded"), job: "x", fileName: "x.jsonl", input: input)
        XCTAssertEqual(p.kind, .processing)
        XCTAssertEqual(p.what, "dnd could not make an adapter from x.jsonl: x.jsonl: generator exploded")
        XCTAssertEqual(r.summary, "x.jsonl: line 4: bad; fix it in config.toml")
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
