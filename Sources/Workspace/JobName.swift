import Foundation

/// A job's name, made from the dropped file's name: safe as one folder name and unique across every job folder.
///
/// `My Prompts (v2).noeval.jsonl` → job `My_Prompts_v2` with evaluation off. Rules: the extension and the option tags
/// (`.eval`, `.noeval` just before it) are dropped; Unicode is normalised (NFC) and letters and digits of any script
/// are kept; every other character (spaces, slashes, quotes, control characters…) becomes `_`, runs collapse to one;
/// leading and trailing `.`, `-` and `_` are trimmed (no hidden or option-like names); at most `maxBytes` UTF-8 bytes;
/// empty becomes `job`. A taken name gets `-2`, `-3`, … .
public enum JobName {
    /// Upper bound on a job name in UTF-8 bytes (file names allow 255; the rest is room for suffixes).
    public static let maxBytes = 80

    /// Per-job evaluation choice written into the file name.
    public enum Evaluation: String, Sendable, Codable, Equatable {
        /// No tag: the config's `evaluation` decides.
        case configDefault = "default"
        /// `.eval`: evaluate whenever a base model and scorable records exist, even when the config says off.
        case on
        /// `.noeval`: never evaluate.
        case off
    }

    /// The tags a file name may carry just before its extension.
    public static let tags: [String: Evaluation] = ["eval": .on, "noeval": .off]

    /// The parts of a dropped file's name: the stem the job name comes from and the evaluation tag.
    public static func parse(fileName: String) -> (stem: String, evaluation: Evaluation) {
        var parts = fileName.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count >= 2, !parts[parts.count - 1].isEmpty, !parts[0].isEmpty { parts.removeLast() }  // the extension
        var evaluation = Evaluation.configDefault
        while parts.count >= 2, let e = tags[parts[parts.count - 1].lowercased()] {
            if evaluation == .configDefault { evaluation = e }  // the tag nearest the extension wins
            parts.removeLast()
        }
        return (parts.joined(separator: "."), evaluation)
    }

    /// The safe form of a stem, before uniqueness.
    public static func sanitize(_ stem: String) -> String {
        var out = ""
        var lastWasUnderscore = false
        for ch in stem.precomposedStringWithCanonicalMapping {
            let keep = ch.isLetter || ch.isNumber || ch == "-" || ch == "." || ch == "_"
            let c: Character = keep ? ch : "_"
            if c == "_" {
                if lastWasUnderscore { continue }
                lastWasUnderscore = true
            } else { lastWasUnderscore = false }
            out.append(c)
        }
        let trim: Set<Character> = [".", "-", "_"]
        while let f = out.first, trim.contains(f) { out.removeFirst() }
        out = truncate(out, maxBytes: maxBytes)
        while let l = out.last, trim.contains(l) { out.removeLast() }
        return out.isEmpty ? "job" : out
    }

    /// The job name for `fileName`, the first of `name`, `name-2`, `name-3`… for which `isTaken` is false.
    public static func unique(for fileName: String, isTaken: (String) -> Bool) -> String {
        unique(stem: sanitize(parse(fileName: fileName).stem), isTaken: isTaken)
    }

    /// The first of `base`, `base-2`, `base-3`… (each within `maxBytes`) for which `isTaken` is false.
    public static func unique(stem base: String, isTaken: (String) -> Bool) -> String {
        if !isTaken(base) { return base }
        var n = 2
        while true {
            let suffix = "-\(n)"
            let candidate = truncate(base, maxBytes: maxBytes - suffix.utf8.count) + suffix
            if !isTaken(candidate) { return candidate }
            n += 1
        }
    }

    /// The longest prefix of `s` (whole characters) within `maxBytes` UTF-8 bytes.
    static func truncate(_ s: String, maxBytes: Int) -> String {
        if s.utf8.count <= maxBytes { return s }
        var out = ""
        var bytes = 0
        for ch in s {
            let n = String(ch).utf8.count
            if bytes + n > maxBytes { break }
            out.append(ch); bytes += n
        }
        return out
    }

    /// True for names the inbox ignores: dot-files and editor or download temp files.
    public static func isIgnoredInboxName(_ name: String) -> Bool {
        if name.hasPrefix(".") || name.hasSuffix("~") { return true }
        if name.hasPrefix("#") && name.hasSuffix("#") { return true }
        let lower = name.lowercased()
        return ignoredSuffixes.contains { lower.hasSuffix($0) }
    }

    /// Suffixes of files still being written by editors, downloaders and copy tools.
    public static let ignoredSuffixes = [".swp", ".swx", ".swo", ".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart"]
}
