import Foundation
import TensorCore

/// A cost limit for a derived chain.
public enum GeneratorBudget: Sendable, Equatable, CustomStringConvertible {
    /// At most this many parameters.
    case parameters(Int)
    /// At most this many FLOPs in one sample's forward pass (training costs about 3× that per sample).
    case flops(Double)
    /// `max(2 GFLOPs, 1.5 × the cheapest chain the rule allows)` per sample: sized for a 2-core CPU, and
    /// always feasible.
    case automatic

    public var description: String {
        switch self {
        case let .parameters(n): return "\(n) parameters"
        case let .flops(f): return String(format: "%.3g GFLOPs per sample", f / 1e9)
        case .automatic: return "automatic"
        }
    }
}

/// Derives a CPU-sized chain of `[N, H, W]` shapes from the condition `(N, L, H)` to the tokens `(T, r+2, cw+2)`.
///
/// The rule, for `D` blocks and kernel `k`:
/// 1. Spatial axes follow a log-space path from `(L, H)` to `(r+2, cw+2)`: block `i` is at progress
///    `t_i = (i/D)^γ`, `size_i = round(exp((1−t_i)·ln start + t_i·ln end))`. `γ = 1` shrinks evenly; smaller
///    `γ` shrinks earlier, which is cheaper because the hyper-convolutions then run on small planes.
/// 2. The channel axis grows geometrically from `N` to a width `C` over blocks `1…D−1`
///    (`N_i = round(N·(C/N)^(i/(D−1)))`), and the last block expands `C → T`. The `T`-channel convolution
///    costs `2k²·T·C·(r+2)(cw+2)` per sample, linear in `C`, so `C` is what keeps it affordable.
/// 3. `γ` is the largest of 1, 1/2, 1/4, 0 whose chain fits the budget at `C = C_min = min(16, T)`; then `C`
///    is the largest value in `[C_min, max(N, T)]` that still fits. If no `γ` fits at `C_min`, `γ = 0` and
///    `C` is the largest value below `C_min` that fits; if none does, the budget is too small (the error says
///    how small the cheapest chain is).
public enum ChainBuilder {
    /// Spatial profiles tried, most gradual first.
    public static let profiles: [Double] = [1, 0.5, 0.25, 0]

    /// The chain for width `C` and profile `γ` (steps 1 and 2 of the rule).
    public static func chain(condition: [Int], target: [Int], blocks d: Int, width c: Int, profile gamma: Double) -> [[Int]] {
        let n = condition[0]
        func geo(_ a: Int, _ b: Int, _ f: Double) -> Int {
            max(1, Int((exp((1 - f) * log(Double(a)) + f * log(Double(b)))).rounded()))
        }
        return (0...d).map { i -> [Int] in
            if i == 0 { return condition }
            if i == d { return target }
            let progress = pow(Double(i) / Double(d), gamma)
            let channels = geo(n, c, Double(i) / Double(d - 1))
            return [channels, geo(condition[1], target[1], progress), geo(condition[2], target[2], progress)]
        }
    }

    /// Cost of a chain under `budget`'s measure (parameters or forward FLOPs per sample).
    static func cost(_ chain: [[Int]], kernel: Int, _ budget: GeneratorBudget) -> Double {
        let blocks = (0..<(chain.count - 1)).map { HyperConvBlock(input: chain[$0], output: chain[$0 + 1], kernel: kernel) }
        switch budget {
        case .parameters: return Double(blocks.reduce(0) { $0 + $1.parameterCount })
        case .flops, .automatic: return blocks.reduce(0) { $0 + $1.forwardFLOPs }
        }
    }

