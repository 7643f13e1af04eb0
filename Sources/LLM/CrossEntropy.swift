import Foundation

/// Softmax cross-entropy over the vocabulary, natural log. Rows are `V` logits; forward turns them into
/// probabilities in place (what backward needs), backward turns the probabilities into dL/dlogits in place.
enum CrossEntropy {
    /// `log softmax(row)[target]`, without touching the row.
    static func logProbability(_ row: UnsafePointer<Float>, target: Int, vocab v: Int) -> Float {
        var mx = -Float.infinity
        for j in 0..<v { mx = max(mx, row[j]) }
        var s: Float = 0
        for j in 0..<v { s += expf(row[j] - mx) }
        return row[target] - mx - logf(s)
    }

    /// Rows `[M, V]` become probabilities; returns Σ −log p[target] over the rows (in Double).
    static func forward(_ logits: UnsafeMutablePointer<Float>, targets: [Int], vocab v: Int) -> Double {
        var total = 0.0
        for (i, t) in targets.enumerated() {
            let row = logits + i * v
            var mx = -Float.infinity
            for j in 0..<v { mx = max(mx, row[j]) }
            let xt = row[t]
            var s: Float = 0
            for j in 0..<v { let e = expf(row[j] - mx); row[j] = e; s += e }
            total += Double(mx) + log(Double(s)) - Double(xt)
            let inv = 1 / s
            for j in 0..<v { row[j] *= inv }
        }
        return total
    }

    /// dlogits = scale · (p − onehot(target)), in place over the probabilities from `forward`.
    static func backward(_ probs: UnsafeMutablePointer<Float>, targets: [Int], vocab v: Int, scale: Float) {
        for (i, t) in targets.enumerated() {
            let row = probs + i * v
            for j in 0..<v { row[j] *= scale }
            row[t] -= scale
        }
    }
}
