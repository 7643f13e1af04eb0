import Daemon
import DaemonTestSupport
import DNDTestSupport
import FileKit
import Foundation
import LoRA
import Pipeline
import Prompts
import Workspace
import XCTest

final class JobWorkerTests: XCTestCase {
    func testOptionsFromTheTagAndTheConfig() {
        var config = DaemonConfig()
        let base = URL(fileURLWithPath: "/models/base")
        XCTAssertEqual(JobOptions.make(tag: .configDefault, config: config, baseModel: base),
                       JobOptions(evaluate: true, evaluationReason: "evaluation = \"auto\" in config.toml (the default)", baseModel: base, limits: config.limits))
        XCTAssertEqual(JobOptions.make(tag: .off, config: config, baseModel: base).evaluate, false)
        XCTAssertEqual(JobOptions.make(tag: .off, config: config, baseModel: base).evaluationReason, "turned off by the file name tag .noeval")
        config.evaluation = .off
        config.maxPrompts = 9
        let off = JobOptions.make(tag: .configDefault, config: config, baseModel: nil)
        XCTAssertFalse(off.evaluate)
        XCTAssertEqual(off.limits.maxPrompts, 9)
        XCTAssertEqual(JobOptions.make(tag: .on, config: config, baseModel: nil).evaluate, true)
        XCTAssertEqual(JobOptions.make(tag: .on, config: config, baseModel: nil).evaluationReason, "requested by the file name tag .eval")
    }

    func testResultsAreVerifiedBeforeDelivery() throws {
        let dir = TestSupport.temporaryDirectory("dnd-results")
        let job = Job(name: "j", fileName: "j.jsonl", input: dir.appendingPathComponent("j.jsonl"), records: [PromptRecord(prompt: "p")],
                      options: JobOptions.make(tag: .configDefault, config: DaemonConfig(), baseModel: nil))
        let generator = GeneratorHandle(folder: dir, info: GeneratorInfo(identity: "g", datasets: [], trainedAt: nil))
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try FakeWorker().process(job, generator: generator, output: out, control: WorkControl())
        try Data("left over".utf8).write(to: out.appendingPathComponent(".report.json.tmp-1-2"))
        XCTAssertNoThrow(try JobResults.verify(out))
        XCTAssertEqual(Rename.names(out), (JobResults.files + [JobResults.gguf]).sorted())  // the hidden leftover is gone
        // adapter.gguf, when there, must be a complete GGUF LoRA of the same pairs.
        let gguf = out.appendingPathComponent(JobResults.gguf)
        let good = try Data(contentsOf: gguf)
        try good.prefix(good.count / 2).write(to: gguf)
        XCTAssertThrowsError(try JobResults.verify(out)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        var one = try LoRAAdapter(folder: out)
        one.weights = one.weights.filter { $0.key.layer == 0 }
        try GGUFLoRA.write(one, base: FakeWorker.ggufBase, to: gguf)
        XCTAssertThrowsError(try JobResults.verify(out)) { XCTAssertTrue("\($0)".contains("whose LoRA pairs (2) differ from the PEFT adapter's (4)"), "\($0)") }
        try FileManager.default.removeItem(at: gguf)
        XCTAssertNoThrow(try JobResults.verify(out), "adapter.gguf is optional (no base model known)")
        try FileManager.default.removeItem(at: out.appendingPathComponent("report.html"))
        XCTAssertThrowsError(try JobResults.verify(out)) {
            XCTAssertEqual("\($0)", "the worker did not write report.html (a regular file) into the job's output")
        }
        try Data("<html>".utf8).write(to: out.appendingPathComponent("report.html"))
        try Data("[1]".utf8).write(to: out.appendingPathComponent("report.json"))
        XCTAssertThrowsError(try JobResults.verify(out)) { XCTAssertEqual("\($0)", "the worker wrote a report.json that is not a JSON object") }
        try Data("{}".utf8).write(to: out.appendingPathComponent("report.json"))
        try Data("{\"r\": 3}".utf8).write(to: out.appendingPathComponent("adapter_config.json"))
        XCTAssertThrowsError(try JobResults.verify(out)) { XCTAssertTrue("\($0)".contains("the config's rank is 3"), "\($0)") }
    }

    func testFakeWorkerIsDeterministicAndCancellable() throws {
        let dir = TestSupport.temporaryDirectory("dnd-fake")
        let job = Job(name: "j", fileName: "j.jsonl", input: dir.appendingPathComponent("j.jsonl"),
                      records: [PromptRecord(prompt: "a"), PromptRecord(prompt: "b")],
                      options: JobOptions.make(tag: .configDefault, config: DaemonConfig(), baseModel: nil))
        let g = GeneratorHandle(folder: dir, info: GeneratorInfo(identity: "g", datasets: [], trainedAt: nil))
        for n in ["o1", "o2"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(n), withIntermediateDirectories: true)
            try FakeWorker().process(job, generator: g, output: dir.appendingPathComponent(n), control: WorkControl())
        }
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("o1/adapter_model.safetensors")),
                       try Data(contentsOf: dir.appendingPathComponent("o2/adapter_model.safetensors")))
        let control = WorkControl()
        control.cancel()
        XCTAssertThrowsError(try FakeWorker(jobDelay: 1).process(job, generator: g, output: dir.appendingPathComponent("o1"), control: control)) {
            XCTAssertTrue($0 is CancellationError)
        }
    }
}
