import Workspace
import XCTest

final class JobNameTests: XCTestCase {
    func testExtensionAndTagsAreDropped() {
        XCTAssertEqual(JobName.parse(fileName: "reviews.jsonl").stem, "reviews")
        XCTAssertEqual(JobName.parse(fileName: "reviews.jsonl").evaluation, .configDefault)
        XCTAssertEqual(JobName.parse(fileName: "reviews.noeval.jsonl").stem, "reviews")
        XCTAssertEqual(JobName.parse(fileName: "reviews.noeval.jsonl").evaluation, .off)
        XCTAssertEqual(JobName.parse(fileName: "reviews.EVAL.json").evaluation, .on)
        XCTAssertEqual(JobName.parse(fileName: "noext").stem, "noext")
        XCTAssertEqual(JobName.parse(fileName: "eval.jsonl").stem, "eval")   // a name, not a tag
        XCTAssertEqual(JobName.parse(fileName: "eval.jsonl").evaluation, .configDefault)
        XCTAssertEqual(JobName.parse(fileName: "v1.2.data.txt").stem, "v1.2.data")
    }

    func testSanitizeKeepsLettersOfAnyScriptAndReplacesTheRest() {
        XCTAssertEqual(JobName.sanitize("My Prompts (v2)"), "My_Prompts_v2")
        XCTAssertEqual(JobName.sanitize("Données d’été"), "Données_d_été")
        XCTAssertEqual(JobName.sanitize("日本語 プロンプト"), "日本語_プロンプト")
        XCTAssertEqual(JobName.sanitize("a/b\\c:d*e?f\"g<h>i|j"), "a_b_c_d_e_f_g_h_i_j")
        XCTAssertEqual(JobName.sanitize("tab\there\nnewline"), "tab_here_newline")
        XCTAssertEqual(JobName.sanitize("...hidden"), "hidden")
        XCTAssertEqual(JobName.sanitize("--rm -rf"), "rm_-rf")
        XCTAssertEqual(JobName.sanitize(".."), "job")
        XCTAssertEqual(JobName.sanitize("   "), "job")
        XCTAssertEqual(JobName.sanitize("🙂🙂"), "job")
        // NFD input (as macOS writes names) gives the same name as NFC.
        XCTAssertEqual(JobName.sanitize("e\u{301}te\u{301}"), JobName.sanitize("\u{e9}t\u{e9}"))
    }

    func testLengthIsBoundedOnCharacterBoundaries() {
        let long = String(repeating: "é", count: 200)
        let s = JobName.sanitize(long)
        XCTAssertEqual(s.utf8.count, JobName.maxBytes)
        XCTAssertEqual(s, String(repeating: "é", count: JobName.maxBytes / 2))
        let taken: Set<String> = [s]
        let u = JobName.unique(for: long + ".jsonl") { taken.contains($0) }
        XCTAssertEqual(u, String(repeating: "é", count: (JobName.maxBytes - 2) / 2) + "-2")
        XCTAssertLessThanOrEqual(u.utf8.count, JobName.maxBytes)
    }

    func testUniqueAddsTheFirstFreeSuffix() {
        let taken: Set<String> = ["a", "a-2", "a-3"]
        XCTAssertEqual(JobName.unique(for: "a.jsonl") { taken.contains($0) }, "a-4")
        XCTAssertEqual(JobName.unique(for: "b.jsonl") { taken.contains($0) }, "b")
    }

    func testIgnoredInboxNames() {
        for n in [".hidden.jsonl", "draft.jsonl~", ".draft.jsonl.swp", "x.swp", "y.tmp", "z.jsonl.part", "#autosave#",
                  "dl.crdownload", ".#lock", "a.JSONL.PART"] {
            XCTAssertTrue(JobName.isIgnoredInboxName(n), n)
        }
        for n in ["a.jsonl", "my file.json", "prompts.txt", "#notes.jsonl", "tmp.jsonl", "part.jsonl"] {
            XCTAssertFalse(JobName.isIgnoredInboxName(n), n)
        }
    }
}
