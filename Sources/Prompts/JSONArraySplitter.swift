import Foundation

/// Splits a JSON array `[e1, e2, …]` into the bytes of its elements, fed in chunks, without parsing them: strings
/// (with their escapes) and nesting are tracked so that commas and brackets inside them do not split. Each element is
/// then parsed on its own, so memory stays bounded by the longest element (at most `maxElementBytes` kept; the rest is
/// dropped and counted) whatever the file's size. Elements are numbered from 1.
struct JSONArraySplitter {
    /// One element's bytes (surrounding whitespace removed).
    struct Element: Equatable {
        var number: Int
        var bytes: [UInt8]
        var droppedBytes: Int
    }

    /// What is wrong with the array itself.
    enum Problem: Error, Equatable {
        /// The first non-blank byte is not `[`.
        case notAnArray(first: UInt8)
        /// Something other than blanks after the closing `]`.
        case textAfterArray
        /// The input ended inside the array.
        case notClosed
        /// The input is blank.
        case blank
    }

    private enum Phase { case beforeArray, beforeElement, inElement, afterArray }

    let maxElementBytes: Int
    private var phase = Phase.beforeArray
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var current: [UInt8] = []
    private var dropped = 0
    private(set) var elementCount = 0

    init(maxElementBytes: Int = Int.max) { self.maxElementBytes = maxElementBytes }

    /// True while the element being read has already passed `maxElementBytes`.
    var droppingBytes: Bool { dropped > 0 }

    /// The number the element being read will get.
    var currentElementNumber: Int { elementCount + 1 }

    static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (Element) throws -> Void) throws {
        let bytes = chunk.bindMemory(to: UInt8.self)
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            switch phase {
            case .beforeArray:
                if !JSONArraySplitter.isBlank(b) {
                    guard b == UInt8(ascii: "[") else { throw Problem.notAnArray(first: b) }
                    phase = .beforeElement
                }
                i += 1
            case .beforeElement:
                if JSONArraySplitter.isBlank(b) { i += 1; continue }
                if b == UInt8(ascii: "]") {
                    if elementCount > 0 { try emit(body) }  // `[1,]`: the empty element after the comma
                    phase = .afterArray
                    i += 1
                } else if b == UInt8(ascii: ",") {
                    try emit(body)  // `[,` or `,,`: an empty element
                    i += 1
                } else {
                    phase = .inElement
                }
            case .inElement:
                // Scan to the end of the element (a comma or the closing bracket at depth 0), copying in one go.
                let start = i
                var end = -1
                var closes = false
                while i < n {
                    let c = bytes[i]
                    if inString {
                        if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                    } else if c == UInt8(ascii: "\"") {
                        inString = true
                    } else if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") {
                        depth += 1
                    } else if c == UInt8(ascii: "]") || c == UInt8(ascii: "}") {
                        if depth == 0 && c == UInt8(ascii: "]") { end = i; closes = true; break }
                        depth = max(0, depth - 1)
                    } else if c == UInt8(ascii: ","), depth == 0 {
                        end = i; break
                    }
                    i += 1
                }
                append(UnsafeBufferPointer(rebasing: bytes[start..<(end < 0 ? n : end)]))
                if end >= 0 {
                    try emit(body)
                    phase = closes ? .afterArray : .beforeElement
                    i = end + 1
                }
            case .afterArray:
                guard JSONArraySplitter.isBlank(b) else { throw Problem.textAfterArray }
                i += 1
            }
        }
    }

    mutating func finish() throws {
        switch phase {
        case .afterArray: return
        case .beforeArray: throw Problem.blank
        case .beforeElement, .inElement: throw Problem.notClosed
        }
    }

    private mutating func append(_ p: UnsafeBufferPointer<UInt8>) {
        let room = max(0, maxElementBytes - current.count)
        let take = min(room, p.count)
        if take > 0 { current.append(contentsOf: UnsafeBufferPointer(rebasing: p[0..<take])) }
        dropped += p.count - take
    }

    private mutating func emit(_ body: (Element) throws -> Void) rethrows {
        elementCount += 1
        while let last = current.last, JSONArraySplitter.isBlank(last) { current.removeLast() }
        let e = Element(number: elementCount, bytes: current, droppedBytes: dropped)
        current.removeAll(keepingCapacity: true)
        dropped = 0
        depth = 0; inString = false; escaped = false
        try body(e)
    }
}
