import Daemon
import DaemonTestSupport
import Foundation

// `dnd-testhost serve [--root DIR]`: a real daemon process running `DaemonMain` with the deterministic `FakeWorker`
// (configured by DND_FAKE_* variables), so the integration tests can start, kill and restart it like `dnd serve`.
var args = Array(CommandLine.arguments.dropFirst())
guard args.first == "serve" else {
    FileHandle.standardError.write(Data("usage: dnd-testhost serve [--root DIR]\n".utf8))
    exit(2)
}
args.removeFirst()
var root: String?
while !args.isEmpty {
    let a = args.removeFirst()
    if a == "--root", !args.isEmpty { root = args.removeFirst() } else {
        FileHandle.standardError.write(Data("dnd-testhost: unknown argument \(a)\n".utf8))
        exit(2)
    }
}
await DaemonMain.main(rootOption: root, worker: FakeWorker(environment: ProcessInfo.processInfo.environment))
