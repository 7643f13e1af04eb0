import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Splits bytes into lines at LF, CRLF and CR (each one line break; a file may mix them), fed in chunks of any size:
/// a CRLF cut between two chunks is still one break, and the last line needs no break after it. Lines are numbered
/// from 1. Works on bytes, never on `String` (where "\r\n" is one Character and splitting on "\n" misses it).
///
/// Memory is bounded: a line keeps at most `maxLineBytes` bytes; the rest of a longer line is dropped and counted in
/// `Line.droppedBytes` (and `droppingBytes` says so while the line is still being read).
public struct LineSplitter: Sendable {
    /// One line, without its line break.
    public struct Line: Sendable, Equatable {
        /// 1-based.
        public var number: Int
        /// The line's bytes (at most `maxLineBytes`).
        public var bytes: [UInt8]
        /// Bytes of the line beyond `maxLineBytes`, dropped.
        public var droppedBytes: Int
    }

    /// The most bytes of one line kept.
    public let maxLineBytes: Int
    private var current: [UInt8] = []
    private var dropped = 0
    private var pendingBytes = false
    private var afterCR = false
    /// Lines handed out so far.
    public private(set) var lineCount = 0

    public init(maxLineBytes: Int = Int.max) { self.maxLineBytes = maxLineBytes }

    /// True while the line being read has already passed `maxLineBytes`.
    public var droppingBytes: Bool { dropped > 0 }

    /// The number the line being read will get.
    public var currentLineNumber: Int { lineCount + 1 }

    static let lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")

    /// Feeds the next bytes; `body` gets every line completed by them, in order.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (Line) throws -> Void) rethrows {
        guard let raw = chunk.baseAddress, chunk.count > 0 else { return }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        let n = chunk.count
        var i = 0
        if afterCR {
            afterCR = false
            if base[0] == LineSplitter.lf { i = 1 }  // the LF of a CRLF cut between two chunks
        }
        // The next LF and CR at or after i (n: none). Each byte is searched at most once per kind: O(n) per chunk.
        var nextLF = -1, nextCR = -1
        func find(_ byte: UInt8, from: Int) -> Int {
            guard from < n, let p = memchr(base + from, Int32(byte), n - from) else { return n }
            return base.distance(to: p.assumingMemoryBound(to: UInt8.self))
        }
        while i < n {
            if nextLF < i { nextLF = find(LineSplitter.lf, from: i) }
            if nextCR < i { nextCR = find(LineSplitter.cr, from: i) }
            let end = min(nextLF, nextCR)
            append(base + i, end - i)
            guard end < n else { break }
            var next = end + 1
            if base[end] == LineSplitter.cr {
                if next < n { if base[next] == LineSplitter.lf { next += 1 } } else { afterCR = true }
            }
            try emit(body)
            i = next
        }
    }

    /// Feeds `data` (see `feed(_:_:)` on a buffer).
    public mutating func feed(_ data: Data, _ body: (Line) throws -> Void) rethrows {
        try data.withUnsafeBytes { try feed($0, body) }
    }

    /// Ends the input: hands out the last line when bytes follow the last line break.
    public mutating func finish(_ body: (Line) throws -> Void) rethrows {
        afterCR = false
        if pendingBytes { try emit(body) }
    }

    /// Every line of `data` at once (for small inputs).
    public static func lines(of data: Data, maxLineBytes: Int = Int.max) -> [Line] {
        var s = LineSplitter(maxLineBytes: maxLineBytes)
        var out: [Line] = []
        s.feed(data) { out.append($0) }
        s.finish { out.append($0) }
        return out
    }

    private mutating func append(_ p: UnsafePointer<UInt8>, _ count: Int) {
        guard count > 0 else { return }
        pendingBytes = true
        let room = max(0, maxLineBytes - current.count)
        let take = min(room, count)
        if take > 0 { current.append(contentsOf: UnsafeBufferPointer(start: p, count: take)) }
        dropped += count - take
    }

    private mutating func emit(_ body: (Line) throws -> Void) rethrows {
        lineCount += 1
        let line = Line(number: lineCount, bytes: current, droppedBytes: dropped)
        current.removeAll(keepingCapacity: true)
        dropped = 0
        pendingBytes = false
        try body(line)
    }
}
