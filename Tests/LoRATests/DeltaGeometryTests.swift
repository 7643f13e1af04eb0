import DNDTestSupport
import LoRA
import TensorCore
import XCTest

final class DeltaGeometryTests: XCTestCase {
    func randomAdapter(seed: UInt64, rank: Int, alpha: Float) -> LoRAAdapter {
        var rng = SeededRNG(seed: seed)
        var w: [LoRASite: (a: Tensor, b: Tensor)] = [:]
        for l in 0..<2 {
            w[LoRASite(layer: l, module: .q_proj)] = (Tensor.randomNormal([rank, 6], rng: &rng), Tensor.randomNormal([5, rank], rng: &rng))
            w[LoRASite(layer: l, module: .v_proj)] = (Tensor.randomNormal([rank, 6], rng: &rng), Tensor.randomNormal([3, rank], rng: &rng))
        }
        return LoRAAdapter(config: LoRAConfig(r: rank, loraAlpha: alpha, targetModules: [.q_proj, .v_proj], baseModel: "x"), weights: w)
    }

    /// ΔW = s·B·A of every site, flattened (the plain definition the Gram-matrix path must equal).
    func dense(_ x: LoRAAdapter) -> [Double] {
        var out: [Double] = []
        for site in x.sites {
            let d = x.weights[site]!.b.matmul(x.weights[site]!.a)
            for i in 0..<d.count { out.append(Double(x.scaling) * Double(d[flat: i])) }
        }
        return out
    }

    func testInnerProductsNormsAndCosinesEqualTheDenseDefinition() {
        let x = randomAdapter(seed: 1, rank: 3, alpha: 6), y = randomAdapter(seed: 2, rank: 2, alpha: 8)
        let dx = dense(x), dy = dense(y)
        let want = zip(dx, dy).reduce(0) { $0 + $1.0 * $1.1 }
        XCTAssertEqual(DeltaGeometry.inner(x, y), want, accuracy: 1e-4 * abs(want))
        XCTAssertEqual(DeltaGeometry.norm(x), dx.reduce(0) { $0 + $1 * $1 }.squareRoot(), accuracy: 1e-4)
        XCTAssertEqual(DeltaGeometry.cosine(x, x), 1, accuracy: 1e-6)
        let c = DeltaGeometry.cosine(x, y)
        XCTAssertEqual(c, want / (DeltaGeometry.norm(x) * DeltaGeometry.norm(y)), accuracy: 1e-6)
        XCTAssertTrue(abs(c) < 1)
    }

    func testElementwiseMeanAveragesAAndBSeparately() throws {
        let x = randomAdapter(seed: 1, rank: 2, alpha: 4), y = randomAdapter(seed: 2, rank: 2, alpha: 4)
        let m = try DeltaGeometry.elementwiseMean([x, y])
        let site = LoRASite(layer: 1, module: .v_proj)
        XCTAssertEqual(m.weights[site]!.a[flat: 3], (x.weights[site]!.a[flat: 3] + y.weights[site]!.a[flat: 3]) / 2, accuracy: 1e-6)
        XCTAssertEqual(m.weights[site]!.b[flat: 4], (x.weights[site]!.b[flat: 4] + y.weights[site]!.b[flat: 4]) / 2, accuracy: 1e-6)
        XCTAssertThrowsError(try DeltaGeometry.elementwiseMean([]))
        XCTAssertThrowsError(try DeltaGeometry.elementwiseMean([x, randomAdapter(seed: 3, rank: 3, alpha: 4)]))
    }
}
