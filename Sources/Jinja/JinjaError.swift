import Foundation

/// Why a template failed to parse or render: where (template name, line, column), what, and how to fix it.
///
/// Every failure the template text or the render inputs can cause is one of these, never a trap.
public struct JinjaError: Error, CustomStringConvertible, LocalizedError, Sendable, Equatable {
    /// The stage and cause of a failure.
    public enum Kind: String, Sendable, Equatable {
        /// The template text is not valid Jinja.
        case syntax
        /// Valid Jinja, but a feature this interpreter refuses (the error names it).
        case unsupported
        /// Rendering failed: an undefined value used, a type error, a bad argument, a limit reached.
        case runtime
        /// The template itself called `raise_exception(message)`; `what` is its message, unchanged.
        case raised
    }

    public var kind: Kind
    /// The template's name as given to `Template(_:name:)`.
    public var template: String
    /// 1-based line of the construct at fault; 0 when no position applies.
    public var line: Int
    /// 1-based column (in Unicode scalars) of the construct at fault; 0 when no position applies.
    public var column: Int
    public var what: String
    public var fix: String

    public init(kind: Kind, template: String = "template", line: Int = 0, column: Int = 0, what: String, fix: String = "") {
        self.kind = kind
        self.template = template
        self.line = line
        self.column = column
        self.what = what
        self.fix = fix
    }

    public var description: String {
        let place = line > 0 ? "\(template):\(line):\(column)" : template
        return fix.isEmpty ? "\(place): \(what)" : "\(place): \(what); \(fix)"
    }

    public var errorDescription: String? { description }
}

/// A byte offset into the (newline-normalised) template source; resolved to line and column only when an error
/// is reported.
typealias SourceOffset = Int32

/// An error raised before its position is known to the reporter: a kind, a message, a hint and the offset of the
/// construct at fault. `SourceText.error(_:)` turns it into a `JinjaError`.
struct PendingError: Error {
    var kind: JinjaError.Kind
    var offset: SourceOffset
    var what: String
    var fix: String

    init(_ kind: JinjaError.Kind, at offset: SourceOffset, _ what: String, fix: String = "") {
        self.kind = kind
        self.offset = offset
        self.what = what
        self.fix = fix
    }
}

/// The template text with its line table, to turn offsets into line and column.
struct SourceText: Sendable {
    let name: String
    /// UTF-8 bytes of the normalised source (`\r\n` and `\r` became `\n`).
    let bytes: [UInt8]
    /// Byte offset where each line starts.
    let lineStarts: [Int]

    init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { starts.append(i + 1) }
        self.lineStarts = starts
    }

    /// 1-based line and column (in Unicode scalars) of a byte offset.
    func position(of offset: SourceOffset) -> (line: Int, column: Int) {
        let off = max(0, min(Int(offset), bytes.count))
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= off { lo = mid } else { hi = mid - 1 }
        }
        let start = lineStarts[lo]
        // Count scalars: every byte that is not a UTF-8 continuation byte starts one.
        var column = 1
        for b in bytes[start..<off] where b & 0xC0 != 0x80 { column += 1 }
        return (lo + 1, column)
    }

    func error(_ e: PendingError) -> JinjaError {
        let (line, column) = position(of: e.offset)
        return JinjaError(kind: e.kind, template: name, line: line, column: column, what: e.what, fix: e.fix)
    }
}
