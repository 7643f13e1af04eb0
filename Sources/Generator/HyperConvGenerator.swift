import Foundation
import SafeTensors
import TensorCore

/// The cascaded hyper-convolutional decoder: a condition `[B, N, L, H]` in, weight tokens `[B, T, r+2, cw+2]`
/// out, parameters named `blocks.<i>.<name>` as in DESIGN.md.
public final class HyperConvGenerator: @unchecked Sendable {
    /// Shapes, token geometry and provenance.
    public private(set) var config: GeneratorConfig
    /// The blocks of `config.chain`, in order.
    public let blocks: [HyperConvBlock]
    /// Every parameter by DESIGN name; replace through `setParameters` (shapes are checked).
    public internal(set) var parameters: [String: Tensor]

    /// Name of the weights file inside a generator folder.
    public static let weightsFile = "generator.safetensors"
    /// Name of the config file inside a generator folder.
    public static let configFile = "generator.json"

    /// A freshly initialised generator: convolution weights normal with std `1/√(fan-in)` (fan-in `C·k·k`),
    /// LayerNorm weights 1, every bias 0; the same seed gives the same weights.
    public init(config: GeneratorConfig, seed: UInt64) {
        self.config = config
        blocks = config.blocks
        var rng = SeededRNG(seed: seed)
        var p: [String: Tensor] = [:]
        for (i, b) in blocks.enumerated() {
            let shapes = b.parameterShapes
            for name in HyperConvBlock.parameterNames {
                let shape = shapes[name]!
                let t: Tensor
                switch name {
                case "norm.weight": t = Tensor(shape: shape, repeating: 1)
                case "norm.bias", "bias", "channel.bias": t = Tensor(zeros: shape)
                default:
                    let fanIn = shape[1] * shape[2] * shape[3]
                    t = Tensor.randomNormal(shape, std: 1 / Float(fanIn).squareRoot(), rng: &rng)
                }
                p["blocks.\(i).\(name)"] = t
            }
        }
        parameters = p
    }

    /// A generator with given weights; every parameter of `config.chain` must be present with its shape, and
    /// nothing else. `source` names where the tensors came from, for error messages.
    public init(config: GeneratorConfig, parameters: [String: Tensor], source: String = "parameters") throws {
        self.config = config
        blocks = config.blocks
        try HyperConvGenerator.check(parameters, against: blocks, source: source)
        self.parameters = parameters
    }

    /// Loads `generator.json` and `generator.safetensors` from `folder`.
    public convenience init(folder: URL) throws {
        let config = try GeneratorConfig.load(from: folder.appendingPathComponent(HyperConvGenerator.configFile))
        let url = folder.appendingPathComponent(HyperConvGenerator.weightsFile)
        let file = try SafeTensorsFile(url: url)
        try self.init(config: config, parameters: try file.allTensors(), source: url.path)
    }

    /// Writes `generator.safetensors` and `generator.json` into a temporary sibling folder and moves it to
    /// `folder` in one rename (an existing generator there is replaced atomically).
    public func save(to folder: URL) throws {
        let params = parameters, json = try config.encoded()
        try AtomicFolder.write(folder) { tmp in
            try SafeTensorsWriter.write(params, to: tmp.appendingPathComponent(HyperConvGenerator.weightsFile),
                                        metadata: ["format": "dnd-generator", "version": String(config.format)])
            try AtomicFile.write(json, to: tmp.appendingPathComponent(HyperConvGenerator.configFile))
        }
    }

    /// Replaces the weights (same names and shapes as now).
    public func setParameters(_ new: [String: Tensor]) throws {
        try HyperConvGenerator.check(new, against: blocks, source: "new parameters")
        parameters = new
    }

    /// Replaces the provenance fields of the config (chain, kernel and geometry must stay the same).
    public func updateConfig(_ body: (inout GeneratorConfig) -> Void) throws {
        var c = config
        body(&c)
        guard c.chain == config.chain && c.kernel == config.kernel else {
            throw DNDError("generator config: the chain and kernel of a built generator cannot change (build a new generator)")
        }
        try c.validate()
        config = c
    }

