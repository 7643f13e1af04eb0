import Foundation
import LoRA
import TensorCore

/// Gradients of one backward pass: the base weights' (nil when the base is frozen) and every LoRA pair's.
public struct Gradients: Sendable {
    /// Same layout as the model's weights; `lmHead` is nil when tied (the head's gradient lands in `embed`).
    public var base: ModelWeights?
    /// Per LoRA site: dA `[r, in]` and dB `[out, r]`.
    public var lora: [LoRASite: (a: Tensor, b: Tensor)]

    /// Zero gradients for `weights` (when `base`) and for `lora`'s pairs.
    init(weights: ModelWeights, base: Bool, lora: BoundLoRA?) {
        self.base = base ? ModelWeights.zeros(like: weights) : nil
        var l: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for (site, w) in lora?.adapter.weights ?? [:] { l[site] = (Tensor(zeros: w.a.shape), Tensor(zeros: w.b.shape)) }
        self.lora = l
    }

    /// Adds `other` (same layout) into these gradients.
    mutating func add(_ other: Gradients) {
        if let ob = other.base, base != nil {
            let mine = base!.named
            for (k, t) in ob.named { BLAS.axpy(n: t.count, alpha: 1, x: t.pointer, y: mine[k]!.mutablePointer) }
        }
        for (site, g) in other.lora {
            let mine = lora[site]!
            BLAS.axpy(n: g.a.count, alpha: 1, x: g.a.pointer, y: mine.a.mutablePointer)
            BLAS.axpy(n: g.b.count, alpha: 1, x: g.b.pointer, y: mine.b.mutablePointer)
        }
    }

    /// Every gradient by name: Hugging Face names for base tensors, PEFT keys for LoRA tensors.
    public var named: [String: Tensor] {
        var t = base?.named ?? [:]
        for (site, g) in lora { t[site.key("A")] = g.a; t[site.key("B")] = g.b }
        return t
    }
}

/// Result of `Transformer.lossAndGradients`.
public struct TrainStep: Sendable {
    /// Mean cross-entropy (natural log) over the target tokens.
    public var loss: Double
    /// Tokens with a label (not -100).
    public var targets: Int
    /// Rows that ran through the model.
    public var tokens: Int
    public var gradients: Gradients
}

extension Transformer {
    /// Mean cross-entropy of `labels` (already aligned with `inputs`: `labels[b][t]` is the token after
    /// `inputs[b][t]`; -100 ignored) and its gradients: for the LoRA pairs of `lora`, and for every base
    /// weight when `trainBase`. Only rows with a label go through the LM head.
    ///
    /// `shards > 1` splits the sequences into that many groups of about equal size and runs them on as many
    /// threads, each with single-threaded BLAS, then sums the gradients in a fixed order (data parallelism:
    /// at small shapes this beats one multi-threaded BLAS whose helper threads idle through the hand loops).
    public func lossAndGradients(inputs: [[Int]], labels: [[Int]], lora: BoundLoRA?, trainBase: Bool, shards: Int = 1) -> TrainStep {
        precondition(inputs.count == labels.count && zip(inputs, labels).allSatisfy { $0.count == $1.count }, "inputs and labels differ in shape")
        let targets = labels.reduce(0) { $0 + $1.reduce(0) { $0 + ($1 == -100 ? 0 : 1) } }
        let scale = 1 / Float(max(1, targets))
        let groups = Transformer.partition(inputs.map(\.count), into: shards)
        if groups.count <= 1 {
            let r = step(inputs: inputs, labels: labels, lora: lora, trainBase: trainBase, scale: scale)
            return TrainStep(loss: r.lossSum / Double(max(1, targets)), targets: targets, tokens: r.tokens, gradients: r.grads)
        }
        var parts = [(lossSum: Double, tokens: Int, grads: Gradients)?](repeating: nil, count: groups.count)
        BLAS.singleThreaded {
            parts.withUnsafeMutableBufferPointer { out in
                let o = out.baseAddress!
                DispatchQueue.concurrentPerform(iterations: groups.count) { g in
                    let idx = groups[g]
                    o[g] = step(inputs: idx.map { inputs[$0] }, labels: idx.map { labels[$0] }, lora: lora, trainBase: trainBase, scale: scale)
                }
            }
        }
        var grads = parts[0]!.grads
        var lossSum = parts[0]!.lossSum, tokens = parts[0]!.tokens
        for p in parts.dropFirst() { grads.add(p!.grads); lossSum += p!.lossSum; tokens += p!.tokens }
        return TrainStep(loss: lossSum / Double(max(1, targets)), targets: targets, tokens: tokens, gradients: grads)
    }

