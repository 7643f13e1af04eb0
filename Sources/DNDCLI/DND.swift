import ArgumentParser
import Foundation

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
}

/// Prints a one-line error to stderr and exits non-zero: the CLI's way to report user errors.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
    exit(1)
}
