import Foundation

/// Why a prompt file cannot be used, as a value: which file, where in it, what is wrong and how to fix it. The daemon
/// copies these fields into `error.json`; command-line tools print `description`.
public struct PromptFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What `line` counts: lines (.jsonl, .txt) or array elements (.json).
    public enum Unit: String, Sendable, Equatable { case line, element }

    /// The file as the reader was told to name it (a path, or the name the user dropped).
    public var file: String
    /// The 1-based line or element of the (first) problem; nil when the whole file is concerned.
    public var line: Int?
    public var unit: Unit
    /// What is wrong, in one sentence (several bad records: the first, then "; line 5: …" for the others).
    public var what: String
    /// How to fix it.
    public var fix: String

    public init(file: String, line: Int? = nil, unit: Unit = .line, what: String, fix: String) {
        self.file = file; self.line = line; self.unit = unit; self.what = what; self.fix = fix
    }

    /// "line 3", "element 2", or nil.
    public var location: String? { line.map { "\(unit.rawValue) \($0)" } }

    /// `<file>: line 3: what; fix`.
    public var description: String { "\(file): \(location.map { "\($0): " } ?? "")\(what); \(fix)" }
}

/// Something the reader changed to make a record usable (a prompt cut to `maxPromptChars`), naming its line.
public struct PromptFileWarning: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var unit: PromptFileError.Unit
    public var what: String

    public init(line: Int, unit: PromptFileError.Unit = .line, what: String) { self.line = line; self.unit = unit; self.what = what }

    /// `line 3: what`.
    public var description: String { "\(unit.rawValue) \(line): \(what)" }
}
