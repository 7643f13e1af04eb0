import DNDTestSupport
import Foundation
import XCTest

/// `systemd/dnd.service` as systemd itself reads it.
final class SystemdUnitTests: XCTestCase {
    static let unit = TestSupport.repoRoot.appendingPathComponent("systemd/dnd.service")

    func run(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Verifies `text` as a user unit, with ExecStart pointed at the built binary (verify checks it is executable).
    func verify(_ text: String) throws -> (status: Int32, output: String) {
        let dir = TestSupport.temporaryDirectory("dnd-unit")
        let runtime = dir.appendingPathComponent("runtime")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let unit = dir.appendingPathComponent("dnd.service")
        try Data(text.replacingOccurrences(of: "ExecStart=/usr/bin/dnd", with: "ExecStart=\(TestSupport.dndBinary.path)").utf8).write(to: unit)
        // --man=no: the man page is only there once the .deb is installed.
        return try run(["systemd-analyze", "--user", "verify", "--man=no", unit.path], environment: ["XDG_RUNTIME_DIR": runtime.path])
    }

    func testSystemdAnalyzeAcceptsTheUnitWithoutAWarning() throws {
        let text = try String(contentsOf: SystemdUnitTests.unit, encoding: .utf8)
        let (status, output) = try verify(text)
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(output, "")
    }

    func testSystemdAnalyzeRejectsABrokenUnit() throws {
        let text = try String(contentsOf: SystemdUnitTests.unit, encoding: .utf8)
        let (status, output) = try verify(text.replacingOccurrences(of: "ExecStart=/usr/bin/dnd serve", with: "ExecStart=/nonexistent/dnd serve"))
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("/nonexistent/dnd"), output)
    }

    func testTheUnitIsANotifyServiceWithWatchdogRestartAndSandboxing() throws {
        let lines = Set(try String(contentsOf: SystemdUnitTests.unit, encoding: .utf8).split(separator: "\n").map(String.init))
        for expected in ["Type=notify", "NotifyAccess=main", "ExecStart=/usr/bin/dnd serve", "Restart=on-failure", "WatchdogSec=60",
                         "NoNewPrivileges=yes", "RestrictAddressFamilies=AF_UNIX", "SystemCallFilter=@system-service",
                         "MemoryDenyWriteExecute=yes", "WantedBy=default.target", "RestartPreventExitStatus=78",
                         "SystemCallFilter=~@privileged @resources", "KeyringMode=private", "UMask=0077", "CapabilityBoundingSet="] {
            XCTAssertTrue(lines.contains(expected), expected)
        }
    }

    /// Issue 15.6: `systemd-analyze security` rates the unit's exposure OK (3.4; it was 6.3 MEDIUM).
    func testSystemdAnalyzeSecurityRatesTheUnitOK() throws {
        let dir = TestSupport.temporaryDirectory("dnd-unit")
        let runtime = dir.appendingPathComponent("runtime")
        try FileManager.default.createDirectory(at: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let unit = dir.appendingPathComponent("dnd.service")
        let text = try String(contentsOf: SystemdUnitTests.unit, encoding: .utf8)
        try Data(text.replacingOccurrences(of: "ExecStart=/usr/bin/dnd", with: "ExecStart=\(TestSupport.dndBinary.path)").utf8).write(to: unit)
        let (status, output) = try run(["systemd-analyze", "security", "--offline=yes", "--user", unit.path], environment: ["XDG_RUNTIME_DIR": runtime.path])
        XCTAssertEqual(status, 0, output)
        let line = try XCTUnwrap(output.split(separator: "\n").last { $0.contains("Overall exposure level") }, output)
        let score = try XCTUnwrap(line.split(separator: " ").compactMap { Double($0) }.first, String(line))
        print("systemd-analyze security: \(line)")
        XCTAssertLessThanOrEqual(score, 3.5, String(line))
    }
}
