import Daemon
import DaemonTestSupport
import DNDTestSupport
import FileKit
import Foundation
import LoRA
import Workspace
import XCTest

/// The daemon as a real process (`DaemonUnderTest.current`: dnd-testhost by default, `dnd serve` with
/// DND_DAEMON_BINARY) on a temporary root: drops, kills, restarts, retraining, signals, systemd notify.
final class DaemonTests: XCTestCase {
    var scenario: DaemonScenario!
    var root: URL!
    var layout: RootLayout { RootLayout(root: root) }
    var processes: [DaemonProcess] = []

    static let baseConfig = """
    rescan_seconds = 0.5
    settle_seconds = 1
    debounce_seconds = 0.7
    max_file_bytes = 4096
    max_prompt_chars = 200

    """

    override func setUpWithError() throws {
        scenario = try DaemonScenario.current
        root = TestSupport.temporaryDirectory("dnd-daemon").appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("state"), withIntermediateDirectories: true)
        try scenario.prepareRoot(root)
    }

    override func tearDown() {
        for p in processes where p.isRunning { p.killHard() }
        if let run = testRun, run.failureCount > 0, let p = processes.last { print("daemon log:\n\(p.log)") }
        try? FileManager.default.removeItem(at: root.deletingLastPathComponent())
    }

    // MARK: - Helpers

    func writeConfig(_ extra: String = "") throws {
        try Data((DaemonTests.baseConfig + extra).utf8).write(to: root.appendingPathComponent("config.toml"))
    }

    /// Starts the daemon and waits until it reports itself running.
    @discardableResult
    func start(_ env: [String: String] = [:]) throws -> DaemonProcess {
        let p = try DaemonProcess(root: root, environment: env)
        processes.append(p)
        let ok = waitUntil(timeout: 20) {
            guard let s = try? StatusFile.read(layout: layout) else { return false }
            return s.pid == p.pid && s.state == .running
        }
        XCTAssertTrue(ok, "the daemon did not start:\n\(p.log)")
        return p
    }

    /// Writes a file beside the inbox and renames it in (an atomic drop, IN_MOVED_TO).
    func drop(_ name: String, _ data: Data) throws {
        let staging = root.deletingLastPathComponent().appendingPathComponent("staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        try data.write(to: staging.appendingPathComponent(name))
        XCTAssertEqual(rename(staging.appendingPathComponent(name).path, layout.inbox.appendingPathComponent(name).path), 0)
    }

    /// Writes a file straight into the inbox (IN_CLOSE_WRITE).
    func write(_ name: String, _ data: Data) throws { try data.write(to: layout.inbox.appendingPathComponent(name)) }

    func prompts(_ i: Int, count: Int = 2) -> Data {
        Data((0..<count).map { "{\"prompt\":\"question \(i).\($0)\",\"response\":\"answer \($0)\"}" }.joined(separator: "\n").utf8)
    }

    func names(_ dir: URL) -> [String] { Rename.names(dir) }

    func report(_ job: String) throws -> [String: Any] {
        try TestSupport.json(layout.outbox.appendingPathComponent(job).appendingPathComponent("report.json")) as! [String: Any]
    }

    /// (file named by the report, generator named by the report) for every delivered job.
    func deliveries() throws -> [(job: String, file: String, generator: String)] {
        try names(layout.outbox).map { job in
            let r = try report(job)
            return (job, scenario.reportFile(r) ?? "?", scenario.reportGenerator(r) ?? "?")
        }
    }

    func status() throws -> DaemonStatus { try XCTUnwrap(StatusFile.read(layout: layout)) }

    /// `outbox/<job>/` holds every result file, and its adapter.gguf carries the PEFT adapter's own tensors.
    func assertComplete(_ job: String, file: StaticString = #filePath, line: UInt = #line) {
        let folder = layout.outbox.appendingPathComponent(job)
        XCTAssertEqual(names(folder), (JobResults.files + [JobResults.gguf]).sorted(), job, file: file, line: line)
        do {
            let peft = try LoRAAdapter(folder: folder)
            let gguf = try GGUFLoRA.read(folder.appendingPathComponent(JobResults.gguf), base: FakeWorker.ggufBase)
            XCTAssertEqual(gguf.sites, peft.sites, job, file: file, line: line)
            for s in peft.sites { XCTAssertEqual(gguf.weights[s]!.b, peft.weights[s]!.b, "\(job) \(s)", file: file, line: line) }
        } catch { XCTFail("\(job): \(error)", file: file, line: line) }
    }

    /// The state folders hold no job in flight and outbox/ no hidden (temporary) entry.
    func assertQuiescent(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(names(layout.queued), [], "queued", file: file, line: line)
        XCTAssertEqual(names(layout.running), [], "running", file: file, line: line)
        XCTAssertEqual(names(layout.tmp), [], "tmp", file: file, line: line)
        XCTAssertEqual(names(layout.outbox).filter { $0.hasPrefix(".") }, [], "hidden entries in outbox", file: file, line: line)
    }

    // MARK: - Tests

    func testFiftyFilesDroppedAtOnceGoodAndBad() throws {
        try writeConfig()
        let p = try start()
        var good: [String: Data] = [:]
        for i in 0..<30 { good[String(format: "good-%02d.jsonl", i)] = prompts(i, count: 1 + i % 3) }
        for i in 0..<4 { good["arr-\(i).json"] = Data("[{\"prompt\":\"array \(i)\"}, \"plain string prompt \(i)\"]".utf8) }
        for i in 0..<4 { good["lines-\(i).txt"] = Data("first line \(i)\n\nsecond line \(i)\n".utf8) }
        good["Données d’été 01.jsonl"] = prompts(100)
        good["my prompts (copy).noeval.jsonl"] = prompts(101)
        // Windows line endings, and a prompt over max_prompt_chars (cut, with a warning): delivered.
        good["windows.jsonl"] = Data("{\"prompt\":\"crlf one\"}\r\n{\"prompt\":\"crlf two\"}\r\n".utf8)
        good["windows.txt"] = Data("line one\r\nline two\r\nline three".utf8)
        good["toolong.txt"] = Data(String(repeating: "y", count: 300).utf8)
        XCTAssertEqual(good.count, 43)
        let outside = root.deletingLastPathComponent().appendingPathComponent("outside.jsonl")
        try prompts(999).write(to: outside)
        let bad: [String: Data] = [
            "invalid.jsonl": Data("{\"prompt\":\"ok\"}\n{\"prompt\": nope}\n".utf8),
            "empty.jsonl": Data(),
            "binary.jsonl": Data([0x7b, 0x00, 0x01, 0xff, 0xfe, 0x00, 0x42]),
            "oversize.jsonl": Data(repeating: UInt8(ascii: "x"), count: 5000),
            "noprompt.jsonl": Data("{\"text\":\"hello\"}\n".utf8),
            "table.csv": Data("prompt\nhello\n".utf8),
            "latin1.txt": Data([0x63, 0x61, 0x66, 0xe9, 0x0a]),
        ]
        let ignored: [String: Data] = [".hidden.jsonl": prompts(1), "draft.jsonl~": prompts(2), ".draft.jsonl.swp": prompts(3),
                                       "#scratch.jsonl#": prompts(4), "download.jsonl.part": prompts(5)]
        // Drop everything at once: half renamed in, half written in place, plus a link, a FIFO and a folder.
        for (i, (name, data)) in (good.merging(bad) { a, _ in a }).sorted(by: { $0.key < $1.key }).enumerated() {
            if i % 2 == 0 { try drop(name, data) } else { try write(name, data) }
        }
        for (name, data) in ignored { try write(name, data) }
        try FileManager.default.createSymbolicLink(at: layout.inbox.appendingPathComponent("link.jsonl"), withDestinationURL: outside)
        XCTAssertEqual(mkfifo(layout.inbox.appendingPathComponent("fifo.jsonl").path, 0o644), 0)
        let folder = root.deletingLastPathComponent().appendingPathComponent("folder.jsonl")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try prompts(7).write(to: folder.appendingPathComponent("inside.jsonl"))
        XCTAssertEqual(rename(folder.path, layout.inbox.appendingPathComponent("folder.jsonl").path), 0)

        let expectedFailed = 10
        XCTAssertTrue(waitUntil(timeout: 60) { names(layout.outbox).count + names(layout.failed).count >= 53 },
                      "outbox \(names(layout.outbox).count), failed \(names(layout.failed).count)")
        Thread.sleep(forTimeInterval: 1.0)  // a rescan or two more: nothing may be delivered twice
        XCTAssertTrue(p.isRunning, "bad input stopped the daemon")

        // Every good file exactly once, each with a valid adapter.
        let delivered = try deliveries()
        XCTAssertEqual(delivered.count, 43)
        XCTAssertEqual(delivered.map(\.file).sorted(), good.keys.sorted())
        for d in delivered {
            let adapter = try LoRAAdapter(folder: layout.outbox.appendingPathComponent(d.job))
            XCTAssertFalse(adapter.weights.isEmpty, d.job)
            assertComplete(d.job)
            XCTAssertEqual(d.generator, scenario.initialIdentity)
        }
        XCTAssertEqual(Set(delivered.map(\.job)).intersection(["Données_d_été_01", "my_prompts_copy", "good-00", "arr-0", "lines-3"]).count, 5)
        func job(_ file: String) -> String { delivered.first { $0.file == file }!.job }  // windows and windows-2, in either order
        XCTAssertEqual(try report(job("windows.jsonl"))["prompts"] as? Int, 2)
        XCTAssertEqual(try report(job("windows.txt"))["prompts"] as? Int, 3)
        XCTAssertEqual(try report("toolong")["warnings"] as? [String],
                       ["line 1: the prompt has 300 characters, over max_prompt_chars = 200: only its first 200 are used"])

        // Every bad one in failed/<job>/ with the original untouched and error.json saying what and where.
        XCTAssertEqual(names(layout.failed).count, expectedFailed)
        var whats: [String: FailedJob.Report] = [:]
        for job in names(layout.failed) {
            let dir = layout.failed.appendingPathComponent(job)
            let r = try FailedJob.read(dir)
            whats[r.file] = r
            XCTAssertEqual(names(dir).sorted(), [r.file, "error.json"].sorted(), job)
            if let original = bad[r.file] {
                XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent(r.file)), original, r.file)
            }
        }
        XCTAssertEqual(whats["invalid.jsonl"]?.where, "line 2")
        XCTAssertEqual(whats["invalid.jsonl"]?.what, "not valid JSON (starts with \"{\"prompt\": nope}\")")
        XCTAssertEqual(whats["empty.jsonl"]?.what, "the file is empty")
        XCTAssertEqual(whats["binary.jsonl"]?.what, "binary data (NUL bytes)")
        XCTAssertEqual(whats["oversize.jsonl"]?.what, "the file is 5000 bytes, over the limit of 4096 bytes")
        XCTAssertEqual(whats["oversize.jsonl"]?.fix, "split the file or raise max_file_bytes in config.toml")
        XCTAssertEqual(whats["noprompt.jsonl"]?.what, "no \"prompt\" field (fields: text)")
        XCTAssertEqual(whats["table.csv"]?.what, "unsupported file type (.csv)")
        XCTAssertEqual(whats["latin1.txt"]?.what, "not valid UTF-8 text")
        XCTAssertEqual(whats["latin1.txt"]?.where, "line 1")
        XCTAssertEqual(whats["link.jsonl"]?.what, "it is a symbolic link, and dnd never follows links")
        XCTAssertEqual(whats["fifo.jsonl"]?.what, "it is a FIFO (named pipe), not a regular file")
        XCTAssertEqual(whats["folder.jsonl"]?.what, "it is a folder, not a regular file")
        XCTAssertTrue(whats.values.allSatisfy { $0.kind == .input })
        // The link, FIFO and folder were moved as they are, never followed or opened.
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: layout.failed.appendingPathComponent("link/link.jsonl").path), outside.path)
        XCTAssertEqual(Rename.kind(layout.failed.appendingPathComponent("fifo/fifo.jsonl")), .fifo)
        XCTAssertEqual(names(layout.failed.appendingPathComponent("folder/folder.jsonl")), ["inside.jsonl"])

        // Ignored files stay where they are; nothing else is left over.
        XCTAssertEqual(names(layout.inbox).sorted(), ignored.keys.sorted())
        assertQuiescent()
        let s = try status()
        XCTAssertEqual(s.delivered, 43)
        XCTAssertEqual(s.failed, 10)
        XCTAssertEqual(s.queue["outbox"], 43)
        XCTAssertEqual(s.queue["failed"], 10)
    }

    func testKillNineAtRandomMomentsDeliversEveryJobExactlyOnce() throws {
        try writeConfig()
        let env = ["DND_FAKE_JOB_DELAY_MS": "240"]
        var p = try start(env)
        let files = (0..<20).map { String(format: "job-%02d.jsonl", $0) }
        for (i, f) in files.enumerated() { try drop(f, prompts(i)) }
        var seed = UInt64(Date().timeIntervalSince1970 * 1000)
        func random() -> Double { seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return Double(seed >> 11) / Double(1 << 53) }
        var delays: [Double] = []
        for round in 0..<7 {
            // One kill lands right after the restart (inside recovery and the first claims), the others anywhere.
            let delay = round == 3 ? 0.0 : 0.05 + random() * 0.7
            delays.append(delay)
            Thread.sleep(forTimeInterval: delay)
            p.killHard()
            XCTAssertEqual(names(layout.outbox).filter { $0.hasPrefix(".") }, [], "a temporary folder is visible in outbox/")
            for job in names(layout.outbox) { assertComplete(job) }   // nothing partial, adapter.gguf included
            p = round == 2 ? try DaemonProcess(root: root, environment: env) : try start(env)  // round 2: no wait for readiness
            processes.append(p)
        }
        XCTAssertTrue(waitUntil(timeout: 60) { names(layout.done).count == 20 && names(layout.outbox).count >= 20 },
                      "done \(names(layout.done).count), outbox \(names(layout.outbox).count); kill delays \(delays)")
        Thread.sleep(forTimeInterval: 0.8)
        let delivered = try deliveries()
        XCTAssertEqual(delivered.count, 20, "kill delays \(delays)")
        XCTAssertEqual(delivered.map(\.file).sorted(), files, "kill delays \(delays)")
        for d in delivered { assertComplete(d.job) }
        XCTAssertEqual(names(layout.failed), [])
        XCTAssertEqual(names(layout.inbox), [])
        assertQuiescent()
        // The first kill comes while jobs run: some start had to recover.
        XCTAssertTrue(p.log.contains("recovered after an unclean stop: requeued"), p.log)
        print("kill -9 delays: \(delays.map { String(format: "%.2f", $0) })")
    }

    func testKillNineEveryFewMillisecondsHitsClaimCommitAndPublishWindowsSafely() throws {
        // Instant jobs and kills 10-90 ms after each start: the kills land in the claim loop, between commit and
        // publish, in recovery itself. Nothing may be lost or delivered twice.
        try writeConfig()
        try FileManager.default.createDirectory(at: layout.inbox, withIntermediateDirectories: true)
        let files = (0..<40).map { String(format: "fast-%02d.jsonl", $0) }
        for (i, f) in files.enumerated() { try drop(f, prompts(i, count: 1)) }
        var seed = UInt64(Date().timeIntervalSince1970 * 1000) | 1
        var delays: [Int] = []
        for _ in 0..<25 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let ms = 10 + Int(seed >> 33) % 81
            delays.append(ms)
            let p = try DaemonProcess(root: root)
            processes.append(p)
            Thread.sleep(forTimeInterval: Double(ms) / 1000)
            p.killHard()
            if Rename.kind(layout.outbox) == .directory {
                XCTAssertEqual(names(layout.outbox).filter { $0.hasPrefix(".") }, [], "a temporary folder is visible in outbox/")
            }
        }
        try start()
        XCTAssertTrue(waitUntil(timeout: 60) { names(layout.done).count == 40 && names(layout.outbox).count >= 40 },
                      "done \(names(layout.done).count), outbox \(names(layout.outbox).count); kill delays (ms) \(delays)")
        Thread.sleep(forTimeInterval: 0.8)
        XCTAssertEqual(try deliveries().map(\.file).sorted(), files, "kill delays (ms) \(delays)")
        XCTAssertEqual(names(layout.failed), [])
        XCTAssertEqual(names(layout.inbox), [])
        assertQuiescent()
    }

    func testCheckpointsAddedWhileJobsRunRetrainOnceAndNewJobsUseTheNewGenerator() throws {
        try writeConfig()
        try scenario.addDataset(layout.checkpoints, "alpha")  // present at the first start: the generator's baseline
        let p = try start(["DND_FAKE_JOB_DELAY_MS": "300", "DND_FAKE_RETRAIN_DELAY_MS": "1500"])
        for i in 0..<10 { try drop("before-\(i).jsonl", prompts(i)) }
        // Several writes in a burst: one retraining after the quiet time.
        try scenario.addDataset(layout.checkpoints, "beta")
        try scenario.addDataset(layout.checkpoints, "gamma")
        XCTAssertTrue(waitUntil(timeout: 60) { ((try? status())?.retraining.completed ?? 0) >= 1 }, "no retraining finished")
        let s = try status()
        XCTAssertEqual(s.retraining.succeeded, 1)
        XCTAssertEqual(s.retraining.lastOK, true)
        let newIdentity = try XCTUnwrap(s.generator?.identity)
        XCTAssertNotEqual(newIdentity, scenario.initialIdentity)
        XCTAssertEqual(s.generator?.datasets, ["alpha", "beta", "gamma"])
        for i in 0..<3 { try drop("after-\(i).jsonl", prompts(100 + i)) }
        XCTAssertTrue(waitUntil(timeout: 60) { names(layout.outbox).count == 13 })
        Thread.sleep(forTimeInterval: 1.5)  // longer than the debounce: no second retraining may follow
        let lines = p.log.split(separator: "\n").map(String.init)
        let started = lines.indices.filter { lines[$0].contains("retraining started on checkpoints/") }
        XCTAssertEqual(started.count, 1, p.log)
        let finished = try XCTUnwrap(lines.firstIndex { $0.contains("retraining finished: generator \(newIdentity) replaces \(scenario.initialIdentity)") }, p.log)
        // Jobs kept completing on the old generator while the retraining ran.
        let during = lines[started[0]..<finished].filter { $0.contains("delivered job") && $0.contains("generator \(scenario.initialIdentity),") }
        XCTAssertGreaterThan(during.count, 0, p.log)
        let byFile = Dictionary(uniqueKeysWithValues: try deliveries().map { ($0.file, $0.generator) })
        for i in 0..<3 { XCTAssertEqual(byFile["after-\(i).jsonl"], newIdentity) }
        XCTAssertEqual(Set(byFile.values), [scenario.initialIdentity, newIdentity])
        XCTAssertEqual(try status().retraining.completed, 1)
        XCTAssertEqual(names(layout.generators), [GeneratorStore(layout: layout).linkedID()!])  // the old one pruned once free
        XCTAssertEqual(names(layout.retrainWork), [])
        assertQuiescent()
    }

    func testWithoutAGeneratorJobsWaitUntilTheFirstTrainingInstallsOne() throws {
        for f in ["state/generator", "state/generators"] { try? FileManager.default.removeItem(at: root.appendingPathComponent(f)) }
        try writeConfig()
        let p = try start()
        try drop("early.jsonl", prompts(1))
        XCTAssertTrue(waitUntil(timeout: 20) { names(layout.queued) == ["early"] })
        Thread.sleep(forTimeInterval: 1.0)
        XCTAssertEqual(names(layout.queued), ["early"])
        XCTAssertEqual(names(layout.outbox), [])
        XCTAssertNil(try status().generator)
        XCTAssertTrue(p.log.contains("no generator yet: 1 job(s) wait; add checkpoints to \(layout.checkpoints.path) or run `dnd train`"), p.log)
        try scenario.addDataset(layout.checkpoints, "first")
        XCTAssertTrue(waitUntil(timeout: 60) { names(layout.outbox) == ["early"] }, p.log)
        // status.json is written at most once per tick (a flood changes it hundreds of times a second).
        XCTAssertTrue(waitUntil(timeout: 5) { (try? status())?.generator != nil })
        let identity = try XCTUnwrap(try status().generator?.identity)
        XCTAssertEqual(try deliveries().map(\.generator), [identity])
        XCTAssertEqual(try status().generator?.datasets, ["first"])
        assertQuiescent()
    }

    func testFailedRetrainingKeepsTheOldGeneratorAndSaysWhy() throws {
        try writeConfig()
        let p = try start()
        try scenario.addBrokenDataset(layout.checkpoints, "broken")
        XCTAssertTrue(waitUntil(timeout: 20) { ((try? status())?.retraining.completed ?? 0) >= 1 })
        let s = try status()
        XCTAssertEqual(s.retraining.lastOK, false)
        XCTAssertEqual(s.retraining.succeeded, 0)
        XCTAssertTrue(s.retraining.lastError?.contains(scenario.brokenDatasetError("broken")) ?? false, "\(s.retraining)")
        XCTAssertEqual(s.generator?.identity, scenario.initialIdentity)
        XCTAssertTrue(s.lastErrors.last?.message.hasPrefix("retraining failed: ") ?? false, "\(s.lastErrors)")
        XCTAssertTrue(s.lastErrors.last?.message.hasSuffix("; keeping generator \(scenario.initialIdentity)") ?? false, "\(s.lastErrors)")
        try drop("after.jsonl", prompts(1))
        XCTAssertTrue(waitUntil(timeout: 20) { names(layout.outbox).count == 1 })
        XCTAssertEqual(try deliveries().first?.generator, scenario.initialIdentity)
        Thread.sleep(forTimeInterval: 1.5)  // the same broken zoo is not retried
        XCTAssertEqual(try status().retraining.completed, 1)
        XCTAssertTrue(p.isRunning)
        XCTAssertEqual(names(layout.retrainWork), [])
    }

    func testSigtermDuringAJobExitsZeroAndTheJobCompletesAfterRestart() throws {
        try writeConfig("stop_grace_seconds = 0.2\n")
        let p = try start(["DND_FAKE_JOB_DELAY_MS": "5000"])
        try drop("long.jsonl", prompts(1))
        XCTAssertTrue(waitUntil(timeout: 20) { names(layout.running) == ["long"] })
        Thread.sleep(forTimeInterval: 0.3)
        p.signal(SIGTERM)
        XCTAssertEqual(p.waitForExit(timeout: 10), 0, p.log)
        XCTAssertEqual(names(layout.queued), ["long"])  // re-queued, not lost
        XCTAssertEqual(names(layout.outbox), [])
        XCTAssertEqual(try status().state, .stopped)
        XCTAssertTrue(p.log.contains("job long did not finish within stop_grace_seconds=0.2; re-queued"), p.log)
        try start()
        XCTAssertTrue(waitUntil(timeout: 20) { names(layout.outbox) == ["long"] })
        XCTAssertEqual(try deliveries().map(\.file), ["long.jsonl"])
        assertQuiescent()
    }

    func testSigtermLetsAShortJobFinishFirst() throws {
        try writeConfig("stop_grace_seconds = 20\n")
        let p = try start(["DND_FAKE_JOB_DELAY_MS": "1200"])
        try drop("short.jsonl", prompts(1))
        XCTAssertTrue(waitUntil(timeout: 20) { names(layout.running) == ["short"] })
        p.signal(SIGINT)
        XCTAssertEqual(p.waitForExit(timeout: 20), 0, p.log)
        XCTAssertEqual(names(layout.outbox), ["short"])
        assertQuiescent()
    }

    func testSystemdNotifyReadyWatchdogStatusAndStopping() throws {
        try writeConfig()
        let sock = NotifySocket(path: root.deletingLastPathComponent().appendingPathComponent("notify").path)
        let p = try start(["NOTIFY_SOCKET": sock.path, "WATCHDOG_USEC": "600000"])
        try drop("one.jsonl", prompts(1))
        let messages = sock.receive(for: 1.5)
        p.signal(SIGTERM)
        XCTAssertEqual(p.waitForExit(timeout: 10), 0)
        let after = sock.receive(for: 0.3)
        let ready = messages.filter { $0.hasPrefix("READY=1\nSTATUS=") }
        XCTAssertEqual(ready.count, 1, "\(messages)")
        XCTAssertEqual(ready.first, "READY=1\nSTATUS=idle, 0 queued, 0 delivered, 0 failed, generator \(scenario.initialIdentity)")
        // Asked for every 0.3 s: at least 4 pings in 1.5 s.
        XCTAssertGreaterThanOrEqual(messages.filter { $0 == "WATCHDOG=1" }.count, 4, "\(messages)")
        XCTAssertTrue(messages.contains("STATUS=idle, 0 queued, 1 delivered, 0 failed, generator \(scenario.initialIdentity)"), "\(messages)")
        XCTAssertEqual(after.filter { $0.hasPrefix("STOPPING=1\n") }.count, 1, "\(after)")
    }

    func testASecondDaemonOnTheSameRootIsRefused() throws {
        try writeConfig()
        let first = try start()
        let second = try DaemonProcess(root: root)
        processes.append(second)
        XCTAssertEqual(second.waitForExit(timeout: 20), 1)
        XCTAssertTrue(second.log.contains("error: another dnd daemon (pid \(first.pid)) is already serving \(layout.root.path); stop it first (systemctl --user stop dnd)"), second.log)
        XCTAssertTrue(first.isRunning)
    }

    func testABadConfigStopsTheStartWithTheFileAndKey() throws {
        try Data("max_queue = \"lots\"\n".utf8).write(to: root.appendingPathComponent("config.toml"))
        let p = try DaemonProcess(root: root)
        processes.append(p)
        XCTAssertEqual(p.waitForExit(timeout: 20), 1)
        XCTAssertTrue(p.log.contains("error: \(layout.configFile.path): `max_queue` must be an integer, e.g. max_queue = 1000"), p.log)
    }

    func testFullQueueLeavesFilesInTheInbox() throws {
        try writeConfig("max_queue = 2\n")
        try start(["DND_FAKE_JOB_DELAY_MS": "300"])
        for i in 0..<6 { try drop("q-\(i).jsonl", prompts(i)) }
        var maxQueued = 0, sawWaiting = false
        let done = waitUntil(timeout: 30) {
            maxQueued = max(maxQueued, names(layout.queued).count)
            if !names(layout.inbox).isEmpty && names(layout.outbox).count < 6 { sawWaiting = true }
            return names(layout.outbox).count == 6
        }
        XCTAssertTrue(done)
        XCTAssertLessThanOrEqual(maxQueued, 2)
        XCTAssertTrue(sawWaiting, "no file ever waited in inbox/")
        XCTAssertEqual(try deliveries().map(\.file).sorted(), (0..<6).map { "q-\($0).jsonl" })
    }

    func testEvaluationOptInAndOptOutTravelFromTheFileName() throws {
        try writeConfig("evaluation = \"off\"\n")
        try start()
        try drop("plain.jsonl", prompts(1))
        try drop("wanted.eval.jsonl", prompts(2))
        try drop("unwanted.noeval.jsonl", prompts(3))
        XCTAssertTrue(waitUntil(timeout: 20) { names(layout.outbox).count == 3 })
        let plain = scenario.reportEvaluation(try report("plain"))
        XCTAssertEqual(plain.requested, false)
        XCTAssertEqual(plain.reason, "evaluation = \"off\" in config.toml; add .eval before the extension to evaluate one file")
        let wanted = scenario.reportEvaluation(try report("wanted"))
        XCTAssertEqual(wanted.requested, true)
        XCTAssertEqual(wanted.reason, "requested by the file name tag .eval")
        let unwanted = scenario.reportEvaluation(try report("unwanted"))
        XCTAssertEqual(unwanted.requested, false)
        XCTAssertEqual(unwanted.reason, "turned off by the file name tag .noeval")
    }
}
