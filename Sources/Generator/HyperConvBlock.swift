import Foundation
import TensorCore

// Letters: B batch, (Ni, Hi, Wi) a block's input shape, (No, Ho, Wo) its output shape, k the kernel.
// At the generator's input N = prompts, H = L (prompt tokens), W = H (encoder hidden); at its output
// N = T (weight tokens), H = r + 2, W = cw + 2.

/// One block of the hyper-convolutional decoder (DESIGN "Hyper-convolutional decoder (exact)"):
/// `X [B, Ni, Hi, Wi] → [B, No, Ho, Wo]`.
public struct HyperConvBlock: Sendable, Equatable {
    /// `[Ni, Hi, Wi]`.
    public let input: [Int]
    /// `[No, Ho, Wo]`.
    public let output: [Int]
    /// Odd kernel size, shared by the block's five convolutions.
    public let kernel: Int

    public init(input: [Int], output: [Int], kernel: Int) {
        precondition(input.count == 3 && output.count == 3 && kernel % 2 == 1, "block \(input) → \(output), kernel \(kernel)")
        self.input = input; self.output = output; self.kernel = kernel
    }

    /// The parameter names inside a block (prefixed `blocks.<i>.` in a generator), in DESIGN order.
    public static let parameterNames = [
        "norm.weight", "norm.bias", "w_first.weight", "h_second.weight", "h_first.weight", "w_second.weight",
        "bias", "channel.weight", "channel.bias",
    ]

    /// Shape of every parameter, by name.
    public var parameterShapes: [String: [Int]] {
        let (ni, hi, wi) = (input[0], input[1], input[2]), (no, ho, wo) = (output[0], output[1], output[2]), k = kernel
        return [
            "norm.weight": [hi, wi], "norm.bias": [hi, wi],
            "w_first.weight": [wo, wi, k, k], "h_second.weight": [ho, hi, k, k],
            "h_first.weight": [ho, hi, k, k], "w_second.weight": [wo, wi, k, k],
            "bias": [ho, wo], "channel.weight": [no, ni, k, k], "channel.bias": [no],
        ]
    }

    /// The block's tensors by role; also used for their gradients.
    public struct Weights: Sendable {
        public var normWeight: Tensor      // (Hi, Wi)
        public var normBias: Tensor        // (Hi, Wi)
        public var wFirst: Tensor          // (Wo, Wi, k, k)
        public var hSecond: Tensor         // (Ho, Hi, k, k)
        public var hFirst: Tensor          // (Ho, Hi, k, k)
        public var wSecond: Tensor         // (Wo, Wi, k, k)
        public var bias: Tensor            // (Ho, Wo)
        public var channelWeight: Tensor   // (No, Ni, k, k)
        public var channelBias: Tensor     // (No)

        /// Reads `prefix + name` for every block parameter; the caller has checked names and shapes.
        public init(_ tensors: [String: Tensor], prefix: String) {
            func t(_ name: String) -> Tensor {
                guard let x = tensors[prefix + name] else { preconditionFailure("missing parameter \(prefix + name)") }
                return x
            }
            normWeight = t("norm.weight"); normBias = t("norm.bias")
            wFirst = t("w_first.weight"); hSecond = t("h_second.weight")
            hFirst = t("h_first.weight"); wSecond = t("w_second.weight")
            bias = t("bias"); channelWeight = t("channel.weight"); channelBias = t("channel.bias")
        }

        /// The same tensors keyed `prefix + name`.
        public func named(prefix: String) -> [String: Tensor] {
            [
                prefix + "norm.weight": normWeight, prefix + "norm.bias": normBias,
                prefix + "w_first.weight": wFirst, prefix + "h_second.weight": hSecond,
                prefix + "h_first.weight": hFirst, prefix + "w_second.weight": wSecond,
                prefix + "bias": bias, prefix + "channel.weight": channelWeight, prefix + "channel.bias": channelBias,
            ]
        }
    }

    /// Zero gradients shaped like the block's parameters.
    public func zeroWeights() -> Weights {
        Weights(parameterShapes.mapValues { Tensor(zeros: $0) }, prefix: "")
    }

    /// What `backward` needs, saved by `forward`.
    public struct Cache {
        var x: Tensor                 // (B, Ni, Hi, Wi) block input, for the LayerNorm backward
        var norm: LayerNorm.Cache     // (B·Ni) mean and 1/std of every [b, n] slice
        var y: Tensor                 // (B, Ni, Hi, Wi) normalised input, for w_first and h_first
        var a: Tensor                 // (B, Ni, Hi, Wo) y after w_first, for h_second
        var c: Tensor                 // (B, Ni, Ho, Wi) y after h_first, for w_second
        var t: Tensor                 // (B, Ni, Ho, Wo) tanh(P2)
        var q: Tensor                 // (B, Ni, Ho, Wo) (P1 + tanh(P2) + bias) / 3, the channel conv's input

        /// Bytes of activations this cache keeps alive (the input `x` counted, it is the previous block's output).
        public var bytes: Int { 4 * (x.count + y.count + a.count + c.count + t.count + q.count + 2 * norm.mean.count) }
    }