    /// Number of parameters.
    public var parameterCount: Int { parameters.values.reduce(0) { $0 + $1.count } }

    /// Checks that `x` is `[B, N, L, H]` for this generator.
    public func checkInput(_ x: Tensor) throws {
        guard x.rank == 4, Array(x.shape.dropFirst()) == config.conditionShape, x.shape[0] >= 1 else {
            throw DNDError("generator input has shape \(x.shape) but this generator takes [B, \(config.prompts), \(config.length), \(config.hidden)] (B conditions of N prompts × L tokens × H hidden); encode the prompts with the generator's encoder (\(config.encoderIdentity.isEmpty ? "see generator.json" : config.encoderIdentity)) and its N and L")
        }
        guard !x.hasNonFinite else { throw DNDError("generator input \(x.shape) holds NaN or infinite values; check the encoder output") }
    }

    /// What `backward` needs: one cache per block.
    public struct Cache {
        public var blocks: [HyperConvBlock.Cache]
        /// Bytes of activations kept for backward.
        public var bytes: Int { blocks.reduce(0) { $0 + $1.bytes } }
    }

    /// `x [B, N, L, H] → [B, T, r+2, cw+2]`.
    public func forward(_ x: Tensor) throws -> Tensor {
        try checkInput(x)
        var h = x
        for (i, b) in blocks.enumerated() { h = b.forward(h, weights(i)).0 }
        return h
    }

    /// `forward`, keeping what `backward` needs.
    public func forwardWithCache(_ x: Tensor) throws -> (Tensor, Cache) {
        try checkInput(x)
        var h = x
        var caches: [HyperConvBlock.Cache] = []
        caches.reserveCapacity(blocks.count)
        for (i, b) in blocks.enumerated() {
            let (y, c) = b.forward(h, weights(i))
            caches.append(c)
            h = y
        }
        return (h, Cache(blocks: caches))
    }

    /// Backward of `forwardWithCache`: accumulates `dL/dθ` into `grads` (missing entries start at zero), returns `dL/dx`.
    @discardableResult
    public func backward(_ grads: inout [String: Tensor], dOut: Tensor, cache: Cache) -> Tensor {
        precondition(cache.blocks.count == blocks.count, "backward: cache of \(cache.blocks.count) blocks for \(blocks.count)")
        var d = dOut
        for i in stride(from: blocks.count - 1, through: 0, by: -1) {
            let prefix = "blocks.\(i)."
            var g = HyperConvBlock.Weights(grads.isEmpty ? [:] : grads, prefixOrZeros: prefix, block: blocks[i])
            for name in HyperConvBlock.parameterNames { grads[prefix + name] = nil }   // g owns the storage uniquely
            d = blocks[i].backward(&g, dOut: d, cache: cache.blocks[i], weights: weights(i))
            grads.merge(g.named(prefix: prefix)) { $1 }
        }
        return d
    }

    /// Zero gradients for every parameter.
    public func zeroGradients() -> [String: Tensor] { parameters.mapValues { Tensor(zeros: $0.shape) } }

    func weights(_ i: Int) -> HyperConvBlock.Weights { HyperConvBlock.Weights(parameters, prefix: "blocks.\(i).") }

