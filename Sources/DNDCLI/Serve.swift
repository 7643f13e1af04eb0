import ArgumentParser
import Daemon
import Foundation

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

    @OptionGroup var root: RootOptions

    @OptionGroup var encoder: EncoderOptions

    func run() async throws {
        let layout = try root.layout()
        let worker = PipelineWorker(layout: layout, encoderFolder: encoder.folder, version: DND.version)
        await DaemonMain.main(rootOption: layout.root.path, worker: worker)
    }
}
