import Foundation

extension TestSupport {
    /// The Python of the venv `Packaging/install-deps` makes for dnd_torch (`.deps/torch/bin/python`), or `$DND_PYTHON`.
    public static var torchPython: URL {
        if let p = ProcessInfo.processInfo.environment["DND_PYTHON"], !p.isEmpty { return URL(fileURLWithPath: p) }
        return repoRoot.appendingPathComponent(".deps/torch/bin/python")
    }

    /// `torchrun` next to `torchPython`.
    public static var torchrun: URL { torchPython.deletingLastPathComponent().appendingPathComponent("torchrun") }

    /// The environment dnd_torch runs in from the tests: `python/` on PYTHONPATH (so the working tree's package is the
    /// one run, installed or not).
    public static var torchEnvironment: [String: String] {
        let python = repoRoot.appendingPathComponent("python").path
        let old = ProcessInfo.processInfo.environment["PYTHONPATH"].map { ":" + $0 } ?? ""
        // PYTHONWARNINGS: torchrun imports torch before dnd_torch can quieten its warning about the absent numpy.
        return ["PYTHONPATH": python + old, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore:Failed to initialize NumPy"]
    }

    /// Runs `executable args…` (in `directory`, default the repository) and returns (exit code, stdout, stderr).
    @discardableResult
    public static func run(_ executable: URL, _ args: [String], environment: [String: String] = [:],
                           directory: URL? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try capture(executable, args, environment: environment, directory: directory ?? repoRoot)
    }
}
