import Foundation
import TensorCore

/// Learns a byte-level BPE vocabulary (Qwen2-style pre-tokenizer, NFC) and writes it as `tokenizer.json`.
/// Ids: the 256 byte tokens in GPT-2 order, then one id per merge, then the special tokens.
public enum BPETrainer {
    /// The special tokens every trained tokenizer ends with: end of text and the ChatML markers.
    public static let specialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

    /// A tokenizer with the 256 byte tokens and the special tokens, no merges.
    public static func byteLevel() -> BPETokenizer { make(merges: []) }

    /// Learns up to `merges` merges from `texts`: repeatedly merges the most frequent adjacent pair inside
    /// pre-tokenized words (ties broken by the smaller pair of ids, so the result is deterministic). Pairs seen
    /// fewer than `minFrequency` times are not merged. Special tokens in the text are not learned from.
    public static func train(texts: [String], merges count: Int, minFrequency: Int = 2) -> BPETokenizer {
        let base = byteLevel()
        // Word (as byte-level symbols) → frequency.
        var freq: [[Int32]: Int] = [:]
        for text in texts {
            for seg in base.splitOnAddedTokens(text) {
                guard case let .text(s) = seg else { continue }
                for piece in base.preTokenizer.split(base.normalizer?.apply(s) ?? s) {
                    freq[piece.utf8.map { base.byteIds[Int($0)] }, default: 0] += 1
                }
            }
        }
        var words = freq.map { (syms: $0.key, n: $0.value) }.filter { $0.syms.count > 1 }
        var strings = (0..<256).map { String(ByteLevel.byteToChar[Int(ByteLevel.byteOrder[$0])]) }
        var merges: [(String, String)] = []
        while merges.count < count {
            var pairs: [UInt64: Int] = [:]
            for w in words {
                for j in 0..<(w.syms.count - 1) { pairs[UInt64(w.syms[j]) << 32 | UInt64(w.syms[j + 1]), default: 0] += w.n }
            }
            guard let best = pairs.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }), best.value >= minFrequency else { break }
            let a = Int32(best.key >> 32), b = Int32(truncatingIfNeeded: best.key & 0xFFFF_FFFF)
            let text = strings[Int(a)] + strings[Int(b)]
            // Two pairs can spell the same string ("a"+"bc", "ab"+"c"): both merges then produce one token.
            let merged: Int32
            if let existing = strings.firstIndex(of: text) { merged = Int32(existing) } else { merged = Int32(strings.count); strings.append(text) }
            merges.append((strings[Int(a)], strings[Int(b)]))
            for i in words.indices {
                let s = words[i].syms
                guard s.count > 1 else { continue }
                var out: [Int32] = []
                out.reserveCapacity(s.count)
                var j = 0
                while j < s.count {
                    if j < s.count - 1 && s[j] == a && s[j + 1] == b { out.append(merged); j += 2 } else { out.append(s[j]); j += 1 }
                }
                words[i].syms = out
            }
            words.removeAll { $0.syms.count < 2 }
        }
        return make(merges: merges)
    }

    /// The tokenizer for a list of merges over the byte alphabet.
    static func make(merges: [(String, String)]) -> BPETokenizer {
        var vocab: [String: Int] = [:]
        for (i, b) in ByteLevel.byteOrder.enumerated() { vocab[String(ByteLevel.byteToChar[Int(b)])] = i }
        for (l, r) in merges where vocab[l + r] == nil { vocab[l + r] = vocab.count }
        let added = specialTokens.enumerated().map { BPETokenizer.AddedToken(id: vocab.count + $0, content: $1, special: true) }
        let pre = PreTokenizer(steps: [.split(try! NSRegularExpression(pattern: PreTokenizer.qwen2Pattern), .isolated),
                                       .byteLevel(addPrefixSpace: false, split: nil)])
        return try! BPETokenizer(vocab: vocab, merges: merges, addedTokens: added, normalizer: .nfc, preTokenizer: pre,
                                 eosToken: "<|endoftext|>", padToken: "<|endoftext|>", origin: "trained tokenizer")
    }
}

extension BPETokenizer {
    /// `tokenizer.json` in the Hugging Face `tokenizers` format (NFC, Qwen2 split + ByteLevel, BPE), for tokenizers
    /// built by `BPETrainer`.
    public func tokenizerJSON() throws -> Data {
        let added: [[String: Any]] = addedTokens.map {
            ["id": $0.id, "content": $0.content, "single_word": false, "lstrip": $0.lstrip, "rstrip": $0.rstrip,
             "normalized": false, "special": $0.special]
        }
        let root: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(),
            "padding": NSNull(),
            "added_tokens": added,
            "normalizer": ["type": "NFC"],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": PreTokenizer.qwen2Pattern], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            ]],
            "post_processor": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": merges.map { [$0.0, $0.1] }],
        ]
        return try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .prettyPrinted])
    }

    /// Writes `tokenizer.json` and a minimal `tokenizer_config.json` (EOS/pad, ChatML chat template) into `folder`.
    public func write(to folder: URL, modelMaxLength: Int) throws {
        try AtomicFile.write(tokenizerJSON(), to: folder.appendingPathComponent("tokenizer.json"))
        let eos: Any = eosTokenId.flatMap { token($0) } ?? NSNull()
        let pad: Any = padTokenId.flatMap { token($0) } ?? eos
        var cfg: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": NSNull(), "eos_token": eos,
            "pad_token": pad, "unk_token": NSNull(),
            "model_max_length": modelMaxLength, "clean_up_tokenization_spaces": false,
        ]
        if hasChatML { cfg["chat_template"] = ChatTemplate.chatMLJinja }
        try AtomicFile.write(JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys, .prettyPrinted]),
                             to: folder.appendingPathComponent("tokenizer_config.json"))
    }
}
