import ArgumentParser

/// `dnd debug …`: the parity commands of DESIGN.md ("Verification commands").
struct Debug: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parity and debugging commands (compare dnd with the reference Python libraries).",
        subcommands: [DebugTokenize.self, DebugChat.self, DebugEmbed.self, LoRATokens.self, DebugHyperconv.self, DebugLogits.self, DebugTrainStep.self]
    )
}
