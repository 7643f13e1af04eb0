import Daemon
import Logging
import XCTest

final class DaemonLogTests: XCTestCase {
    /// Runs `body` with stderr redirected to a pipe and returns what was written.
    func captureStderr(_ body: () -> Void) -> String {
        let pipe = Pipe()
        let saved = dup(2)
        dup2(pipe.fileHandleForWriting.fileDescriptor, 2)
        body()
        dup2(saved, 2); close(saved)
        pipe.fileHandleForWriting.closeFile()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    func testJournaldLinesCarryTheirPriorityAndStayOneLine() {
        let h = DaemonLogHandler(label: "dnd", level: .info, environment: ["JOURNAL_STREAM": "8:123"])
        let logger = Logger(label: "dnd") { _ in h }
        let out = captureStderr {
            logger.info("claimed a.jsonl as job a")
            logger.error("bad\nthing", metadata: ["job": "my job"])
            logger.debug("not shown")
        }
        XCTAssertEqual(out, "<6>claimed a.jsonl as job a\n<3>bad thing job=\"my job\"\n")
    }

    func testPlainLinesCarryATimestampAndLevel() {
        let h = DaemonLogHandler(label: "dnd", level: .info, environment: [:])
        let logger = Logger(label: "dnd") { _ in h }
        let out = captureStderr { logger.warning("queue full") }
        XCTAssertTrue(out.hasSuffix("Z WARNING queue full\n"), out)
        XCTAssertEqual(out.filter { $0 == "\n" }.count, 1)
    }

    /// Issue 15.6: control characters from file names never reach the journal raw.
    func testControlCharactersAreEscaped() {
        let h = DaemonLogHandler(label: "dnd", level: .info, environment: ["JOURNAL_STREAM": "8:123"])
        let logger = Logger(label: "dnd") { _ in h }
        let out = captureStderr { logger.info("claimed \u{1B}[31mred\u{7}\u{9B}x\ty.jsonl as job red") }
        XCTAssertEqual(out, "<6>claimed \\x1b[31mred\\x07\\x9bx\ty.jsonl as job red\n")
        XCTAssertEqual(DaemonLogHandler.printable("plain é 日本"), "plain é 日本")
    }
}
