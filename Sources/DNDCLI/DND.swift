import ArgumentParser
import Foundation
import TensorCore

/// The `dnd` command line: prompt-to-weights LoRA generation.
public struct DND: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "dnd",
        abstract: "Drag-and-Drop LLMs: turn a few unlabeled prompts into a LoRA adapter, with no gradient step.",
        discussion: """
        A frozen Sentence-BERT encoder embeds the prompts; a hyper-convolutional decoder trained on
        (prompt batch, LoRA checkpoint) pairs emits every LoRA matrix. See README.md.
        """,
        version: version,
        subcommands: [Inspect.self, Embed.self, Pretrain.self, Finetune.self, Train.self, ExportTraining.self, InstallGenerator.self, Generate.self, ExportGGUF.self, Eval.self, Serve.self, Status.self, ConfigCommand.self, Debug.self, Bench.self, DemoCommand.self]
    )

    public init() {}

    /// Parses the command line and runs the command. The one place errors become exit statuses: a `DNDError` (what the
    /// user or the environment caused) is one `error: …` line on stderr and status 1; anything else (usage errors,
    /// `--help`, `ExitCode`) goes to ArgumentParser, as its own `main()` does.
    public static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let e as DNDError {
            fail(e.message)
        } catch {
            exit(withError: error)
        }
    }
}

/// Prints a one-line error to stderr and exits non-zero: the CLI's way to report user errors (see `DND.main`).
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
    exit(1)
}
