import Foundation

/// Runs `body(i)` for i in 0..<count on all cores.
public enum Parallel {
    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || cores <= 1 { for i in 0..<count { body(i) }; return }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}
