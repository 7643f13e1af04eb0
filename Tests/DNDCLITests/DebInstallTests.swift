import Daemon
import DaemonTestSupport
import DNDTestSupport
import FileKit
import Foundation
import Prompts
import Workspace
import XCTest

/// Issue 15.5: the .deb works on its own. The package (built from the debug binary) is extracted with dpkg-deb and
/// its `dnd serve` run with a clean environment and `/` as working folder: it finds the encoder it ships, takes a
/// dropped file and delivers an adapter; without that encoder it says so and serves nothing.
final class DebInstallTests: XCTestCase {
    func sh(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.currentDirectoryURL = TestSupport.repoRoot
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `<dir>/usr/bin/dnd serve --root root` with nothing from this environment, in `/`; its output goes to `log`.
    func serve(_ dir: URL, root: URL, home: URL, log: URL) throws -> Process {
        let p = Process()
        p.executableURL = dir.appendingPathComponent("usr/bin/dnd")
        p.arguments = ["serve", "--root", root.path]
        p.environment = ["HOME": home.path, "PATH": "/usr/bin:/bin"]
        p.currentDirectoryURL = URL(fileURLWithPath: "/")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try FileHandle(forWritingTo: log)
        p.standardOutput = h; p.standardError = h
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    func testTheExtractedPackageServesOnItsOwn() throws {
        let work = TestSupport.temporaryDirectory("dnd-deb-install")
        defer { try? FileManager.default.removeItem(at: work) }
        let build = try sh(["bash", "Packaging/build-deb", "--binary", TestSupport.dndBinary.path, "--out", work.path, "--fast"])
        XCTAssertEqual(build.status, 0, build.output)
        let deb = build.output.split(separator: "\n").last.map(String.init) ?? ""
        let installed = work.appendingPathComponent("installed")
        let x = try sh(["dpkg-deb", "-x", deb, installed.path])
        XCTAssertEqual(x.status, 0, x.output)
        let home = work.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)

        let root = try ServeTests.trainedRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let log = work.appendingPathComponent("serve.log")
        let p = try serve(installed, root: root, home: home, log: log)
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        XCTAssertTrue(waitUntil(timeout: 60) { (try? StatusFile.read(layout: RootLayout(root: root)))??.state == .running || !p.isRunning }, logText())
        let tmp = root.appendingPathComponent(".drop.part")
        try PromptFile.write([PromptRecord(prompt: "Rewrite item 7 in upper style.", line: 1)], to: tmp)
        XCTAssertEqual(rename(tmp.path, root.appendingPathComponent("inbox/dropped.noeval.jsonl").path), 0)
        let adapter = root.appendingPathComponent("outbox/dropped/adapter_model.safetensors")
        XCTAssertTrue(waitUntil(timeout: 120) { FileManager.default.fileExists(atPath: adapter.path) }, logText())
        XCTAssertEqual(Rename.names(root.appendingPathComponent("failed")), [], logText())
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, logText())

        // Without the encoder it ships, the same binary refuses to serve (exit 78) and leaves the inbox alone.
        try FileManager.default.removeItem(at: installed.appendingPathComponent("usr/share/dnd/encoder"))
        try PromptFile.write([PromptRecord(prompt: "waits", line: 1)], to: root.appendingPathComponent("inbox/later.jsonl"))
        let q = try serve(installed, root: root, home: home, log: work.appendingPathComponent("serve2.log"))
        q.waitUntilExit()
        XCTAssertEqual(q.terminationStatus, 78)
        XCTAssertEqual(Rename.names(root.appendingPathComponent("inbox")), ["later.jsonl"])
        XCTAssertEqual(try StatusFile.read(layout: RootLayout(root: root))?.state, .unusable)
    }
}
