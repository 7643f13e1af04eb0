import Foundation

/// Learning-rate schedule: linear warmup from 0, then cosine decay to `minFactor · peak`.
public struct LRSchedule: Codable, Sendable, Equatable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minFactor: Float

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, minFactor: Float = 0.1) {
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.minFactor = minFactor
    }

    /// Rate for 0-based `step`.
    public func rate(at step: Int) -> Float {
        if warmupSteps > 0 && step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let p = min(1, Float(step - warmupSteps) / Float(span))
        return peak * (minFactor + (1 - minFactor) * 0.5 * (1 + cos(.pi * p)))
    }
}

/// AdamW (decoupled weight decay) over named parameters; moments are kept per name.
public struct AdamW: Sendable {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    public private(set) var step: Int = 0
    public private(set) var m: [String: Tensor] = [:]
    public private(set) var v: [String: Tensor] = [:]

    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }

    /// Global L2 norm of a set of gradients, summed in Double in name order so that the result does not depend
    /// on dictionary order (training runs stay bit-reproducible).
    public static func globalNorm(_ grads: [String: Tensor]) -> Float {
        Float(grads.keys.sorted().reduce(0.0) { $0 + Double(grads[$1]!.sumOfSquares()) }.squareRoot())
    }

    /// Scales `grads` in place so that their global norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clip(_ grads: inout [String: Tensor], maxNorm: Float) -> Float {
        let n = globalNorm(grads)
        if n > maxNorm && n.isFinite {
            let s = maxNorm / n
            for k in grads.keys { grads[k]!.scale(by: s) }
        }
        return n
    }

    /// One update of every parameter that has a gradient, at learning rate `lr`.
    public mutating func update(_ params: inout [String: Tensor], grads: [String: Tensor], lr: Float) {
        step += 1
        let bc1 = 1 - powf(beta1, Float(step)), bc2 = 1 - powf(beta2, Float(step))
        for (name, g) in grads {
            // Taken out of the dictionaries so that each tensor is uniquely referenced and updated in place.
            guard var p = params.removeValue(forKey: name) else { preconditionFailure("AdamW: gradient for unknown parameter \(name)") }
            precondition(p.shape == g.shape, "AdamW: \(name) parameter \(p.shape) vs gradient \(g.shape)")
            var mt = m.removeValue(forKey: name) ?? Tensor(zeros: p.shape)
            var vt = v.removeValue(forKey: name) ?? Tensor(zeros: p.shape)
            let (b1, b2, e, wd) = (beta1, beta2, eps, weightDecay)
            let gp = g.pointer
            p.withUnsafeMutableBufferPointer { pb in
                mt.withUnsafeMutableBufferPointer { mb in
                    vt.withUnsafeMutableBufferPointer { vb in
                        for i in 0..<pb.count {
                            let gi = gp[i]
                            mb[i] = b1 * mb[i] + (1 - b1) * gi
                            vb[i] = b2 * vb[i] + (1 - b2) * gi * gi
                            let mh = mb[i] / bc1, vh = vb[i] / bc2
                            pb[i] -= lr * (mh / (vh.squareRoot() + e) + wd * pb[i])
                        }
                    }
                }
            }
            params[name] = p; m[name] = mt; v[name] = vt
        }
    }

    /// Moments and step, for checkpoint/resume: `m.<name>`, `v.<name>` and the step count.
    public var state: (step: Int, tensors: [String: Tensor]) {
        var t: [String: Tensor] = [:]
        for (k, x) in m { t["m." + k] = x }
        for (k, x) in v { t["v." + k] = x }
        return (step, t)
    }

    public mutating func restore(step: Int, tensors: [String: Tensor]) {
        self.step = step
        m = [:]; v = [:]
        for (k, x) in tensors {
            if k.hasPrefix("m.") { m[String(k.dropFirst(2))] = x } else if k.hasPrefix("v.") { v[String(k.dropFirst(2))] = x }
        }
    }
}
