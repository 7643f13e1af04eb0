import Foundation
import Logging
import LoRA
import Prompts
import TensorCore
import Workspace
#if canImport(Glibc)
import Glibc
#endif

/// `dnd bench daemon`: the daemon in this process on a fresh root, `files` prompt files moved into inbox/ at once (a
/// flood), measured end to end: time to the first adapter in outbox/, time until all are delivered (files/s), and the
/// longest gap between two watchdog pings, received on a notify socket exactly as systemd would receive them.
public enum FloodBench {
    /// What to measure.
    public struct Options: Sendable {
        /// Files moved into inbox/ at once.
        public var files: Int = 1000
        /// Prompts per file.
        public var promptsPerFile: Int = 2
        /// `max_queue` of the daemon's config.
        public var maxQueue: Int = 1000
        /// Where the temporary root goes (it must be on a real disk for fsync costs to count); nil: the system temp folder.
        public var workFolder: URL?
        /// The worker; nil: `NullWorker` (the daemon's own cost).
        public var worker: (any JobWorker)?
        /// A generator folder to install into the root (for a real worker); nil: the null worker's generator.
        public var generator: URL?
        /// The watchdog interval asked for (half of WATCHDOG_USEC), in seconds.
        public var watchdogSeconds: Double = 0.25
        public init() {}
    }

    /// The figures.
    public struct Result: Sendable {
        public var files: Int
        /// From the first rename into inbox/ to the last one.
        public var moveSeconds: Double
        /// From the first rename to the first adapter in outbox/.
        public var firstAdapterSeconds: Double
        /// From the first rename until every file is delivered.
        public var allDeliveredSeconds: Double
        /// files / allDeliveredSeconds.
        public var filesPerSecond: Double { Double(files) / max(allDeliveredSeconds, 1e-9) }
        /// Watchdog pings received during the flood, and the longest gap between two of them.
        public var watchdogPings: Int
        public var longestWatchdogGap: Double
        /// The ping interval the daemon was asked for.
        public var watchdogInterval: Double
        /// The longest time the loop spent on one event (what a tick may wait behind, machine load aside), and which.
        public var longestLoopStep: Double
        public var longestLoopStepEvent: String
        /// Events the loop handled, per kind; inotify events seen (coalesced into the `wake` events).
        public var loopEvents: [String: Int]
        public var inotifyEvents: Int
    }