    /// Every expected name present with its shape, no stray tensor; errors name the source, the tensor and the fix.
    static func check(_ tensors: [String: Tensor], against blocks: [HyperConvBlock], source: String) throws {
        var expected: [String: [Int]] = [:]
        for (i, b) in blocks.enumerated() {
            for (name, shape) in b.parameterShapes { expected["blocks.\(i).\(name)"] = shape }
        }
        for name in expected.keys.sorted() {
            guard let t = tensors[name] else {
                throw DNDError("\(source): missing tensor \(name) \(expected[name]!); the weights do not belong to this generator config")
            }
            guard t.shape == expected[name]! else {
                throw DNDError("\(source): tensor \(name) has shape \(t.shape) but the config's chain needs \(expected[name]!); the weights do not belong to this generator config")
            }
            guard !t.hasNonFinite else { throw DNDError("\(source): tensor \(name) holds NaN or infinite values; retrain or restore the generator") }
        }
        if let stray = tensors.keys.sorted().first(where: { expected[$0] == nil }) {
            throw DNDError("\(source): unexpected tensor \(stray); a generator holds only blocks.<i>.{\(HyperConvBlock.parameterNames.joined(separator: ", "))} for its \(blocks.count) blocks")
        }
    }
}

extension HyperConvBlock.Weights {
    /// Gradients read from `grads` where present, zeros elsewhere.
    init(_ grads: [String: Tensor], prefixOrZeros prefix: String, block: HyperConvBlock) {
        var t: [String: Tensor] = [:]
        for (name, shape) in block.parameterShapes { t[name] = grads[prefix + name] ?? Tensor(zeros: shape) }
        self.init(t, prefix: "")
    }
}

extension HyperConvGenerator {
    /// The chain `[[N, H, W]]` that a set of `blocks.<i>.<name>` tensors describes, for kernel `kernel`; throws,
    /// naming `source` and the tensor, when names are missing or stray or the shapes do not chain.
    public static func chain(fromParameters tensors: [String: Tensor], kernel: Int, source: String) throws -> [[Int]] {
        guard kernel >= 1 && kernel % 2 == 1 else { throw DNDError("kernel \(kernel) must be odd and positive (3, 5, 7, 9…)") }
        var indices = Set<Int>()
        for name in tensors.keys.sorted() {
            let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "blocks", let i = Int(parts[1]), i >= 0,
                  HyperConvBlock.parameterNames.contains(parts[2]) else {
                throw DNDError("\(source): unexpected tensor \(name); a generator holds only blocks.<i>.{\(HyperConvBlock.parameterNames.joined(separator: ", "))}")
            }
            indices.insert(i)
        }
        guard !indices.isEmpty else { throw DNDError("\(source): no blocks.<i>.* tensors; is this a generator parameter file?") }
        let count = indices.max()! + 1
        if let gap = (0..<count).first(where: { !indices.contains($0) }) {
            throw DNDError("\(source): blocks.\(gap).* is missing but blocks up to \(count - 1) are present; blocks must be numbered 0, 1, 2…")
        }
        func shape(_ i: Int, _ n: String, rank: Int) throws -> [Int] {
            let name = "blocks.\(i).\(n)"
            guard let t = tensors[name] else { throw DNDError("\(source): missing tensor \(name)") }
            guard t.rank == rank else { throw DNDError("\(source): tensor \(name) has shape \(t.shape), expected \(rank) dimensions") }
            if rank == 4 && (t.shape[2] != kernel || t.shape[3] != kernel) {
                throw DNDError("\(source): tensor \(name) has shape \(t.shape) but the kernel is \(kernel); pass --kernel \(t.shape[2]) if that is the generator's kernel")
            }
            return t.shape
        }
        var chain: [[Int]] = []
        for i in 0..<count {
            let norm = try shape(i, "norm.weight", rank: 2), channel = try shape(i, "channel.weight", rank: 4)
            let wFirst = try shape(i, "w_first.weight", rank: 4), hSecond = try shape(i, "h_second.weight", rank: 4)
            let input = [channel[1], norm[0], norm[1]], output = [channel[0], hSecond[0], wFirst[0]]
            if i > 0 && chain[i] != input {
                throw DNDError("\(source): the shapes do not chain: blocks.\(i - 1) outputs \(chain[i]) [N, H, W] but blocks.\(i) takes \(input) (from blocks.\(i).channel.weight \(channel) and blocks.\(i).norm.weight \(norm))")
            }
            if i == 0 { chain.append(input) }
            chain.append(output)
        }
        return chain
    }
}