    /// The chain the rule picks (step 3); throws when the budget cannot be met or the shapes are invalid.
    public static func build(condition: [Int], target: [Int], kernel: Int = 3, blocks d: Int = 4,
                             budget: GeneratorBudget = .automatic) throws -> [[Int]] {
        guard condition.count == 3, target.count == 3, (condition + target).allSatisfy({ $0 >= 1 }) else {
            throw DNDError("chain builder: condition \(condition) and target \(target) must be three positive sizes each")
        }
        guard kernel >= 1 && kernel % 2 == 1 else { throw DNDError("chain builder: kernel \(kernel) must be odd and positive") }
        guard d >= 1 && d <= 64 else { throw DNDError("chain builder: \(d) blocks; use 1 to 64") }
        if d == 1 {
            let only = [condition, target]
            if case .automatic = budget { return only }
            let c = cost(only, kernel: kernel, budget)
            guard c <= limit(budget) else { throw tooSmall(budget, cheapest: c) }
            return only
        }
        let (n, t) = (condition[0], target[0])
        let cMin = min(16, t), cMax = max(n, t, cMin)
        func make(_ c: Int, _ g: Double) -> [[Int]] { chain(condition: condition, target: target, blocks: d, width: c, profile: g) }
        func fits(_ c: Int, _ g: Double, _ lim: Double) -> Bool { cost(make(c, g), kernel: kernel, budget) <= lim }
        let lim: Double
        if case .automatic = budget {
            lim = max(2e9, 1.5 * cost(make(cMin, 0), kernel: kernel, budget))
        } else {
            lim = limit(budget)
        }
        /// Largest c in lo...hi with fits(c), assuming fits(lo) and monotone cost in c.
        func largest(_ lo: Int, _ hi: Int, _ g: Double) -> Int {
            var (a, b) = (lo, hi)
            while a < b {
                let m = (a + b + 1) / 2
                if fits(m, g, lim) { a = m } else { b = m - 1 }
            }
            return a
        }
        for g in profiles where fits(cMin, g, lim) {
            return make(largest(cMin, cMax, g), g)
        }
        if cMin > 1 && fits(1, 0, lim) { return make(largest(1, cMin - 1, 0), 0) }
        throw tooSmall(budget, cheapest: cost(make(1, 0), kernel: kernel, budget))
    }

    static func limit(_ budget: GeneratorBudget) -> Double {
        switch budget {
        case let .parameters(p): return Double(p)
        case let .flops(f): return f
        case .automatic: return .infinity
        }
    }

    static func tooSmall(_ budget: GeneratorBudget, cheapest: Double) -> DNDError {
        switch budget {
        case .parameters:
            return DNDError("chain builder: a budget of \(budget) is too small; the cheapest chain for this condition and target has \(Int(cheapest)) parameters (raise the budget, or use fewer prompts or a shorter prompt length)")
        default:
            return DNDError("chain builder: a budget of \(budget) is too small; the cheapest chain for this condition and target needs \(String(format: "%.3g", cheapest / 1e9)) GFLOPs per sample (raise the budget, or use fewer prompts or a shorter prompt length)")
        }
    }
}

extension GeneratorConfig {
    /// A CPU-sized generator config for conditions of `prompts × length × hidden` and tokens of
    /// `tokenCount × (rank+2) × (chunkWidth+2)`, its chain derived by `ChainBuilder` (see the rule there).
    public static func cpuDefault(prompts: Int, length: Int, hidden: Int, tokenCount: Int, rank: Int, chunkWidth: Int,
                                  budget: GeneratorBudget = .automatic, kernel: Int = 3, blocks: Int = 4) throws -> GeneratorConfig {
        guard rank >= 1 && chunkWidth >= 1 && tokenCount >= 1 else {
            throw DNDError("generator config: token geometry T=\(tokenCount), r=\(rank), cw=\(chunkWidth) must be positive")
        }
        let chain = try ChainBuilder.build(condition: [prompts, length, hidden], target: [tokenCount, rank + 2, chunkWidth + 2],
                                           kernel: kernel, blocks: blocks, budget: budget)
        return try GeneratorConfig(chain: chain, kernel: kernel)
    }
}
