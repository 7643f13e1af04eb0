import TensorCore

/// llama.cpp's row order for `llama` q/k projections. Its converter stores the rows of `attn_q` / `attn_k` (and their
/// biases, and a LoRA's `lora_b`) interleaved per head for its rotary kernel:
/// `w.reshape(heads, 2, hd/2, …).swapaxes(1, 2).reshape(out, …)`, with `heads` the query heads for q and the KV heads
/// for k. Hugging Face row `h·hd + i·hd/2 + j` (head `h`, half `i`, pair `j`) is GGUF row `h·hd + 2j + i`.
/// `qwen2` files are not permuted.
public enum RotaryRows {
    /// Hugging Face (rotate-half) rows → llama.cpp rows, for an `[out, …]` tensor (weights `[out, in]`, biases `[out]`,
    /// LoRA `B [out, r]`).
    public static func permute(_ t: Tensor, heads: Int) -> Tensor { reorder(t, heads: heads, toGGUF: true) }

    /// llama.cpp rows → Hugging Face rows: the inverse of `permute`.
    public static func unpermute(_ t: Tensor, heads: Int) -> Tensor { reorder(t, heads: heads, toGGUF: false) }

    /// True when `rows` splits into `heads` heads of an even size (what both directions need).
    public static func fits(rows: Int, heads: Int) -> Bool { heads > 0 && rows % heads == 0 && (rows / heads) % 2 == 0 }

    static func reorder(_ t: Tensor, heads: Int, toGGUF: Bool) -> Tensor {
        let rows = t.shape[0], width = t.count / max(1, rows)
        precondition(fits(rows: rows, heads: heads), "rotary rows: \(rows) rows do not split into \(heads) heads of an even size")
        let hd = rows / heads, half = hd / 2
        var out = Tensor(uninitialized: t.shape)
        out.withUnsafeMutableBufferPointer { o in
            let src = t.pointer
            for h in 0..<heads {
                for i in 0..<2 {
                    for j in 0..<half {
                        let hf = h * hd + i * half + j, gg = h * hd + 2 * j + i
                        let (to, from) = toGGUF ? (gg, hf) : (hf, gg)
                        (o.baseAddress! + to * width).update(from: src + from * width, count: width)
                    }
                }
            }
        }
        return out
    }
}
