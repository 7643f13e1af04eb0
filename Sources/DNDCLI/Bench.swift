import ArgumentParser

/// `dnd bench …`: benchmarks that print numbers.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput (GFLOPS, prompts/s, tokens/s) on this machine.",
        subcommands: [BenchGemm.self, BenchConv.self, BenchEncode.self, BenchGenerator.self, BenchLLM.self, BenchTrain.self, BenchGenerate.self, BenchDND.self, BenchDaemon.self]
    )
}
