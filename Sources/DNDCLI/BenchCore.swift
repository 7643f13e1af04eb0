import ArgumentParser
import Foundation
import TensorCore

/// Times `body` (after one warm-up call) and returns the best of `repeats` in seconds.
func bestTime(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<max(1, repeats) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return best
}

/// Measured sgemm rate at 1024³ with the current thread count, in GFLOPS: the ceiling other benches compare to.
func sgemmPeakGFLOPS() -> Double {
    var rng = SeededRNG(seed: 1)
    let n = 1024
    let a = Tensor.randomNormal([n, n], rng: &rng), b = Tensor.randomNormal([n, n], rng: &rng)
    let t = bestTime(repeats: 5) { _ = a.matmul(b) }
    return 2 * Double(n * n * n) / t / 1e9
}

struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "sgemm GFLOPS at several sizes and thread counts.")

    @Option(parsing: .upToNextOption, help: "Matrix sizes (square) to measure.") var sizes: [Int] = [256, 512, 1024, 2048]
    @Option(parsing: .upToNextOption, help: "Thread counts to measure (default: 1 and all cores).") var threads: [Int] = []
    @Option(help: "Timed repetitions per size (best is reported).") var repeats = 5

    func run() throws {
        let counts = threads.isEmpty ? Array(Set([1, Parallel.cores])).sorted() : threads
        print("sgemm (OpenBLAS), C = A·B, square, best of \(repeats)")
        print("threads      size     ms   GFLOPS")
        var rng = SeededRNG(seed: 7)
        for th in counts {
            BLAS.setThreads(th)
            for n in sizes {
                let a = Tensor.randomNormal([n, n], rng: &rng), b = Tensor.randomNormal([n, n], rng: &rng)
                let t = bestTime(repeats: repeats) { _ = a.matmul(b) }
                print(String(format: "%7d %9d %6.2f %8.1f", th, n, t * 1e3, 2 * Double(n * n * n) / t / 1e9))
            }
        }
        BLAS.setThreads(Parallel.cores)
    }
}

struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conv", abstract: "conv2d (im2col + sgemm) GFLOPS, forward and backward.")

    @Option(help: "Batch size.") var batch = 8
    @Option(help: "Input channels.") var inChannels = 64
    @Option(help: "Output channels.") var outChannels = 64
    @Option(help: "Spatial size (square).") var size = 64
    @Option(help: "Kernel size (odd).") var kernel = 3
    @Option(help: "Timed repetitions (best is reported).") var repeats = 5

    func validate() throws {
        guard kernel % 2 == 1 else { throw ValidationError("--kernel must be odd") }
    }

    func run() throws {
        var rng = SeededRNG(seed: 3)
        let x = Tensor.randomNormal([batch, inChannels, size, size], rng: &rng)
        let w = Tensor.randomNormal([outChannels, inChannels, kernel, kernel], std: 0.05, rng: &rng)
        let bias = Tensor.randomNormal([outChannels], rng: &rng)
        let flops = 2 * Double(batch * outChannels * size * size * inChannels * kernel * kernel)
        let peak = sgemmPeakGFLOPS()
        let tf = bestTime(repeats: repeats) { _ = Conv2D.forward(input: x, weight: w, bias: bias) }
        let y = Conv2D.forward(input: x, weight: w, bias: bias)
        var gw = Tensor(zeros: w.shape)
        var gb = [Float](repeating: 0, count: outChannels)
        let tb = bestTime(repeats: repeats) {
            gb.withUnsafeMutableBufferPointer { _ = Conv2D.backward(gradOutput: y, input: x, weight: w, gradWeight: &gw, gradBias: $0.baseAddress) }
        }
        print("conv2d \(batch)×\(inChannels)×\(size)×\(size) → \(outChannels) channels, kernel \(kernel), \(Parallel.cores) threads")
        print(String(format: "sgemm peak (1024³):  %8.1f GFLOPS", peak))
        print(String(format: "forward:   %8.2f ms %8.1f GFLOPS  (%.0f%% of sgemm)", tf * 1e3, flops / tf / 1e9, 100 * flops / tf / 1e9 / peak))
        print(String(format: "backward:  %8.2f ms %8.1f GFLOPS  (%.0f%% of sgemm)", tb * 1e3, 2 * flops / tb / 1e9, 100 * 2 * flops / tb / 1e9 / peak))
    }
}
