import DNDTestSupport
import Foundation
@testable import LLM
import TensorCore
import XCTest

/// Causal grouped-query attention: sgemm kernel against plain loops, gradients against finite differences.
final class AttentionTests: XCTestCase {
    let d = AttentionDims(heads: 4, kvHeads: 2, headDim: 6)

    /// Plain-loop twin: n queries at the last n of m positions.
    func reference(q: Tensor, k: Tensor, v: Tensor, n: Int, m: Int) -> Tensor {
        var out = Tensor(zeros: [n, d.qStride])
        let scale = 1 / Double(d.headDim).squareRoot()
        for h in 0..<d.heads {
            let kvh = h / d.group
            for i in 0..<n {
                let valid = m - n + i + 1
                var s = (0..<valid).map { j in (0..<d.headDim).reduce(0.0) { $0 + Double(q[i, h * d.headDim + $1]) * Double(k[j, kvh * d.headDim + $1]) } * scale }
                let mx = s.max()!
                s = s.map { exp($0 - mx) }
                let z = s.reduce(0, +)
                for c in 0..<d.headDim { out[i, h * d.headDim + c] = Float((0..<valid).reduce(0.0) { $0 + s[$1] / z * Double(v[$1, kvh * d.headDim + c]) }) }
            }
        }
        return out
    }

    func run(q: Tensor, k: Tensor, v: Tensor, n: Int, m: Int) -> (Tensor, Tensor) {
        let ctx = Tensor(zeros: [n, d.qStride]), probs = Tensor(zeros: [d.heads * n * m])
        Attention.forward(ctx: ctx.mutablePointer, probs: probs.mutablePointer, q: q.pointer, k: k.pointer, v: v.pointer, n: n, m: m, dims: d)
        return (ctx, probs)
    }

    func testForwardMatchesPlainLoopsWithAndWithoutPastKeys() {
        var rng = SeededRNG(seed: 1)
        for (n, m) in [(5, 5), (1, 7), (3, 8)] {
            let q = Tensor.randomNormal([n, d.qStride], rng: &rng), k = Tensor.randomNormal([m, d.kvStride], rng: &rng), v = Tensor.randomNormal([m, d.kvStride], rng: &rng)
            let (ctx, probs) = run(q: q, k: k, v: v, n: n, m: m)
            XCTAssertLessThan(ctx.maxAbsDifference(reference(q: q, k: k, v: v, n: n, m: m)), 1e-5, "n \(n) m \(m)")
            // Each row of weights sums to 1 and is zero past its causal limit.
            for h in 0..<d.heads {
                for i in 0..<n {
                    let row = (0..<m).map { probs[flat: (h * n + i) * m + $0] }
                    XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5)
                    XCTAssertTrue(row[(m - n + i + 1)...].allSatisfy { $0 == 0 })
                }
            }
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var rng = SeededRNG(seed: 2)
        let n = 4
        let q = Tensor.randomNormal([n, d.qStride], rng: &rng), k = Tensor.randomNormal([n, d.kvStride], rng: &rng), v = Tensor.randomNormal([n, d.kvStride], rng: &rng)
        let probe = Tensor.randomNormal([n, d.qStride], rng: &rng)
        let (_, probs) = run(q: q, k: k, v: v, n: n, m: n)
        let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        Attention.backward(dq: dq.mutablePointer, dk: dk.mutablePointer, dv: dv.mutablePointer, dctx: probe.pointer,
                           q: q.pointer, k: k.pointer, v: v.pointer, probs: probs.pointer, n: n, m: n, dims: d)
        let gq = TestSupport.numericGradient(q) { TestSupport.dot(run(q: $0, k: k, v: v, n: n, m: n).0, probe) }
        let gk = TestSupport.numericGradient(k) { TestSupport.dot(run(q: q, k: $0, v: v, n: n, m: n).0, probe) }
        let gv = TestSupport.numericGradient(v) { TestSupport.dot(run(q: q, k: k, v: $0, n: n, m: n).0, probe) }
        for (a, b, name) in [(dq, gq, "dq"), (dk, gk, "dk"), (dv, gv, "dv")] {
            let e = TestSupport.relativeError(a, b)
            XCTAssertLessThan(e, 2e-3, "\(name): relative error \(e)")
        }
    }
}