    /// `x [B, Ni, Hi, Wi] → [B, No, Ho, Wo]` and the cache for `backward`.
    public func forward(_ x: Tensor, _ w: Weights) -> (Tensor, Cache) {
        let (ni, hi, wi) = (input[0], input[1], input[2]), (ho, wo) = (output[1], output[2])
        precondition(x.rank == 4 && Array(x.shape.dropFirst()) == input, "block input \(x.shape), expected [B, \(ni), \(hi), \(wi)]")
        // 1. LayerNorm over (Hi, Wi) of every [b, n] slice
        let (y, norm) = LayerNorm.forward(x, weight: w.normWeight, bias: w.normBias, n: hi * wi, eps: 1e-5)  // (B, Ni, Hi, Wi)
        // 2. branch 1: W as channels over (N, H), then H as channels over (N, W)
        let a = AxisConv.lastForward(y, weight: w.wFirst)              // (B, Ni, Hi, Wo)
        var q = AxisConv.middleForward(a, weight: w.hSecond)           // (B, Ni, Ho, Wo) P1, becomes Q below
        // 3. branch 2: H first, then W
        let c = AxisConv.middleForward(y, weight: w.hFirst)            // (B, Ni, Ho, Wi)
        var t = AxisConv.lastForward(c, weight: w.wSecond)             // (B, Ni, Ho, Wo) P2, becomes tanh(P2)
        // 4. Q = (P1 + tanh(P2) + bias) / 3
        let plane = ho * wo, slices = x.shape[0] * ni
        let bp = w.bias.pointer
        t.withUnsafeMutableBufferPointer { tb in
            q.withUnsafeMutableBufferPointer { qb in
                let tp = tb.baseAddress!, qp = qb.baseAddress!
                for sl in 0..<slices {
                    let tr = tp + sl * plane, qr = qp + sl * plane
                    for j in 0..<plane {
                        let th = tanhf(tr[j])
                        tr[j] = th
                        qr[j] = (qr[j] + th + bp[j]) / 3
                    }
                }
            }
        }
        // 5. N as channels over (H, W)
        let out = Conv2D.forward(input: q, weight: w.channelWeight, bias: w.channelBias)  // (B, No, Ho, Wo)
        return (out, Cache(x: x, norm: norm, y: y, a: a, c: c, t: t, q: q))
    }

    /// Backward of `forward`: accumulates every parameter gradient into `grads`, returns `dL/dx` `[B, Ni, Hi, Wi]`.
    public func backward(_ grads: inout Weights, dOut: Tensor, cache: Cache, weights w: Weights) -> Tensor {
        let (hi, wi) = (input[1], input[2]), (ho, wo) = (output[1], output[2])
        precondition(dOut.shape == [cache.x.shape[0]] + output, "block grad \(dOut.shape), expected [B] + \(output)")
        // 5. channel conv
        var dChannelBias = grads.channelBias
        grads.channelBias = Tensor(zeros: [0])                          // keep dChannelBias uniquely owned
        var dq = dChannelBias.withUnsafeMutableBufferPointer {
            Conv2D.backward(gradOutput: dOut, input: cache.q, weight: w.channelWeight, gradWeight: &grads.channelWeight,
                            gradBias: $0.baseAddress!, needInputGrad: true)!
        }                                                               // (B, Ni, Ho, Wo) dQ, becomes dP1
        grads.channelBias = dChannelBias
        // 4. dP1 = dQ / 3, dP2 = dQ / 3 · (1 − tanh²(P2)), dbias = Σ_{b,n} dQ / 3
        let plane = ho * wo, slices = cache.q.count / plane
        var dp2 = Tensor(uninitialized: cache.t.shape)                  // (B, Ni, Ho, Wo)
        let tp = cache.t.pointer
        dq.withUnsafeMutableBufferPointer { dqb in
            dp2.withUnsafeMutableBufferPointer { d2b in
                grads.bias.withUnsafeMutableBufferPointer { dbb in
                    let d1 = dqb.baseAddress!, d2 = d2b.baseAddress!, db = dbb.baseAddress!
                    for sl in 0..<slices {
                        let o = sl * plane
                        for j in 0..<plane {
                            let g = d1[o + j] / 3
                            d1[o + j] = g
                            db[j] += g
                            d2[o + j] = g * (1 - tp[o + j] * tp[o + j])
                        }
                    }
                }
            }
        }
        // 3. branch 2
        let dc = AxisConv.lastBackward(dWeight: &grads.wSecond, dy: dp2, x: cache.c, weight: w.wSecond)    // (B, Ni, Ho, Wi)
        var dy = AxisConv.middleBackward(dWeight: &grads.hFirst, dy: dc, x: cache.y, weight: w.hFirst)     // (B, Ni, Hi, Wi)
        // 2. branch 1
        let da = AxisConv.middleBackward(dWeight: &grads.hSecond, dy: dq, x: cache.a, weight: w.hSecond)   // (B, Ni, Hi, Wo)
        dy.add(AxisConv.lastBackward(dWeight: &grads.wFirst, dy: da, x: cache.y, weight: w.wFirst))
        // 1. LayerNorm
        return LayerNorm.backward(dWeight: &grads.normWeight, dBias: &grads.normBias, dy: dy, x: cache.x,
                                  weight: w.normWeight, cache: cache.norm, n: hi * wi)                    // (B, Ni, Hi, Wi)
    }

    /// Multiply-adds ×2 of one sample's forward pass (the five convolutions).
    public var forwardFLOPs: Double {
        let (ni, hi, wi) = (Double(input[0]), Double(input[1]), Double(input[2]))
        let (no, ho, wo) = (Double(output[0]), Double(output[1]), Double(output[2]))
        let kk = Double(kernel * kernel)
        let wFirst = wo * wi * kk * ni * hi, hSecond = ho * hi * kk * ni * wo
        let hFirst = ho * hi * kk * ni * wi, wSecond = wo * wi * kk * ni * ho
        let channel = no * ni * kk * ho * wo
        return 2 * (wFirst + hSecond + hFirst + wSecond + channel)
    }

    /// Number of parameters.
    public var parameterCount: Int { parameterShapes.values.reduce(0) { $0 + $1.reduce(1, *) } }
}
