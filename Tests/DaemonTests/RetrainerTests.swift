import Daemon
import DNDTestSupport
import Foundation
import XCTest

/// The debounce and "never two at once" rules, driven with a fake clock and fingerprints.
final class RetrainerTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    func make(trained: String? = "A", debounce: Double = 5) -> Retrainer {
        var r = RetrainRecord()
        r.generator = "g1"; r.trainedFingerprint = trained
        return Retrainer(record: r, debounceSeconds: debounce, enabled: true)
    }

    func testNoChangeNoRetraining() {
        var r = make()
        XCTAssertNil(r.tick(now: t0, rescan: true) { "A" })
        XCTAssertEqual(r.phase, .idle)
    }

    func testBurstOfChangesGivesOneRetrainingAfterTheQuietTime() {
        var r = make()
        var fp = "B1"
        r.noteChange()
        XCTAssertNil(r.tick(now: t0, rescan: false) { fp })
        XCTAssertEqual(r.phase, .waiting(fingerprint: "B1", since: t0))
        fp = "B2"; r.noteChange()
        XCTAssertNil(r.tick(now: t0 + 3, rescan: false) { fp })  // changed again: the wait restarts
        XCTAssertNil(r.tick(now: t0 + 7, rescan: false) { fp })  // 4 s quiet: not yet
        XCTAssertEqual(r.tick(now: t0 + 8, rescan: false) { fp }, "B2")
        r.started(fingerprint: "B2", now: t0 + 8)
        // While it runs, nothing else starts, whatever changes.
        fp = "C"; r.noteChange()
        XCTAssertNil(r.tick(now: t0 + 20, rescan: true) { fp })
        XCTAssertEqual(r.phase, .running(fingerprint: "B2", since: t0 + 8))
        r.finished(now: t0 + 30, installed: ("g2", "gen-2"), error: nil)
        XCTAssertEqual(r.record.trainedFingerprint, "B2")
        XCTAssertEqual(r.record.generator, "g2")
        XCTAssertEqual(r.record.completed, 1)
        XCTAssertEqual(r.record.succeeded, 1)
        // The change made during the run leads to exactly one more retraining.
        XCTAssertNil(r.tick(now: t0 + 30, rescan: false) { fp })
        XCTAssertEqual(r.tick(now: t0 + 35, rescan: false) { fp }, "C")
    }

    func testAFailedZooIsNotRetriedUntilItChanges() {
        var r = make(debounce: 0)
        XCTAssertEqual(r.tick(now: t0, rescan: true) { "B" }, "B")
        r.started(fingerprint: "B", now: t0)
        r.finished(now: t0 + 1, installed: nil, error: "broken/prompts.jsonl: line 1: not valid JSON")
        XCTAssertEqual(r.record.trainedFingerprint, "A")
        XCTAssertEqual(r.record.generator, "g1")
        XCTAssertEqual(r.record.last?.ok, false)
        XCTAssertEqual(r.record.last?.error, "broken/prompts.jsonl: line 1: not valid JSON")
        XCTAssertNil(r.tick(now: t0 + 100, rescan: true) { "B" })
        XCTAssertEqual(r.tick(now: t0 + 101, rescan: true) { "B-fixed" }, "B-fixed")
    }

    func testEmptyZooAndDisabledNeverRetrain() {
        var r = make(trained: nil, debounce: 0)
        XCTAssertNil(r.tick(now: t0, rescan: true) { Retrainer.emptyFingerprint })
        r.enabled = false
        XCTAssertNil(r.tick(now: t0, rescan: true) { "B" })
    }

    func testAnUnknownGeneratorAdoptsTheZooAsItsBaseline() {
        var r = make(trained: "A")
        r.adopt(generator: "hand-made", fingerprint: "Z")
        XCTAssertEqual(r.record.generator, "hand-made")
        XCTAssertEqual(r.record.trainedFingerprint, "Z")
        XCTAssertNil(r.tick(now: t0, rescan: true) { "Z" })
        r.adopt(generator: nil, fingerprint: "Z")
        XCTAssertNil(r.record.trainedFingerprint)
    }

    func testAbandonedRetrainingIsNotRecorded() {
        var r = make(debounce: 0)
        XCTAssertEqual(r.tick(now: t0, rescan: true) { "B" }, "B")
        r.started(fingerprint: "B", now: t0)
        r.abandoned()
        XCTAssertNil(r.record.last)
        XCTAssertEqual(r.tick(now: t0 + 1, rescan: false) { "B" }, "B")
    }

    func testARecordWithAnOldFingerprintIsRebaselinedNotRetrained() {
        var record = RetrainRecord()
        record.generator = "g1"
        record.trainedFingerprint = "0123456789abcdef"  // 64-bit FNV-1a, before the fingerprint was unified
        var r = Retrainer(record: record, debounceSeconds: 0, enabled: true)
        r.adopt(generator: "g1", fingerprint: "B")
        XCTAssertEqual(r.record.trainedFingerprint, "B")
        XCTAssertNil(r.tick(now: t0, rescan: true) { "B" })
    }

    func testRecordRoundTrip() throws {
        let dir = TestSupport.temporaryDirectory("dnd-record")
        let url = dir.appendingPathComponent("retrain.json")
        XCTAssertEqual(RetrainRecord.load(url), RetrainRecord())
        var r = make(debounce: 0)
        _ = r.tick(now: t0, rescan: true) { "B" }
        r.started(fingerprint: "B", now: t0)
        r.finished(now: t0 + 1, installed: ("g2", "gen-2"), error: nil)
        try r.record.save(url)
        XCTAssertEqual(RetrainRecord.load(url), r.record)
        let obj = try TestSupport.json(url) as! [String: Any]
        XCTAssertEqual(obj["trained_fingerprint"] as? String, "B")
    }
}
