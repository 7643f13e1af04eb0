import Foundation
import TensorCore

/// The `pre_tokenizer` stage of `tokenizer.json`: splits normalized text into pieces that BPE encodes
/// separately. dnd reads byte-level tokenizers, so the stage must contain a `ByteLevel` step.
public struct PreTokenizer: @unchecked Sendable {
    /// How a `Split` step keeps its matches (the `behavior` field).
    public enum Behavior: String, Sendable { case isolated = "Isolated", removed = "Removed", mergedWithPrevious = "MergedWithPrevious", mergedWithNext = "MergedWithNext" }

    /// One step; steps run in order, each on every piece the previous one produced.
    public enum Step {
        case split(NSRegularExpression, Behavior)
        /// Byte-level mapping, optionally with a space added to the first piece and the GPT-2 split.
        case byteLevel(addPrefixSpace: Bool, split: NSRegularExpression?)
        case digits(individual: Bool)
    }

    /// The split pattern GPT-2's `ByteLevel(use_regex: true)` uses.
    public static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// The split pattern of Qwen2 tokenizers (and of the tokenizers `dnd pretrain` writes).
    public static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The split pattern of Llama 3 tokenizers (digits in runs of up to three).
    public static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    public var steps: [Step]

    /// The pre-tokenizer a GGUF file names in `tokenizer.ggml.pre` (llama.cpp's names), built as the model's own
    /// `tokenizer.json` has it. Unknown names throw, listing the ones dnd knows.
    public static func gguf(pre name: String, origin: String) throws -> PreTokenizer {
        let gpt2 = try compile(gpt2Pattern, origin: origin)
        switch name {
        case "gpt2", "default", "mpt", "olmo", "jais":
            return PreTokenizer(steps: [.byteLevel(addPrefixSpace: false, split: gpt2)])
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva":
            return PreTokenizer(steps: [.digits(individual: true), .byteLevel(addPrefixSpace: false, split: gpt2)])
        case "qwen2", "stablelm2", "deepseek-r1-qwen", "megrez":
            return PreTokenizer(steps: [.split(try compile(qwen2Pattern, origin: origin), .isolated), .byteLevel(addPrefixSpace: false, split: nil)])
        case "llama-bpe", "llama3", "falcon3", "pixtral", "dbrx", "smaug-bpe":
            return PreTokenizer(steps: [.split(try compile(llama3Pattern, origin: origin), .isolated), .byteLevel(addPrefixSpace: false, split: nil)])
        default:
            throw DNDError("\(origin): tokenizer.ggml.pre = '\(name)' is a pre-tokenizer dnd does not know; known: gpt2, smollm (starcoder, refact, command-r, codeshell), qwen2 (stablelm2, deepseek-r1-qwen), llama-bpe (llama3, falcon3, pixtral); convert the model from its Hugging Face folder instead")
        }
    }

    public init(steps: [Step]) { self.steps = steps }

