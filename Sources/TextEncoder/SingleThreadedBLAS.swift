import Foundation
import TensorCore

/// Runs a region with OpenBLAS on one thread, so the caller can spread independent work over the cores
/// itself (OpenBLAS's own workers would otherwise spin against the caller's threads). Nested and
/// concurrent regions share one setting: the first to enter saves the thread count, the last to leave
/// restores it.
enum SingleThreadedBLAS {
    private static let lock = NSLock()
    private static var depth = 0
    private static var saved = 1

    static func run<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        if depth == 0 { saved = BLAS.threads; BLAS.threads = 1 }
        depth += 1
        lock.unlock()
        defer {
            lock.lock()
            depth -= 1
            if depth == 0 { BLAS.threads = saved }
            lock.unlock()
        }
        return try body()
    }
}
