import ArgumentParser
import Foundation
import TensorCore
import TextEncoder

/// `dnd bench encode`: sentence-encoder throughput (prompts/s, GFLOPS) at fixed prompt lengths.
struct BenchEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Sentence-encoder throughput: prompts/s for prompts of fixed token lengths at a fixed batch size.")

    @Option(help: "Encoder folder (default: $DND_ENCODER or the installed all-MiniLM-L6-v2).") var model: String?
    @Option(help: "Prompts per call to the encoder.") var batch = 32
    @Option(help: "Prompt lengths in tokens, [CLS] and [SEP] included (repeat the option for several).") var lengths: [Int] = [64, 128]
    @Option(help: "Timed repetitions per length (best is reported).") var repeats = 5

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard lengths.allSatisfy({ $0 >= 3 }) else { throw ValidationError("--lengths must be at least 3 (one word between [CLS] and [SEP])") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    func run() throws {
        let folder = try model.map { URL(fileURLWithPath: $0) } ?? SentenceEncoder.defaultFolder()
        let encoder = try SentenceEncoder(folder: folder)
        for l in lengths where l > encoder.maxSequenceLength {
            throw DNDError("--lengths \(l) is over the encoder's limit of \(encoder.maxSequenceLength) tokens")
        }
        // Whole-word vocabulary entries: each tokenizes to exactly one id, so a prompt of L − 2 of them is L tokens.
        let words = encoder.tokenizer.wordPiece.tokens.filter { $0.count >= 3 && $0.allSatisfy { $0.isASCII && $0.isLowercase } }
        guard !words.isEmpty else { throw DNDError("\(folder.path): the vocabulary has no plain lower-case words to build benchmark prompts from") }
        var rng = SeededRNG(seed: 11)
        let peak = sgemmPeakGFLOPS()
        print("encoder \(encoder.identity), \(BLAS.threads) BLAS threads, batch \(batch), best of \(repeats)")
        print(String(format: "sgemm peak (1024³): %.1f GFLOPS", peak))
        print(" tokens  prompts/s   ms/batch   GFLOPS  % of sgemm")
        for l in lengths {
            let prompts = (0..<batch).map { _ in (0..<(l - 2)).map { _ in words[rng.int(below: words.count)] }.joined(separator: " ") }
            let counts = Set(prompts.map { encoder.tokenize($0).count })
            guard counts == [l] else { throw DNDError("benchmark prompts tokenized to \(counts.sorted()) tokens instead of \(l)") }
            let t = bestTime(repeats: repeats) { _ = encoder.encode(prompts, length: l) }
            let gflops = Double(batch * l) * encoder.config.flopsPerToken(length: l) / t / 1e9
            print(String(format: "%7d %10.1f %10.1f %8.1f %10.0f%%", l, Double(batch) / t, t * 1e3, gflops, 100 * gflops / peak))
        }
    }
}