    /// Builds the stage from its JSON object; unknown types, or no byte-level step, throw.
    public init(json: Any?, origin: String) throws {
        var steps: [Step] = []
        func add(_ any: Any) throws {
            guard let o = any as? [String: Any], let type = o["type"] as? String else {
                throw DNDError("\(origin): pre_tokenizer is not an object with a \"type\"")
            }
            switch type {
            case "Sequence":
                for p in o["pretokenizers"] as? [Any] ?? [] { try add(p) }
            case "Split":
                let pattern: String
                if let p = o["pattern"] as? [String: Any], let r = p["Regex"] as? String { pattern = r }
                else if let p = o["pattern"] as? [String: Any], let s = p["String"] as? String { pattern = NSRegularExpression.escapedPattern(for: s) }
                else { throw DNDError("\(origin): Split pre-tokenizer without a Regex or String pattern") }
                guard (o["invert"] as? Bool ?? false) == false else { throw DNDError("\(origin): Split with invert = true is not supported") }
                let bname = o["behavior"] as? String ?? "Isolated"
                guard let b = Behavior(rawValue: bname) else { throw DNDError("\(origin): Split behavior '\(bname)' is not supported (Isolated, Removed, MergedWithPrevious, MergedWithNext)") }
                steps.append(.split(try PreTokenizer.compile(pattern, origin: origin), b))
            case "ByteLevel":
                let useRegex = o["use_regex"] as? Bool ?? true
                steps.append(.byteLevel(addPrefixSpace: o["add_prefix_space"] as? Bool ?? false,
                                        split: useRegex ? try PreTokenizer.compile(PreTokenizer.gpt2Pattern, origin: origin) : nil))
            case "Digits":
                steps.append(.digits(individual: o["individual_digits"] as? Bool ?? false))
            default:
                throw DNDError("\(origin): pre-tokenizer type '\(type)' is not supported (dnd reads byte-level BPE: Sequence, Split, ByteLevel, Digits)")
            }
        }
        guard let json, !(json is NSNull) else { throw DNDError("\(origin): no pre_tokenizer; dnd reads byte-level BPE tokenizers (GPT-2, Qwen2, Llama 3 style)") }
        try add(json)
        guard steps.contains(where: { if case .byteLevel = $0 { return true } else { return false } }) else {
            throw DNDError("\(origin): the pre_tokenizer has no ByteLevel step; dnd reads byte-level BPE tokenizers only (not SentencePiece/Metaspace ones)")
        }
        self.steps = steps
    }

    static func compile(_ pattern: String, origin: String) throws -> NSRegularExpression {
        do { return try NSRegularExpression(pattern: pattern) } catch {
            throw DNDError("\(origin): the split pattern \(pattern) is not a regular expression dnd can compile")
        }
    }

    /// Pieces of `text`, in order; their concatenation is `text` (plus a prefix space if configured), minus
    /// what `Removed` splits drop.
    public func split(_ text: String) -> [String] {
        var pieces = [text]
        for step in steps {
            var next: [String] = []
            next.reserveCapacity(pieces.count)
            switch step {
            case let .split(re, behavior):
                for p in pieces { PreTokenizer.split(p, re, behavior, into: &next) }
            case let .byteLevel(addPrefixSpace, re):
                for (i, p) in pieces.enumerated() {
                    let q = (addPrefixSpace && i == 0 && !p.hasPrefix(" ")) ? " " + p : p
                    if let re { PreTokenizer.split(q, re, .isolated, into: &next) } else { next.append(q) }
                }
            case let .digits(individual):
                for p in pieces { PreTokenizer.splitDigits(p, individual: individual, into: &next) }
            }
            pieces = next
        }
        return pieces
    }

    /// Every match and every gap between matches, per `behavior`; empty pieces are dropped.
    static func split(_ s: String, _ re: NSRegularExpression, _ behavior: Behavior, into out: inout [String]) {
        let ns = s as NSString
        var last = 0
        var pendingGap: String? = nil
        func emitGap(_ g: String) { if !g.isEmpty { out.append(g) } }
        for m in re.matches(in: s, range: NSRange(location: 0, length: ns.length)) where m.range.length > 0 {
            let gap = last < m.range.location ? ns.substring(with: NSRange(location: last, length: m.range.location - last)) : ""
            let match = ns.substring(with: m.range)
            switch behavior {
            case .isolated: emitGap(gap); out.append(match)
            case .removed: emitGap(gap)
            case .mergedWithPrevious: out.append(gap + match)
            case .mergedWithNext:
                emitGap((pendingGap ?? "") + gap)
                pendingGap = match
            }
            last = m.range.location + m.range.length
        }
        let tail = last < ns.length ? ns.substring(from: last) : ""
        if behavior == .mergedWithNext { emitGap((pendingGap ?? "") + tail) } else { emitGap(tail) }
    }

    /// Splits runs of digits from the rest (each digit alone when `individual`).
    static func splitDigits(_ s: String, individual: Bool, into out: inout [String]) {
        var cur = ""
        var curIsDigit = false
        for ch in s {
            let d = ch.isNumber && ch.isASCII
            if !cur.isEmpty && (d != curIsDigit || (d && individual)) { out.append(cur); cur = "" }
            cur.append(ch); curIsDigit = d
        }
        if !cur.isEmpty { out.append(cur) }
    }
}
