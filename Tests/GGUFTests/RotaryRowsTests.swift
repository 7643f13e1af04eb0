import GGUF
import TensorCore
import XCTest

/// llama.cpp's q/k row order, written out as its converter computes it.
final class RotaryRowsTests: XCTestCase {
    /// llama.cpp: `w.reshape(heads, 2, out/heads/2, in).swapaxes(1, 2).reshape(out, in)`.
    func llamaCppPermute(_ hf: Tensor, heads: Int) -> Tensor {
        let rows = hf.shape[0], width = hf.count / rows, hd = rows / heads
        var permuted = Tensor(zeros: hf.shape)
        for h in 0..<heads { for i in 0..<2 { for j in 0..<(hd / 2) { for c in 0..<width {
            permuted[flat: (h * hd + 2 * j + i) * width + c] = hf[flat: (h * hd + i * hd / 2 + j) * width + c]
        } } } }
        return permuted
    }

    func testPermuteIsLlamaCppsAndUnpermuteInvertsIt() {
        for (heads, hd, width) in [(3, 4, 2), (1, 8, 3), (2, 2, 1)] {
            let hf = Tensor(shape: [heads * hd, width], data: (0..<(heads * hd * width)).map(Float.init))
            let want = llamaCppPermute(hf, heads: heads)
            XCTAssertEqual(RotaryRows.permute(hf, heads: heads).maxAbsDifference(want), 0)
            XCTAssertEqual(RotaryRows.unpermute(want, heads: heads).maxAbsDifference(hf), 0)
        }
        let bias = Tensor(shape: [8], data: (0..<8).map(Float.init))
        XCTAssertEqual(RotaryRows.permute(bias, heads: 2).array, [0, 2, 1, 3, 4, 6, 5, 7])
    }

    func testFits() {
        XCTAssertTrue(RotaryRows.fits(rows: 576, heads: 9))
        XCTAssertFalse(RotaryRows.fits(rows: 576, heads: 5))
        XCTAssertFalse(RotaryRows.fits(rows: 6, heads: 2), "heads of 3 rows have no halves")
        XCTAssertFalse(RotaryRows.fits(rows: 8, heads: 0))
    }
}