    /// Data-parallel shards for a training batch when none are asked for: one per core for small models (hidden
    /// ≤ 512, where the GEMMs are too small to keep two BLAS threads busy: measured 1.7–2.7× faster at hidden 128),
    /// a single multi-threaded BLAS for larger ones.
    public func defaultShards(batch: Int) -> Int {
        config.hiddenSize <= 512 ? max(1, min(Parallel.cores, batch)) : 1
    }

    /// Sequence indices split into at most `k` groups of about equal token count (longest first, each to the
    /// lightest group); empty groups are dropped.
    static func partition(_ lengths: [Int], into k: Int) -> [[Int]] {
        guard k > 1, lengths.count > 1 else { return [Array(lengths.indices)] }
        var groups = [[Int]](repeating: [], count: min(k, lengths.count)), load = [Int](repeating: 0, count: groups.count)
        for i in lengths.indices.sorted(by: { (lengths[$0], $1) > (lengths[$1], $0) }) {
            let g = load.indices.min { (load[$0], $0) < (load[$1], $1) }!
            groups[g].append(i); load[g] += lengths[i]
        }
        return groups.filter { !$0.isEmpty }.map { $0.sorted() }
    }

    /// One forward/backward over `inputs`: Σ cross-entropy and gradients of `scale · Σ cross-entropy`.
    func step(inputs: [[Int]], labels: [[Int]], lora: BoundLoRA?, trainBase: Bool, scale: Float) -> (lossSum: Double, tokens: Int, grads: Gradients) {
        let hsz = config.hiddenSize, v = config.vocabSize
        let batch = PackedBatch(inputs)
        var grads = Gradients(weights: weights, base: trainBase, lora: lora)
        var rows: [Int] = [], targets: [Int] = []
        for (b, ls) in labels.enumerated() {
            for (t, y) in ls.enumerated() where y != -100 { rows.append(batch.starts[b] + t); targets.append(y) }
        }
        guard !rows.isEmpty, batch.n > 0 else { return (0, batch.n, grads) }
        let pass = forward(batch, lora: lora, keep: true)
        // logits [M, V] → probabilities → dlogits, in place
        let fsel = gatherRows(pass.normed, rows)          // [M, H]
        let m = rows.count
        let dlogits = Tensor(uninitialized: [m, v])
        BLAS.gemm(transB: true, m: m, n: v, k: hsz, a: fsel.pointer, lda: hsz, b: weights.head.pointer, ldb: hsz,
                  c: dlogits.mutablePointer, ldc: v)
        let lossSum = CrossEntropy.forward(dlogits.mutablePointer, targets: targets, vocab: v)
        CrossEntropy.backward(dlogits.mutablePointer, targets: targets, vocab: v, scale: scale)
        if let gb = grads.base {
            // dhead [V, H] += dlogitsᵀ [V, M] · fsel [M, H]
            let dHead = gb.lmHead ?? gb.embed
            BLAS.gemm(transA: true, m: v, n: hsz, k: m, a: dlogits.pointer, lda: v, b: fsel.pointer, ldb: hsz, beta: 1,
                      c: dHead.mutablePointer, ldc: hsz)
        }
        // dnormed [N, H]: dfsel [M, H] = dlogits · head, scattered back to the selected rows
        let dfsel = Tensor(uninitialized: [m, hsz])
        BLAS.gemm(m: m, n: hsz, k: v, a: dlogits.pointer, lda: v, b: weights.head.pointer, ldb: hsz, c: dfsel.mutablePointer, ldc: hsz)
        let dnormed = Tensor(zeros: [batch.n, hsz])
        for (i, r) in rows.enumerated() {
            let dst = dnormed.mutablePointer + r * hsz, src = dfsel.pointer + i * hsz
            for j in 0..<hsz { dst[j] += src[j] }
        }
        backward(pass, dNormed: dnormed, batch: batch, lora: lora, grads: &grads)
        return (lossSum, batch.n, grads)
    }

    /// Backward of `forward(…, keep: true)` from dL/d(normed) `[N, H]`; accumulates into `grads`.
    func backward(_ pass: Pass, dNormed: Tensor, batch: PackedBatch, lora: BoundLoRA?, grads: inout Gradients) {
        let c = config, hsz = c.hiddenSize
        let rope = Rotary(headDim: c.headDim, theta: c.ropeTheta, positions: Int(batch.positions.max() ?? 0) + 1)
        var dx = RMSNorm.backward(dWeight: grads.base?.norm.mutablePointer, dy: dNormed, x: pass.final, weight: weights.norm,
                                  rstd: pass.rstdF, n: hsz)
        let trainBase = grads.base != nil
        for l in stride(from: c.numHiddenLayers - 1, through: 0, by: -1) {
            // The first layer's input gradient only feeds the embeddings.
            dx = layerBackward(l, dOut: dx, cache: pass.layers[l], batch: batch, rope: rope, lora: lora, grads: &grads,
                               needInputGrad: l > 0 || trainBase)
        }
        if let gb = grads.base {
            // dembed [V, H]: scatter-add of the rows
            let de = gb.embed.mutablePointer, dp = dx.pointer
            for (r, id) in batch.ids.enumerated() {
                let dst = de + id * hsz, src = dp + r * hsz
                for j in 0..<hsz { dst[j] += src[j] }
            }
        }
    }

