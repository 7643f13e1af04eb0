import Foundation
import Generator
import TensorCore
import XCTest

final class GaussianNoiseTests: XCTestCase {
    /// Moments and the distribution function at several points (tails included) match N(0, 1).
    func testSamplesAreStandardNormal() {
        var rng = SeededRNG(seed: 51)
        let n = 400_000
        var sum = 0.0, sumSq = 0.0, sum4 = 0.0
        let points: [Double] = [-3.5, -2.5, -1.5, -0.5, 0, 0.3, 1, 2, 3, 3.8]
        var below = [Int](repeating: 0, count: points.count)
        for _ in 0..<n {
            let z = Double(GaussianNoise.sample(&rng))
            sum += z; sumSq += z * z; sum4 += z * z * z * z
            for (j, p) in points.enumerated() where z < p { below[j] += 1 }
        }
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        print("ziggurat: mean \(mean), variance \(variance), fourth moment \(sum4 / Double(n))")
        XCTAssertEqual(mean, 0, accuracy: 0.008)             // 5 standard errors
        XCTAssertEqual(variance, 1, accuracy: 0.012)
        XCTAssertEqual(sum4 / Double(n), 3, accuracy: 0.08)
        for (j, p) in points.enumerated() {
            let expected = 0.5 * erfc(-p / 2.0.squareRoot())
            let got = Double(below[j]) / Double(n)
            // 5 binomial standard deviations
            let tolerance = 5 * (expected * (1 - expected) / Double(n)).squareRoot() + 1e-6
            XCTAssertEqual(got, expected, accuracy: tolerance, "P(z < \(p))")
        }
    }

    func testSeededAndScaled() {
        var a = SeededRNG(seed: 9), b = SeededRNG(seed: 9)
        var x = Tensor(zeros: [1000]), y = Tensor(zeros: [1000])
        GaussianNoise.add(to: &x, std: 1e-4, rng: &a)
        GaussianNoise.add(to: &y, std: 1e-4, rng: &b)
        XCTAssertEqual(x, y)
        XCTAssertEqual((x.sumOfSquares() / 1000).squareRoot(), 1e-4, accuracy: 1e-5)
    }
}
