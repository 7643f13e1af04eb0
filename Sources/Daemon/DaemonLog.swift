import Foundation
import Logging

/// One line per event on stderr, journald-friendly: under systemd (`$JOURNAL_STREAM` set) each line starts with its
/// syslog priority (`<6>`), which journald strips and records; elsewhere with a UTC timestamp and the level.
public struct DaemonLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let journald: Bool
    private let label: String
    private static let lock = NSLock()

    public init(label: String, level: Logger.Level = .info, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.label = label
        self.logLevel = level
        self.journald = environment["JOURNAL_STREAM"].map { !$0.isEmpty } ?? false
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.keys.sorted().map { "\($0)=\(DaemonLogHandler.quote("\(merged[$0]!)"))" }.joined(separator: " ")
        // Newlines would split one event over several journal entries; other control characters (from file names,
        // say) would reach the terminal of whoever reads the journal.
        let text = DaemonLogHandler.printable("\(event.message)".replacingOccurrences(of: "\n", with: " "))
        let body = fields.isEmpty ? text : "\(text) \(fields)"
        let line: String
        if journald {
            line = "<\(DaemonLogHandler.priority(level))>\(body)\n"
        } else {
            line = "\(DaemonLogHandler.timestamp()) \(level.rawValue.uppercased()) \(body)\n"
        }
        DaemonLogHandler.lock.lock()
        FileHandle.standardError.write(Data(line.utf8))
        DaemonLogHandler.lock.unlock()
    }

    /// `s` with every control character (C0 but tab, DEL, C1) written as `\xHH` or `\u{HHHH}`: an ESC from a file name
    /// cannot move the cursor or recolor a terminal.
    public static func printable(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isControl) else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if isControl(u) {
                let hex = String(u.value, radix: 16)
                out.append(contentsOf: (u.value < 0x100 ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{\(hex)}").unicodeScalars)
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    static func isControl(_ u: Unicode.Scalar) -> Bool {
        (u.value < 0x20 && u != "\t") || (u.value >= 0x7F && u.value < 0xA0) || u.value == 0x2028 || u.value == 0x2029
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func quote(_ s: String) -> String {
        s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\\\"") + "\"" : s
    }

    static func timestamp() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date())
    }
}