    /// Backward of `layerForward`: returns dL/dx `[N, H]` (empty when `needInputGrad` is false).
    func layerBackward(_ l: Int, dOut: Tensor, cache s: LayerCache, batch: PackedBatch, rope: Rotary, lora: BoundLoRA?,
                       grads: inout Gradients, needInputGrad: Bool) -> Tensor {
        let c = config, w = weights.layers[l], n = batch.n, d = attentionDims
        let gb = grads.base?.layers[l]
        let mods = lora?.layers[l] ?? [:]
        func linearBack(_ m: LoRAModule, dx: Tensor?, dy: Tensor, x: Tensor) {
            let site = LoRASite(layer: l, module: m)
            let gl = grads.lora[site]
            Linear.backward(dWeight: gb?.weight(m).mutablePointer, dBias: gb?.bias(m)?.mutablePointer,
                            dA: gl?.a.mutablePointer, dB: gl?.b.mutablePointer, dx: dx?.mutablePointer,
                            dy: dy.pointer, x: x.pointer, xa: s.xa[m], weight: w.weight(m), lora: mods[m], n: n)
        }
        // MLP: out = x2 + down(h), h = silu(g) ⊙ u, g = gate(m), u = up(m), m = norm2(x2)
        let dh = Tensor(zeros: [n, c.intermediateSize])      // [N, I]
        linearBack(.down_proj, dx: dh, dy: dOut, x: s.h)
        let dg = Tensor(uninitialized: [n, c.intermediateSize]), du = Tensor(uninitialized: [n, c.intermediateSize])
        SwiGLU.backward(dg: dg.mutablePointer, du: du.mutablePointer, dh: dh.pointer, g: s.g.pointer, u: s.u.pointer, count: dh.count)
        let dm = Tensor(zeros: [n, c.hiddenSize])            // [N, H]
        linearBack(.gate_proj, dx: dm, dy: dg, x: s.mlpIn)
        linearBack(.up_proj, dx: dm, dy: du, x: s.mlpIn)
        var dx2 = RMSNorm.backward(dWeight: gb?.postNorm.mutablePointer, dy: dm, x: s.x2, weight: w.postNorm, rstd: s.rstd2, n: c.hiddenSize)
        dx2.add(dOut)                                        // [N, H] residual
        // Attention: x2 = x + o(ctx), ctx = attn(rope(q(a)), rope(k(a)), v(a)), a = norm1(x)
        let dctx = Tensor(zeros: [n, c.qWidth])              // [N, Hq·hd]
        linearBack(.o_proj, dx: dctx, dy: dx2, x: s.ctx)
        let dq = Tensor(zeros: [n, c.qWidth])                // [N, Hq·hd]
        let dk = Tensor(zeros: [n, c.kvWidth])               // [N, Hkv·hd]
        let dv = Tensor(zeros: [n, c.kvWidth])               // [N, Hkv·hd]
        var off = 0
        for (st, t) in zip(batch.starts, batch.lengths) {
            Attention.backward(dq: dq.mutablePointer + st * c.qWidth, dk: dk.mutablePointer + st * c.kvWidth,
                               dv: dv.mutablePointer + st * c.kvWidth, dctx: dctx.pointer + st * c.qWidth,
                               q: s.q.pointer + st * c.qWidth, k: s.k.pointer + st * c.kvWidth, v: s.v.pointer + st * c.kvWidth,
                               probs: s.probs.pointer + off, n: t, m: t, dims: d)
            off += c.numAttentionHeads * t * t
        }
        rope.backward(dq.mutablePointer, rows: n, heads: c.numAttentionHeads, positions: batch.positions)
        rope.backward(dk.mutablePointer, rows: n, heads: c.numKeyValueHeads, positions: batch.positions)
        let da: Tensor? = needInputGrad ? Tensor(zeros: [n, c.hiddenSize]) : nil   // [N, H]
        linearBack(.q_proj, dx: da, dy: dq, x: s.a)
        linearBack(.k_proj, dx: da, dy: dk, x: s.a)
        linearBack(.v_proj, dx: da, dy: dv, x: s.a)
        guard let da else { return Tensor(zeros: [0, c.hiddenSize]) }
        var dx = RMSNorm.backward(dWeight: gb?.inputNorm.mutablePointer, dy: da, x: s.x, weight: w.inputNorm, rstd: s.rstd1, n: c.hiddenSize)
        dx.add(dx2)
        return dx
    }
}
