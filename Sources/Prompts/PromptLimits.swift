import Foundation

/// The limits a prompt file is read under (the daemon's config sets them). File size, prompt count and record size
/// are hard limits, checked while reading (a file over one is refused before the rest is read); a prompt over
/// `maxPromptChars` is cut to that length, with a warning naming its line.
public struct PromptLimits: Sendable, Equatable, Codable {
    /// The largest file, in bytes.
    public var maxFileBytes: Int = 64 << 20
    /// The most prompts (records) in one file.
    public var maxPrompts: Int = 100_000
    /// The longest prompt, in characters; longer ones are cut (the encoder reads far fewer tokens anyway).
    public var maxPromptChars: Int = 32_768
    /// The longest record, in bytes: a `.jsonl` line or a `.json` element (it is parsed in one piece). A `.txt` line
    /// longer than this is cut instead.
    public var maxRecordBytes: Int = 4 << 20

    public init(maxFileBytes: Int = 64 << 20, maxPrompts: Int = 100_000, maxPromptChars: Int = 32_768, maxRecordBytes: Int = 4 << 20) {
        self.maxFileBytes = maxFileBytes; self.maxPrompts = maxPrompts; self.maxPromptChars = maxPromptChars
        self.maxRecordBytes = maxRecordBytes
    }
}
