import Foundation

/// Keys and values of the tokens a sequence has seen so far, per layer, for incremental decoding.
/// Each layer holds `K, V [capacity, Hkv·hd]` (after rotary for K); capacity grows by doubling.
public final class KVCache {
    public internal(set) var length = 0
    let width: Int     // Hkv·hd
    private(set) var capacity: Int
    private var k: [UnsafeMutablePointer<Float>]   // L × [capacity, Hkv·hd]
    private var v: [UnsafeMutablePointer<Float>]   // L × [capacity, Hkv·hd]

    public init(config: ModelConfig, capacity: Int = 256) {
        width = config.kvWidth
        self.capacity = max(1, capacity)
        k = (0..<config.numHiddenLayers).map { _ in .allocate(capacity: max(1, capacity) * config.kvWidth) }
        v = (0..<config.numHiddenLayers).map { _ in .allocate(capacity: max(1, capacity) * config.kvWidth) }
    }

    deinit { for p in k + v { p.deallocate() } }

    /// Forgets every token (keeps the memory).
    public func reset() { length = 0 }

    /// Copies `rows` new key/value rows of layer `layer` after the `length` cached ones.
    func append(layer: Int, k newK: UnsafePointer<Float>, v newV: UnsafePointer<Float>, rows: Int) {
        if length + rows > capacity { grow(to: length + rows) }
        (k[layer] + length * width).update(from: newK, count: rows * width)
        (v[layer] + length * width).update(from: newV, count: rows * width)
    }

    func keys(_ layer: Int) -> UnsafePointer<Float> { UnsafePointer(k[layer]) }
    func values(_ layer: Int) -> UnsafePointer<Float> { UnsafePointer(v[layer]) }

    private func grow(to needed: Int) {
        var c = capacity
        while c < needed { c *= 2 }
        for i in k.indices {
            let nk = UnsafeMutablePointer<Float>.allocate(capacity: c * width)
            let nv = UnsafeMutablePointer<Float>.allocate(capacity: c * width)
            nk.update(from: k[i], count: capacity * width); nv.update(from: v[i], count: capacity * width)
            k[i].deallocate(); v[i].deallocate()
            k[i] = nk; v[i] = nv
        }
        capacity = c
    }
}
