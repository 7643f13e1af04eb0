import Foundation

// Elementwise arithmetic and reductions. Same-shape operands only: broadcasting is explicit
// (`addRowVector`) so that a shape mistake traps instead of silently broadcasting.

extension Tensor {
    @inline(__always)
    func zipMap(_ other: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "elementwise shapes differ: \(shape) vs \(other.shape)")
        var out = Tensor(zeros: shape)
        let a = pointer, b = other.pointer, c = out.storage.pointer
        for i in 0..<count { c[i] = op(a[i], b[i]) }
        return out
    }

    /// Applies `f` to every element.
    @inline(__always)
    public func map(_ f: (Float) -> Float) -> Tensor {
        var out = Tensor(zeros: shape)
        let a = pointer, c = out.storage.pointer
        for i in 0..<count { c[i] = f(a[i]) }
        return out
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor { a.zipMap(b) { $0 + $1 } }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.zipMap(b) { $0 - $1 } }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.zipMap(b) { $0 * $1 } }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static func * (s: Float, a: Tensor) -> Tensor { a.map { $0 * s } }

    /// `self += alpha · other` (BLAS axpy).
    public mutating func add(_ other: Tensor, scaled alpha: Float = 1) {
        precondition(shape == other.shape, "add: shapes differ: \(shape) vs \(other.shape)")
        let n = count
        withUnsafeMutableBufferPointer { BLAS.axpy(n: n, alpha: alpha, x: other.pointer, y: $0.baseAddress!) }
    }

    public mutating func scale(by s: Float) {
        withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] *= s } }
    }

    public mutating func fill(_ v: Float) {
        withUnsafeMutableBufferPointer { $0.update(repeating: v) }
    }

    /// Adds `v` (`[n]`) to every length-`n` row of `self` (trailing axis of size `n`).
    public mutating func addRowVector(_ v: Tensor) {
        let n = v.count
        precondition(n > 0 && count % n == 0 && shape.last == n, "addRowVector: \(v.shape) onto \(shape)")
        let vp = v.pointer, rows = count / n
        withUnsafeMutableBufferPointer { b in
            let p = b.baseAddress!
            for r in 0..<rows { let row = p + r * n; for j in 0..<n { row[j] += vp[j] } }
        }
    }

    /// Sums the rows of a `[rows, n]` view into `[n]`.
    public func sumRows() -> Tensor {
        let n = shape.last ?? 1
        var out = Tensor(zeros: [n])
        let p = pointer, o = out.storage.pointer
        for r in 0..<(count / max(n, 1)) { let row = p + r * n; for j in 0..<n { o[j] += row[j] } }
        return out
    }

    public func sum() -> Float {
        var s: Double = 0
        let p = pointer
        for i in 0..<count { s += Double(p[i]) }
        return Float(s)
    }

    public func mean() -> Float { count == 0 ? 0 : sum() / Float(count) }
    public func maxValue() -> Float { withUnsafeBufferPointer { $0.max() ?? -.infinity } }
    public func minValue() -> Float { withUnsafeBufferPointer { $0.min() ?? .infinity } }
    public func maxAbs() -> Float { withUnsafeBufferPointer { $0.reduce(0) { Swift.max($0, abs($1)) } } }
    public func sumOfSquares() -> Float { BLAS.dot(n: count, pointer, pointer) }
    public func norm() -> Float { sumOfSquares().squareRoot() }

    /// Largest absolute difference to `other` (same shape).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "maxAbsDifference: \(shape) vs \(other.shape)")
        var m: Float = 0
        let a = pointer, b = other.pointer
        for i in 0..<count { m = Swift.max(m, abs(a[i] - b[i])) }
        return m
    }

    public var hasNonFinite: Bool { withUnsafeBufferPointer { $0.contains { !$0.isFinite } } }
}
