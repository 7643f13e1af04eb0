import Foundation
import TensorCore

/// The `normalizer` stage of `tokenizer.json`: Unicode normal forms, lowercasing, replacements.
public indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd, lowercase
    case replace(pattern: String, content: String)
    case prepend(String)
    case sequence([Normalizer])

    /// Builds the stage from its JSON object (`null` means none); unknown types throw.
    public static func from(json: Any?, origin: String) throws -> Normalizer? {
        guard let obj = json, !(obj is NSNull) else { return nil }
        guard let o = obj as? [String: Any], let type = o["type"] as? String else {
            throw DNDError("\(origin): normalizer is not an object with a \"type\"")
        }
        switch type {
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Prepend":
            guard let p = o["prepend"] as? String else { throw DNDError("\(origin): Prepend normalizer without \"prepend\"") }
            return .prepend(p)
        case "Replace":
            guard let pat = o["pattern"] as? [String: Any], let s = pat["String"] as? String, let content = o["content"] as? String else {
                throw DNDError("\(origin): Replace normalizer: only a plain String pattern is supported")
            }
            return .replace(pattern: s, content: content)
        case "Sequence":
            let list = o["normalizers"] as? [Any] ?? []
            return .sequence(try list.compactMap { try from(json: $0, origin: origin) })
        default:
            throw DNDError("\(origin): normalizer type '\(type)' is not supported (dnd knows NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Sequence)")
        }
    }

    public func apply(_ s: String) -> String {
        switch self {
        case .nfc: return s.precomposedStringWithCanonicalMapping
        case .nfd: return s.decomposedStringWithCanonicalMapping
        case .nfkc: return s.precomposedStringWithCompatibilityMapping
        case .nfkd: return s.decomposedStringWithCompatibilityMapping
        case .lowercase: return s.lowercased()
        case let .replace(p, c): return s.replacingOccurrences(of: p, with: c)
        case let .prepend(p): return s.isEmpty ? s : p + s
        case let .sequence(list): return list.reduce(s) { $1.apply($0) }
        }
    }
}