    /// Runs the flood; throws when the daemon fails or does not deliver everything within `timeout` seconds.
    public static func run(_ options: Options, timeout: Double = 600) async throws -> Result {
        let work = (options.workFolder ?? FileManager.default.temporaryDirectory)
            .appendingPathComponent("dnd-bench-daemon-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try Rename.makeFolder(work)
        defer { try? Rename.remove(work) }
        let layout = RootLayout(root: work.appendingPathComponent("root"))
        try layout.prepare()
        try Data("max_queue = \(options.maxQueue)\n".utf8).write(to: layout.configFile)
        let worker = options.worker ?? NullWorker()
        if let generator = options.generator {
            try FileManager.default.copyItem(at: generator.resolvingSymlinksInPath(), to: layout.generatorLink)
        } else {
            try NullWorker.writeGenerator(into: layout.generatorLink)
        }

        // The files, written beside the root on the same file system, then renamed in as fast as possible.
        let staging = work.appendingPathComponent("staging")
        try Rename.makeFolder(staging)
        let names = (0..<options.files).map { String(format: "flood-%05d.jsonl", $0) }
        for (i, name) in names.enumerated() {
            let lines = (0..<options.promptsPerFile).map { "{\"prompt\": \"Flood file \(i), question \($0): what is \(i) plus \($0)?\"}" }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: staging.appendingPathComponent(name))
        }

        let socket = try NotifyListener(path: work.appendingPathComponent("notify").path)
        defer { socket.close() }
        let env = ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": String(Int(options.watchdogSeconds * 2_000_000))]
        let logFile = work.appendingPathComponent("daemon.log")
        let logger = Logger(label: "dnd") { _ in FileLogHandler(url: logFile) }
        let daemon = Daemon(layout: layout, worker: worker, logger: logger, notify: SystemdNotify(environment: env))
        let serving = Task { try await daemon.run() }

        // Ready: the status file says running (the watches are in place).
        let startDeadline = Date().addingTimeInterval(60)
        while !socket.received.contains(where: { $0.text.hasPrefix("READY=1") }) {
            guard Date() < startDeadline else { daemon.stop(); throw DNDError("bench daemon: the daemon did not start within 60 s; log: \(logFile.path)") }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        let t0 = Date()
        for name in names {
            guard rename(staging.appendingPathComponent(name).path, layout.inbox.appendingPathComponent(name).path) == 0 else {
                daemon.stop(); throw DNDError("bench daemon: cannot move \(name) into \(layout.inbox.path) (\(String(cString: strerror(errno))))")
            }
        }
        let moved = Date().timeIntervalSince(t0)
        var first: Double?
        var all: Double?
        let deadline = t0.addingTimeInterval(timeout)
        while all == nil {
            let n = count(layout.outbox)
            let now = Date()
            if first == nil && n > 0 { first = now.timeIntervalSince(t0) }
            if n >= options.files { all = now.timeIntervalSince(t0) }
            guard now < deadline else { break }
            try await Task.sleep(nanoseconds: first == nil ? 2_000_000 : 20_000_000)
        }
        let end = Date()
        daemon.stop()
        _ = try? await serving.value
        guard let first, let all else {
            throw DNDError("bench daemon: \(count(layout.outbox)) of \(options.files) files delivered within \(Int(timeout)) s; failed: \(count(layout.failed)); log: \(logFile.path)")
        }
        let pings = socket.received.filter { $0.text == "WATCHDOG=1" && $0.time >= t0 && $0.time <= end }.map(\.time)
        var gap = 0.0
        var last = t0
        for p in pings { gap = max(gap, p.timeIntervalSince(last)); last = p }
        gap = max(gap, end.timeIntervalSince(last))
        let stats = daemon.stats.snapshot
        return Result(files: options.files, moveSeconds: moved, firstAdapterSeconds: first, allDeliveredSeconds: all,
                      watchdogPings: pings.count, longestWatchdogGap: gap, watchdogInterval: options.watchdogSeconds,
                      longestLoopStep: stats.longest, longestLoopStepEvent: stats.longestKind, loopEvents: stats.counts,
                      inotifyEvents: daemon.wakes.counts.added)
    }

    /// Entries in a folder, without sorting or stat (cheap enough to poll).
    static func count(_ dir: URL) -> Int {
        guard let d = opendir(dir.path) else { return 0 }
        defer { closedir(d) }
        var n = 0
        while let e = readdir(d) {
            let first = e.pointee.d_name.0
            if first != UInt8(ascii: ".") { n += 1 }
        }
        return n
    }

    /// A worker that writes the same tiny adapter for every job: what is left is the daemon's own cost.
    public struct NullWorker: JobWorker {
        public init() {}
        public static let identity = "null-generator"

        public func process(_ job: Job, generator: GeneratorHandle, output: URL, control: WorkControl) throws {
            let a = Tensor(shape: [1, 4], data: [0.1, 0.2, 0.3, 0.4]), b = Tensor(shape: [4, 1], data: [0.01, 0.02, 0.03, 0.04])
            try LoRAAdapter(config: LoRAConfig(r: 1, loraAlpha: 2, targetModules: [.q_proj], baseModel: "null/base"),
                            weights: [LoRASite(layer: 0, module: .q_proj): (a, b)]).write(to: output)
            try Data("{\"job\": \"\(job.name)\", \"prompts\": \(job.records.count)}\n".utf8).write(to: output.appendingPathComponent("report.json"))
            try Data("<!doctype html><p>\(job.records.count) prompts</p>\n".utf8).write(to: output.appendingPathComponent("report.html"))
        }

        public func retrain(checkpoints: URL, output: URL, current: GeneratorHandle?, control: WorkControl) throws {
            throw DNDError("the null worker does not train")
        }

        public func validateGenerator(_ folder: URL) throws -> GeneratorInfo {
            guard Rename.kind(folder.appendingPathComponent("null-generator")) == .regular else {
                throw DNDError("\(folder.path): not a null generator")
            }
            return GeneratorInfo(identity: NullWorker.identity, datasets: [], trainedAt: nil)
        }

        static func writeGenerator(into folder: URL) throws {
            try Rename.makeFolder(folder)
            try Data().write(to: folder.appendingPathComponent("null-generator"))
        }
    }
}

/// A unix datagram socket that records what is sent to it, with arrival times (a stand-in for systemd's notify socket).
final class NotifyListener: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var messages: [(time: Date, text: String)] = []
    private var stopped = false

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard fd >= 0, bytes.count < MemoryLayout.size(ofValue: sa.sun_path) else { throw DNDError("\(path): cannot make a notify socket") }
        withUnsafeMutableBytes(of: &sa.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else { throw DNDError("\(path): cannot bind the notify socket (\(String(cString: strerror(errno))))") }
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let t = Thread { [self] in loop() }
        t.name = "dnd-bench-notify"
        t.start()
    }

