import ArgumentParser
import Daemon
import Foundation
import TensorCore
import Workspace

/// `dnd status`: what the daemon on a root is doing.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's state: queue lengths, the running job, the generator in use, retraining, the last errors.",
        discussion: "Queue lengths are counted from the folders themselves; the rest comes from state/status.json, which `dnd serve` keeps current."
    )

    @OptionGroup var root: RootOptions

    /// The encoder folder the daemon is given (--encoder of dnd serve), for the check made when no daemon runs.
    @OptionGroup var encoder: EncoderOptions

    @Flag(name: .long, help: "Print state/status.json as it is, plus the live counts, whether the daemon runs and what it would lack.")
    var json = false

    func run() throws {
        let layout = try root.layout()
        guard Rename.kind(layout.root) == .directory || Rename.kind(layout.root) == .symlink else {
            throw DNDError("\(layout.root.path): no dnd root here; start `dnd serve` (or pass --root DIR)")
        }
        let status = try StatusFile.read(layout: layout)
        let live = StatusFile.liveCounts(layout: layout)
        let running = InstanceLock.isHeld(layout)
        // No daemon: say now whether one could serve (the encoder is there), not only what the last one said.
        let problems = running ? [] : PipelineWorker.missingPieces(encoderFolder: encoder.folder)
        if json {
            var out: [String: Any] = ["running": running, "queue": live, "root": layout.root.path, "problems": problems]
            if let status {
                let data = try JSONEncoder.statusEncoder.encode(status)
                out["status"] = try JSONSerialization.jsonObject(with: data)
            }
            let data = try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(StatusFile.render(status, live: live, running: running, layout: layout, problems: problems), terminator: "")
        }
    }
}

extension JSONEncoder {
    /// ISO dates, as in status.json.
    static var statusEncoder: JSONEncoder {
        let enc = JSONEncoder()
        enc.dateEncodingStrategy = .iso8601
        return enc
    }
}
