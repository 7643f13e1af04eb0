import CBLAS
import Foundation

/// Keeps freed tensor memory in the heap instead of returning it to the kernel, so that the next tensor of
/// the same size does not page-fault its way in again (glibc otherwise mmaps and munmaps every large block).
let tuneAllocatorOnce: Void = {
    mallopt(M_MMAP_THRESHOLD, 1 << 30)
    mallopt(M_TRIM_THRESHOLD, 1 << 30)
    // One arena: threads other than the main one (Swift concurrency runs commands there) otherwise get their own
    // arena, which maps every block over 64 MiB afresh whatever the thresholds say.
    mallopt(M_ARENA_MAX, 1)
}()

/// Contiguous Float32 memory, either owned or borrowed from a read-only mapping kept alive by `owner`.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// Non-nil when the memory belongs to someone else (a memory-mapped file); such storage is never written.
    public let owner: AnyObject?

    public init(count: Int, zeroed: Bool = true) {
        _ = tuneAllocatorOnce
        self.count = count
        self.pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        if zeroed { self.pointer.initialize(repeating: 0, count: count) }
        self.owner = nil
    }

    /// Wraps memory owned by `owner` (read-only; a write copies first).
    public init(borrowing pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = UnsafeMutablePointer(mutating: pointer)
        self.count = count
        self.owner = owner
    }

    deinit {
        if owner == nil { pointer.deallocate() }
    }

    var isBorrowed: Bool { owner != nil }
}

/// A contiguous, row-major Float32 tensor with copy-on-write value semantics.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public private(set) var shape: [Int]
    @usableFromInline var storage: TensorStorage

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var description: String { "Tensor\(shape)" }

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.storage = TensorStorage(count: shape.reduce(1, *))
    }

    /// A tensor whose contents are garbage until written: for outputs that a kernel overwrites entirely.
    public init(uninitialized shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.storage = TensorStorage(count: shape.reduce(1, *), zeroed: false)
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        if value != 0 { storage.pointer.update(repeating: value, count: count) }
    }

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not hold \(data.count) values")
        self.init(zeros: shape)
        data.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: data.count) }
    }

    public init(shape: [Int], storage: TensorStorage) {
        precondition(shape.reduce(1, *) == storage.count, "shape \(shape) does not match storage of \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor filled by `body` writing into fresh, zeroed memory.
    public init(shape: [Int], fill body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(zeros: shape)
        try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    public static func scalar(_ v: Float) -> Tensor { Tensor(shape: [], data: [v]) }

    @inline(__always)
    mutating func makeUnique() {
        if storage.isBorrowed || !isKnownUniquelyReferenced(&storage) {
            let fresh = TensorStorage(count: storage.count)
            fresh.pointer.update(from: storage.pointer, count: storage.count)
            storage = fresh
        }
    }

    /// The tensor in memory of its own: a tensor borrowed from a mapping is copied (so the mapping can go), an owned
    /// one is returned as it is.
    public func owned() -> Tensor {
        var t = self
        if storage.isBorrowed { t.makeUnique() }
        return t
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }

    public subscript(flat i: Int) -> Float {
        get { precondition(i >= 0 && i < count); return storage.pointer[i] }
        set { precondition(i >= 0 && i < count); makeUnique(); storage.pointer[i] = newValue }
    }

    /// Element at a multi-index (slow; for tests and debugging).
    public subscript(_ index: Int...) -> Float {
        get { storage.pointer[offset(index)] }
        set { makeUnique(); storage.pointer[offset(index)] = newValue }
    }

    func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var o = 0
        for (i, d) in zip(index, shape) { precondition(i >= 0 && i < d, "index \(index) out of \(shape)"); o = o * d + i }
        return o
    }

    @inline(__always)
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    @inline(__always)
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// Base pointer for read-only use in BLAS calls; valid while `self` is alive.
    @inline(__always)
    public var pointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

    /// Same data, new shape (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let rest = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(rest > 0 && count % rest == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / rest
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: s, storage: storage)
    }

    /// Rows `range` of the first axis, copied.
    public func slice(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0])
        let inner = shape.dropFirst().reduce(1, *)
        var out = Tensor(zeros: [range.count] + shape.dropFirst())
        out.storage.pointer.update(from: storage.pointer + range.lowerBound * inner, count: range.count * inner)
        return out
    }

    /// Element `i` of the first axis, copied.
    public func row(_ i: Int) -> Tensor { slice(i..<(i + 1)).reshaped(Array(shape.dropFirst())) }

    /// Stacks equally-shaped tensors along a new first axis.
    public static func stack(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "stack of nothing")
        let s = parts[0].shape
        var out = Tensor(zeros: [parts.count] + s)
        let n = parts[0].count
        for (i, p) in parts.enumerated() {
            precondition(p.shape == s, "stack: shape \(p.shape) differs from \(s)")
            (out.storage.pointer + i * n).update(from: p.storage.pointer, count: n)
        }
        return out
    }

    /// Concatenates along the first axis.
    public static func concatenate(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "concatenate of nothing")
        let inner = Array(parts[0].shape.dropFirst())
        let rows = parts.reduce(0) { $0 + $1.shape[0] }
        var out = Tensor(zeros: [rows] + inner)
        var o = 0
        for p in parts {
            precondition(Array(p.shape.dropFirst()) == inner, "concatenate: shape \(p.shape) vs inner \(inner)")
            (out.storage.pointer + o).update(from: p.storage.pointer, count: p.count)
            o += p.count
        }
        return out
    }

    /// Axis permutation (a real transpose of memory): `out.shape[i] = shape[axes[i]]`.
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.count == rank && Set(axes) == Set(0..<rank), "bad permutation \(axes) for \(shape)")
        let outShape = axes.map { shape[$0] }
        var out = Tensor(zeros: outShape)
        if count == 0 { return out }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let strideForOut = axes.map { inStrides[$0] }
        let src = storage.pointer, dst = out.storage.pointer
        // Innermost axis handled as a strided run; outer axes walked by an odometer.
        let last = rank - 1
        let innerCount = outShape[last], innerStride = strideForOut[last]
        var idx = [Int](repeating: 0, count: rank)
        var o = 0
        let outer = count / max(innerCount, 1)
        for _ in 0..<outer {
            var base = 0
            for a in 0..<last { base += idx[a] * strideForOut[a] }
            for j in 0..<innerCount { dst[o + j] = src[base + j * innerStride] }
            o += innerCount
            var a = last - 1
            while a >= 0 {
                idx[a] += 1
                if idx[a] < outShape[a] { break }
                idx[a] = 0
                a -= 1
            }
        }
        return out
    }

    /// 2-D transpose.
    public var transposed: Tensor {
        precondition(rank == 2, "transposed needs a matrix, got \(shape)")
        return permuted([1, 0])
    }
}

extension Tensor: Equatable {
    public static func == (a: Tensor, b: Tensor) -> Bool {
        a.shape == b.shape && memcmp(a.storage.pointer, b.storage.pointer, a.count * 4) == 0
    }
}