    private func loop() {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            lock.lock(); let stop = stopped; lock.unlock()
            if stop { break }
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { continue }
            let text = String(decoding: buf[0..<n], as: UTF8.self)
            lock.lock(); messages.append((Date(), text)); lock.unlock()
        }
        Glibc.close(fd)
        unlink(path)
    }

    var received: [(time: Date, text: String)] { lock.lock(); defer { lock.unlock() }; return messages }

    func close() { lock.lock(); stopped = true; lock.unlock() }
}

/// Log lines to a file (the bench keeps the daemon's log out of its output).
struct FileLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    let handle: FileHandle?

    init(url: URL) {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        handle = FileHandle(forWritingAtPath: url.path)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        handle?.write(Data("\(Date().timeIntervalSince1970) \(event.level) \(event.message)\n".utf8))
    }
}

/// The memory a prompt file costs the reader, measured as the rise of this process's peak resident set (VmHWM, reset
/// through /proc/self/clear_refs) while `PromptFile.load` reads it.
public enum ReaderMemoryBench {
    /// One file's figure.
    public struct Figure: Sendable {
        public var label: String
        public var bytes: Int
        /// The peak rise, in bytes (nil where /proc cannot tell).
        public var peakRise: Int?
        /// Records read, or the error's text.
        public var outcome: String
    }

    /// Writes and reads three files of `limits.maxFileBytes` bytes under `folder`: one line (refused at
    /// max_record_bytes), max_prompts long prompts (accepted, cut to max_prompt_chars), and short lines past max_prompts.
    public static func run(folder: URL, limits: PromptLimits = PromptLimits()) throws -> [Figure] {
        try Rename.makeFolder(folder)
        let size = limits.maxFileBytes
        var out: [Figure] = []
        func measure(_ label: String, _ name: String, write: (FileHandle) throws -> Void) throws {
            let url = folder.appendingPathComponent(name)
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            let h = try FileHandle(forWritingTo: url)
            try write(h)
            try h.close()
            let bytes = Int(Rename.signature(url)?.size ?? 0)
            let before = resetPeak()
            let outcome: String
            do { outcome = "\(try PromptFile.load(url, limits: limits).records.count) records" } catch let e as PromptFileError {
                outcome = "refused: \(e.location.map { "\($0): " } ?? "")\(e.what)"
            }
            let after = peak()
            out.append(Figure(label: label, bytes: bytes, peakRise: before.flatMap { b in after.map { max(0, $0 - b) } }, outcome: outcome))
            try? FileManager.default.removeItem(at: url)
        }
        let chunk = Data(repeating: UInt8(ascii: "a"), count: 1 << 20)
        try measure("one line of \(size >> 20) MiB", "one-line.jsonl") { h in
            h.write(Data("{\"prompt\": \"".utf8))
            for _ in 0..<(size >> 20) - 1 { h.write(chunk) }
            h.write(Data("\"}\n".utf8))
        }
        let per = size / limits.maxPrompts
        try measure("\(limits.maxPrompts) prompts of \(per) bytes", "many.jsonl") { h in
            let line = Data(("{\"prompt\": \"" + String(repeating: "word ", count: max(1, (per - 16) / 5)) + "\"}\n").utf8)
            var batch = Data()
            for i in 0..<limits.maxPrompts {
                batch.append(line)
                if i % 1000 == 999 { h.write(batch); batch = Data() }
            }
            h.write(batch)
        }
        try measure("short lines past max_prompts", "short.jsonl") { h in
            let line = Data("{\"prompt\": \"p\"}\n".utf8)
            var batch = Data()
            for _ in 0..<(size - (size % line.count)) / line.count / 4 {
                batch.append(line)
                if batch.count > 1 << 20 { h.write(batch); batch = Data() }
            }
            h.write(batch)
        }
        return out
    }

    /// Resets VmHWM to the current resident set; returns that, or nil without /proc.
    static func resetPeak() -> Int? {
        guard let fd = Optional(open("/proc/self/clear_refs", O_WRONLY)), fd >= 0 else { return nil }
        _ = "5".withCString { write(fd, $0, 1) }
        close(fd)
        return status("VmHWM:")
    }

    static func peak() -> Int? { status("VmHWM:") }

    static func status(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
              let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb * 1024
    }
}
