import ArgumentParser
import Foundation
import Generator
import SafeTensors
import TensorCore

/// `dnd debug hyperconv`: runs the decoder on a parameter file and an input file, for parity with PyTorch.
struct DebugHyperconv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hyperconv",
        abstract: "Run the hyper-convolutional decoder forward (and backward) on given parameters and input.",
        discussion: """
        The chain of [N, H, W] shapes is read off the parameter shapes (blocks.<i>.<name>, DESIGN.md). The input
        file holds x [B, N, H, W] and, for the loss, t (the output's shape) and w (one weight per output channel).
        Writes y; prints `loss <value>` (mean of w[n]·(y − t)²) on its last line when t and w are given.
        """
    )

    @Option(help: "Parameters (.safetensors, blocks.<i>.<name>).") var params: String
    @Option(help: "Input (.safetensors): x, and optionally t and w for the loss.") var input: String
    @Option(help: "Kernel size (odd).") var kernel: Int
    @Option(help: "Where to write y (.safetensors).") var out: String
    @Option(help: "Where to write the loss gradient for x and every parameter (.safetensors); needs t and w.") var grads: String?

    func validate() throws {
        guard kernel >= 1 && kernel % 2 == 1 else { throw ValidationError("--kernel must be odd and positive (3, 5, 7, 9…)") }
    }

    func run() throws {
        let tensors = try SafeTensorsFile(path: params).allTensors()
        let chain = try HyperConvGenerator.chain(fromParameters: tensors, kernel: kernel, source: params)
        let config: GeneratorConfig
        do { config = try GeneratorConfig(chain: chain, kernel: kernel) } catch let e as DNDError {
            throw DNDError("\(params): \(e.message)")
        }
        let generator = try HyperConvGenerator(config: config, parameters: tensors, source: params)
        let file = try SafeTensorsFile(path: input)
        guard file.contains("x") else { throw DNDError("\(input): no tensor x; the input file must hold x [B, \(chain[0].map(String.init).joined(separator: ", "))]") }
        let x = try file.tensor("x")
        do { try generator.checkInput(x) } catch let e as DNDError { throw DNDError("\(input): tensor x: \(e.message)") }
        let b = x.shape[0]
        var target: (t: Tensor, w: Tensor)?
        switch (file.contains("t"), file.contains("w")) {
        case (true, true):
            let t = try file.tensor("t"), w = try file.tensor("w")
            guard t.shape == [b] + config.tokenShape else {
                throw DNDError("\(input): tensor t has shape \(t.shape) but the output is \([b] + config.tokenShape)")
            }
            guard w.count == config.tokenCount else {
                throw DNDError("\(input): tensor w has \(w.count) values but the output has \(config.tokenCount) channels (one weight each)")
            }
            target = (t, w.reshaped([config.tokenCount]))
        case (false, false): target = nil
        default: throw DNDError("\(input): the loss needs both t and w; give both or neither")
        }
        if grads != nil && target == nil { throw DNDError("\(input): --grads needs t and w in the input file (the gradient is of the loss)") }

        let (y, cache) = try generator.forwardWithCache(x)
        try SafeTensorsWriter.write(["y": y], to: URL(fileURLWithPath: out))
        print("chain \(chain) kernel \(kernel), batch \(b), \(generator.parameterCount) parameters")
        print("wrote y \(y.shape) to \(out)")
        guard let (t, w) = target else { return }
        let loss = WeightedMSE.forward(y, target: t, weights: w)
        if let grads {
            var g: [String: Tensor] = [:]
            g["x"] = generator.backward(&g, dOut: WeightedMSE.backward(y, target: t, weights: w), cache: cache)
            try SafeTensorsWriter.write(g, to: URL(fileURLWithPath: grads))
            print("wrote \(g.count) gradients to \(grads)")
        }
        print(String(format: "loss %.9g", loss))
    }
}
