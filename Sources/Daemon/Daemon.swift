import Foundation
import Logging
import Pipeline
import Prompts
import ServiceLifecycle
import TensorCore
import Workspace

/// `dnd serve`'s service: one loop that owns every state transition, fed by inotify wakes, a ticker, worker threads
/// and graceful shutdown (SIGTERM/SIGINT). Jobs run one at a time and a retraining runs beside them, each on its own
/// thread; the loop only renames, decides and reports, in short steps, so it stays responsive (and so do the
/// watchdog pings) whatever the inbox holds.
public final class Daemon: Service, @unchecked Sendable {
    /// What the loop reacts to.
    enum Event: Sendable {
        /// inotify saw something (what: in the `WakeCoalescer`).
        case wake
        case tick
        /// More inbox files wait to be claimed: the next batch (posted behind whatever else is waiting).
        case claimMore
        case jobDone(job: String, outcome: JobOutcome)
        case retrainDone(RetrainOutcome)
        case shutdown(reason: String)
    }

    /// How one job attempt ended (computed on the job's thread).
    enum JobOutcome: Sendable {
        case succeeded(prompts: Int, warnings: [PromptFileWarning])
        case failed(FailedJob.Report)
        case cancelled
    }

    /// How one retraining ended.
    enum RetrainOutcome: Sendable {
        case trained(folder: URL, info: GeneratorInfo)
        case failed(String)
        case cancelled
    }

    let layout: RootLayout
    let worker: any JobWorker
    let logger: Logger
    let notify: SystemdNotify
    let tickSeconds: Double
    let wakes = WakeCoalescer()
    /// Sees every event the loop handles, in order, before it is handled (tests).
    var observe: (@Sendable (Event) -> Void)?
    /// Events handled and the longest one (the bench).
    let stats = LoopStats()
    private let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation

    /// No work here (service-lifecycle style): everything happens in `run()`.
    public init(layout: RootLayout, worker: any JobWorker, logger: Logger, notify: SystemdNotify = SystemdNotify(), tickSeconds: Double = 0.25) {
        self.layout = layout; self.worker = worker; self.logger = logger; self.notify = notify; self.tickSeconds = tickSeconds
        (events, continuation) = AsyncStream<Event>.makeStream()
    }

    /// Asks the daemon to stop as on SIGTERM (for embedding it without a ServiceGroup).
    public func stop() { continuation.yield(.shutdown(reason: "stop requested")) }

    /// Runs until graceful shutdown; throws (the process then exits non-zero and systemd restarts it) only for
    /// problems of the root itself: bad config, another daemon on it, a state folder that refuses renames; and
    /// `DaemonUnusable` when a piece the worker needs is missing (then no job is taken and READY is never sent).
    public func run() async throws {
        let loop = DaemonLoop(daemon: self, continuation: continuation)
        // The ticker is a thread of its own: ticks are queued on time even while the loop (or anything else on Swift's
        // cooperative pool) is busy, and the loop handles them between its other events.
        let ticker = Ticker(every: tickSeconds) { [continuation] in continuation.yield(.tick) }
        defer { ticker.stop() }
        try await withGracefulShutdownHandler {
            try await loop.run(events)
        } onGracefulShutdown: { [continuation] in
            continuation.yield(.shutdown(reason: "signal"))
        }
    }
}

/// What the loop handled: events per kind and the longest time one event kept it busy (during which a watchdog tick
/// would wait). Written by the loop, read by the bench.
final class LoopStats: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    private var longest = 0.0
    private var longestKind = ""

    func record(_ event: Daemon.Event, seconds: Double) {
        let kind: String
        switch event {
        case .wake: kind = "wake"
        case .tick: kind = "tick"
        case .claimMore: kind = "claimMore"
        case .jobDone: kind = "jobDone"
        case .retrainDone: kind = "retrainDone"
        case .shutdown: kind = "shutdown"
        }
        lock.lock(); defer { lock.unlock() }
        counts[kind, default: 0] += 1
        if seconds > longest { longest = seconds; longestKind = kind }
    }

    var snapshot: (counts: [String: Int], longest: Double, longestKind: String) {
        lock.lock(); defer { lock.unlock() }
        return (counts, longest, longestKind)
    }
}

/// A thread that calls `body` every `seconds` until stopped.
final class Ticker: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false

    init(every seconds: Double, _ body: @escaping @Sendable () -> Void) {
        let t = Thread { [self] in
            while !isStopped {
                Thread.sleep(forTimeInterval: seconds)
                if !isStopped { body() }
            }
        }
        t.name = "dnd-ticker"
        t.start()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    func stop() { lock.lock(); stopped = true; lock.unlock() }
}

/// Why the daemon did not start: pieces the worker needs are missing (each with its fix).
public struct DaemonUnusable: Error, CustomStringConvertible, Sendable {
    public var problems: [String]
    public var description: String { "cannot serve: " + problems.joined(separator: "; ") }
}

/// The loop: one task that owns every transition, holding the few parts of the daemon's state (jobs, retraining,
/// generator, status) and reacting to one event at a time. Used only from `Daemon.run`'s task.
final class DaemonLoop {
    typealias Event = Daemon.Event

    /// Where the daemon is in its life.
    enum Phase: Equatable {
        case starting, running
        /// Stopping: the running job has until `deadline` to finish.
        case stopping(deadline: Date)
    }

    /// The generator in use, and the last problem reported about the one installed from outside (said once).
    struct CurrentGenerator {
        var id: String
        var handle: GeneratorHandle
        var identity: String { handle.info.identity }
    }

    /// Inbox files claimed per loop iteration: a flood is claimed in steps, with ticks and job completions between.
    static let claimBatch = 32

    let daemon: Daemon
    let layout: RootLayout
    let worker: any JobWorker
    let logger: Logger
    let queue: JobQueue
    let store: GeneratorStore
    let continuation: AsyncStream<Event>.Continuation

    var config = DaemonConfig()
    var phase = Phase.starting
    var instanceLock: InstanceLock?
    var watcher: Watcher?
    var jobs: JobScheduler
    var retraining: RetrainSlot
    var generator: CurrentGenerator?
    var generatorProblem: String?
    var board: StatusBoard
    /// When the next rescan and prune are due, and when systemd was last pinged.
    var clock = (nextRescan: Date(), nextPrune: Date(), lastWatchdog: Date.distantPast)

    init(daemon: Daemon, continuation: AsyncStream<Event>.Continuation) {
        self.daemon = daemon
        layout = daemon.layout; worker = daemon.worker; logger = daemon.logger
        self.continuation = continuation
        queue = JobQueue(layout: layout)
        store = GeneratorStore(layout: layout)
        jobs = JobScheduler(settleSeconds: 60)
        retraining = RetrainSlot(retrainer: Retrainer(record: RetrainRecord(), debounceSeconds: 30, enabled: true))
        board = StatusBoard(root: layout.root, minInterval: daemon.tickSeconds)
    }

    var notify: SystemdNotify { daemon.notify }
    var isRunning: Bool { phase == .running }

    // MARK: - Start-up

    func startUp() throws {
        config = try DaemonConfig.load(layout).config
        try layout.prepare()
        instanceLock = try InstanceLock(layout: layout) { (try? StatusFile.read(layout: self.layout))??.pid.description }
        let problems = worker.preflight()
        if !problems.isEmpty {
            for p in problems { logger.error("cannot serve: \(p)") }
            board.status.problems = problems
            publishStatus(.unusable)
            throw DaemonUnusable(problems: problems)
        }
        jobs = JobScheduler(settleSeconds: config.settleSeconds)
        let rec = try queue.recover()
        if rec != JobQueue.Recovery() {
            logger.notice("recovered after an unclean stop: requeued \(rec.requeued), published \(rec.published), discarded partial results of \(rec.removedOutputs), removed empty claims \(rec.removedEmpty)")
        }
        // Temp files of atomic writes cut short (status.json, retrain.json) and an interrupted retraining's output.
        for name in Rename.names(layout.state) where name.hasPrefix(".") && name.contains(".tmp-") {
            try Rename.remove(layout.state.appendingPathComponent(name))
        }
        try Rename.remove(layout.retrainWork)
        try Rename.makeFolder(layout.retrainWork)
        do {
            if let id = try store.settle(validate: worker.validateGenerator) {
                generator = CurrentGenerator(id: id, handle: GeneratorHandle(folder: store.folder(id), info: try worker.validateGenerator(store.folder(id))))
            }
        } catch {
            report(error: "the generator in \(layout.generatorLink.path) is unusable: \(describe(error)); jobs wait until a retraining or `dnd train` installs one", job: nil)
        }
        retraining = RetrainSlot(retrainer: Retrainer(record: RetrainRecord.load(layout.retrainRecord), debounceSeconds: config.debounceSeconds, enabled: config.retrain))
        retraining.retrainer.adopt(generator: generator?.id, fingerprint: Zoo.fingerprint(layout.checkpoints))
        try? retraining.retrainer.record.save(layout.retrainRecord)
        store.prune(keep: Set([generator?.id].compactMap { $0 }))
        queue.pruneDone(olderThanDays: config.keepDoneDays)
        // The watches go up before the first listing of the inbox, so nothing that lands after it is missed.
        let wakes = daemon.wakes, continuation = self.continuation
        let w = Watcher(inbox: layout.inbox, checkpoints: layout.checkpoints) { wake in if wakes.add(wake) { continuation.yield(.wake) } }
        try w.start()
        watcher = w
        for job in queue.jobs(.queued) { jobs.queuedJob(job) }
        jobs.inbox.rescan(layout.inbox)
        logger.info("started on \(layout.root.path) pid=\(getpid()) generator=\(generator?.identity ?? "none") queued=\(jobs.queued.count)")
    }

    // MARK: - The loop

    func run(_ events: AsyncStream<Event>) async throws {
        defer { tearDown() }
        try startUp()
        phase = .running
        claimBatch()
        startNextJob()
        publishStatus(.running)
        notify.ready(status: systemdStatus())
        clock.lastWatchdog = Date()
        if notify.watchdogInterval != nil && config.watchdog { notify.watchdog() }
        for await event in events {
            daemon.observe?(event)
            let began = DispatchTime.now().uptimeNanoseconds
            defer { daemon.stats.record(event, seconds: Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9) }
            switch event {
            case .wake: takeWakes()
            case .claimMore:
                jobs.claimMorePosted = false
                claimBatch()
                startNextJob()
            case .tick: try tick()
            case .jobDone(let job, let outcome): try finish(job: job, outcome: outcome)
            case .retrainDone(let outcome): finishRetrain(outcome)
            case .shutdown(let reason): beginShutdown(reason: reason)
            }
            if case .stopping = phase, jobs.running == nil { break }
            if isRunning && board.isDue(now: Date()) { publishStatus(.running) }
        }
        if let r = jobs.running {
            // The stream ended without a result (cannot happen while `run` owns the stream); keep the job safe.
            try queue.perform(.requeue, job: r.job)
        }
    }

    /// What inotify reported since the last wake, coalesced.
    func takeWakes() {
        let batch = daemon.wakes.drain()
        for name in batch.names { jobs.inbox.markReady(name) }
        if batch.checkpoints { retraining.retrainer.noteChange() }
        if batch.overflow {
            logger.warning("inotify queue overflowed; rescanning inbox/ and checkpoints/")
            clock.nextRescan = Date()
        }
        claimBatch()
        startNextJob()
    }

    func tick() throws {
        let now = Date()
        // Ping no later than the interval systemd asked for, from this loop: a stuck loop stops the pings.
        if let every = notify.watchdogInterval, config.watchdog, now.timeIntervalSince(clock.lastWatchdog) >= max(0, every - daemon.tickSeconds * 1.5) {
            notify.watchdog(); clock.lastWatchdog = now
        }
        if case .stopping(let deadline) = phase {
            if now >= deadline, let r = jobs.running {
                r.control.cancel()
                try queue.perform(.requeue, job: r.job)
                logger.notice("stop: job \(r.job) did not finish within stop_grace_seconds=\(DaemonConfig.format(config.stopGraceSeconds)); re-queued, it runs again at the next start")
                jobs.running = nil
            }
            return
        }
        let rescan = now >= clock.nextRescan
        if rescan {
            clock.nextRescan = now.addingTimeInterval(config.rescanSeconds)
            refreshGenerator()
            jobs.reconcile(queuedListing: queue.jobs(.queued, except: jobs.queued.contains))
            jobs.inbox.rescan(layout.inbox, now: now)
            claimBatch()
            startNextJob()
        }
        if now >= clock.nextPrune {
            clock.nextPrune = now.addingTimeInterval(3600)
            let n = queue.pruneDone(olderThanDays: config.keepDoneDays, now: now)
            if n > 0 { logger.info("pruned \(n) finished jobs older than keep_done_days=\(DaemonConfig.format(config.keepDoneDays))") }
        }
        let before = retraining.retrainer.phase
        if let fp = retraining.retrainer.tick(now: now, rescan: rescan, fingerprint: { Zoo.fingerprint(layout.checkpoints) }) {
            startRetrain(fingerprint: fp, now: now)
        } else if retraining.retrainer.phase != before {
            if case .waiting = retraining.retrainer.phase, !isWaiting(before) {
                logger.info("checkpoints changed; retraining in \(DaemonConfig.format(config.debounceSeconds)) s unless they change again")
            }
            board.changed()
        }
    }

    func isWaiting(_ p: Retrainer.Phase) -> Bool { if case .waiting = p { true } else { false } }

    // MARK: - Inbox and jobs

    /// Claims up to `claimBatch` ready inbox entries while the queue has room, makes them durable together, and posts
    /// a `.claimMore` for the rest: the loop goes back to its events (ticks, finished jobs) between batches.
    func claimBatch() {
        guard isRunning else { return }
        var claimed = 0
        while claimed < DaemonLoop.claimBatch, jobs.queued.count < config.maxQueue, let name = jobs.inbox.next() {
            jobs.inbox.forget(name)
            do {
                let job = try queue.claim(name, sync: false)
                jobs.queuedJob(job)
                claimed += 1
                logger.info("claimed \(name) as job \(job)")
            } catch {
                if Rename.exists(layout.inbox.appendingPathComponent(name)) {
                    report(error: "cannot claim \(name): \(describe(error))", job: nil)
                }
            }
        }
        if claimed > 0 {
            queue.syncClaims()
            board.changed()
        }
        guard jobs.inbox.hasWaiting else { jobs.saidQueueFull = false; return }
        if jobs.queued.count >= config.maxQueue {
            // The rest waits in inbox/ (and in memory); finished jobs make room.
            if !jobs.saidQueueFull { logger.warning("queue full (max_queue=\(config.maxQueue)); further files wait in inbox/") }
            jobs.saidQueueFull = true
        } else if !jobs.claimMorePosted {
            jobs.claimMorePosted = true
            continuation.yield(.claimMore)
        }
    }

    /// Starts the oldest queued job when none runs and a generator exists.
    func startNextJob() {
        guard jobs.running == nil, isRunning, !jobs.queued.isEmpty else { return }
        guard let gen = generator else {
            if !jobs.saidNoGenerator {
                logger.warning("no generator yet: \(jobs.queued.count) job(s) wait; add checkpoints to \(layout.checkpoints.path) or run `dnd train`")
            }
            jobs.saidNoGenerator = true
            return
        }
        jobs.saidNoGenerator = false
        guard let job = jobs.takeNext() else { return }
        do { try queue.perform(.start, job: job) } catch {
            // Still in queued/ (a rescan puts it back in the order), or gone.
            report(error: "cannot start job \(job): \(describe(error))", job: job)
            return
        }
        guard let input = queue.input(job, .running) else {
            // Nothing (or several things) in the job folder: not a job dnd made. Set it aside for inspection.
            let report = FailedJob.Report(job: job, file: job, kind: .processing, what: "the job folder did not hold exactly one dropped file",
                                          where: nil, line: nil, fix: "drop the file into inbox/ again", failedAt: Date())
            try? FailedJob.write(report, into: queue.jobFolder(job, .running))
            try? queue.perform(.fail, job: job)
            self.report(error: report.summary, job: job)
            startNextJob()
            return
        }
        let fileName = JobQueue.originalName(input.lastPathComponent)
        let options = JobOptions.make(tag: JobName.parse(fileName: fileName).evaluation, config: config, baseModel: config.baseModelFolder(layout))
        let control = WorkControl()
        jobs.running = .init(job: job, file: fileName, started: Date(), generatorID: gen.id, identity: gen.identity, control: control)
        board.changed()
        logger.info("started job \(job) (\(fileName)) with generator \(gen.identity)")
        let worker = self.worker, queue = self.queue, handle = gen.handle, continuation = self.continuation
        WorkerThread.start(name: "dnd-job") {
            let outcome = DaemonLoop.execute(job: job, fileName: fileName, input: input, options: options, generator: handle,
                                             worker: worker, queue: queue, control: control)
            continuation.yield(.jobDone(job: job, outcome: outcome))
        }
    }

    /// One job attempt, on its own thread: reads the file, runs the worker, verifies and fsyncs the results.
    static func execute(job: String, fileName: String, input: URL, options: JobOptions, generator: GeneratorHandle,
                        worker: any JobWorker, queue: JobQueue, control: WorkControl) -> Daemon.JobOutcome {
        do {
            let contents = try PromptFile.load(input, name: fileName, limits: options.limits)
            let out = try queue.prepareOutput(job)
            try worker.process(Job(name: job, fileName: fileName, input: input, records: contents.records, warnings: contents.warnings, options: options),
                               generator: generator, output: out, control: control)
            if control.isCancelled { return .cancelled }
            try JobResults.verify(out)
            Rename.syncTree(out)
            return .succeeded(prompts: contents.records.count, warnings: contents.warnings)
        } catch is CancellationError {
            return .cancelled
        } catch {
            if control.isCancelled { return .cancelled }
            return .failed(FailedJob.report(for: error, job: job, fileName: fileName, input: input))
        }
    }

    /// Applies a job's outcome: complete + publish, fail, or re-queue. Renames that fail here are failures of the
    /// state folder itself: they end the daemon (systemd restarts it and recovery resumes).
    func finish(job: String, outcome: Daemon.JobOutcome) throws {
        guard let r = jobs.running, r.job == job else { return }  // already re-queued at a stop deadline
        let seconds = String(format: "%.2f", Date().timeIntervalSince(r.started))
        switch outcome {
        case .succeeded(let prompts, let warnings):
            try queue.perform(.complete, job: job)  // the commit point
            try queue.perform(.publish, job: job)
            board.status.delivered += 1
            for w in warnings { logger.warning("job \(job): \(r.file) \(w)") }
            logger.info("delivered job \(job) to outbox/\(job) (\(prompts) prompts, generator \(r.identity), \(seconds) s)")
        case .failed(let report):
            try Rename.remove(queue.output(job))
            try FailedJob.write(report, into: queue.jobFolder(job, .running))
            try queue.perform(.fail, job: job)
            board.status.failed += 1
            self.report(error: report.summary, job: job, warning: report.kind == .input)
            logger.info("job \(job) moved to failed/\(job) with error.json")
        case .cancelled:
            try Rename.remove(queue.output(job))
            try queue.perform(.requeue, job: job)
            logger.notice("job \(job) interrupted by the stop; re-queued")
        }
        jobs.running = nil
        board.changed()
        pruneGenerators()
        claimBatch()
        startNextJob()
    }

    // MARK: - Generator and retraining

    /// Picks up a generator installed by someone else (`dnd train`) since the last look.
    func refreshGenerator() {
        let kind = Rename.kind(layout.generatorLink)
        if kind == .symlink, let id = store.linkedID(), id == generator?.id { return }
        if kind == .missing && generator == nil { return }
        do {
            guard let id = try store.settle(validate: worker.validateGenerator), id != generator?.id else { return }
            let info = try worker.validateGenerator(store.folder(id))
            generator = CurrentGenerator(id: id, handle: GeneratorHandle(folder: store.folder(id), info: info))
            retraining.retrainer.adopt(generator: id, fingerprint: Zoo.fingerprint(layout.checkpoints))
            try? retraining.retrainer.record.save(layout.retrainRecord)
            logger.notice("generator \(info.identity) installed from outside the daemon is now in use")
            board.changed()
            startNextJob()
        } catch {
            // Reported once per distinct problem: this runs at every rescan.
            let message = "the generator in \(layout.generatorLink.path) is unusable: \(describe(error))"
            if message != generatorProblem { report(error: message, job: nil) }
            generatorProblem = message
        }
    }

    func startRetrain(fingerprint: String, now: Date) {
        retraining.runs += 1
        let work = layout.retrainWork.appendingPathComponent("run-\(retraining.runs)")
        let output = work.appendingPathComponent("generator")
        do {
            try Rename.remove(work)
            try Rename.makeFolder(output)
        } catch {
            report(error: "cannot prepare a retraining: \(describe(error))", job: nil)
            return
        }
        retraining.retrainer.started(fingerprint: fingerprint, now: now)
        try? retraining.retrainer.record.save(layout.retrainRecord)
        board.changed()
        let control = WorkControl()
        retraining.control = control
        let current = generator?.handle
        logger.info("retraining started on checkpoints/ (fingerprint \(fingerprint)); jobs continue with generator \(current?.info.identity ?? "none")")
        let worker = self.worker, checkpoints = layout.checkpoints, continuation = self.continuation
        WorkerThread.start(name: "dnd-retrain") {
            let outcome: Daemon.RetrainOutcome
            do {
                try worker.retrain(checkpoints: checkpoints, output: output, current: current, control: control)
                if control.isCancelled { throw CancellationError() }
                outcome = .trained(folder: output, info: try worker.validateGenerator(output))
            } catch is CancellationError {
                outcome = .cancelled
            } catch {
                outcome = control.isCancelled ? .cancelled : .failed((error as? DNDError)?.message ?? String(describing: error))
            }
            continuation.yield(.retrainDone(outcome))
        }
    }

    func finishRetrain(_ outcome: Daemon.RetrainOutcome) {
        retraining.control = nil
        let now = Date()
        switch outcome {
        case .trained(let folder, let info):
            do {
                let old = generator?.identity ?? "none"
                let handle = try store.install(folder, info: info)
                let id = handle.folder.lastPathComponent
                generator = CurrentGenerator(id: id, handle: handle)
                retraining.retrainer.finished(now: now, installed: (id, info.identity), error: nil)
                logger.notice("retraining finished: generator \(info.identity) replaces \(old) (trained on \(info.datasets.joined(separator: ", ")))")
            } catch {
                retraining.retrainer.finished(now: now, installed: nil, error: describe(error))
                report(error: "retraining produced a generator that could not be installed: \(describe(error)); keeping \(generator?.identity ?? "none")", job: nil)
            }
        case .failed(let message):
            retraining.retrainer.finished(now: now, installed: nil, error: message)
            report(error: "retraining failed: \(message); keeping generator \(generator?.identity ?? "none")", job: nil)
        case .cancelled:
            retraining.retrainer.abandoned()
            logger.notice("retraining abandoned for the stop; it starts again after the next start")
        }
        try? Rename.remove(layout.retrainWork)
        try? Rename.makeFolder(layout.retrainWork)
        try? retraining.retrainer.record.save(layout.retrainRecord)
        board.changed()
        pruneGenerators()
        startNextJob()
    }

    /// Removes generator folders neither in use nor held by the running job.
    func pruneGenerators() {
        var keep = Set<String>()
        if let g = generator { keep.insert(g.id) }
        if let r = jobs.running { keep.insert(r.generatorID) }
        for id in store.prune(keep: keep) { logger.info("removed old generator folder \(id)") }
    }

    // MARK: - Stop

    func beginShutdown(reason: String) {
        guard isRunning else { return }
        phase = .stopping(deadline: Date().addingTimeInterval(config.stopGraceSeconds))
        if let c = retraining.control { c.cancel(); retraining.retrainer.abandoned() }
        let what = jobs.running.map { "finishing job \($0.job) (up to \(DaemonConfig.format(config.stopGraceSeconds)) s)" } ?? "nothing running"
        logger.notice("stopping (\(reason)): \(what)")
        notify.stopping(status: "stopping: \(what)")
        publishStatus(.stopping)
        if config.stopGraceSeconds == 0 { try? tick() }
    }

    func tearDown() {
        watcher?.stop()
        guard phase != .starting else { return }  // never started: nothing to report (an unusable start wrote its status)
        publishStatus(.stopped)
        logger.notice("stopped")
    }

    // MARK: - Status and errors

    func report(error message: String, job: String?, warning: Bool = false) {
        if warning { logger.warning("\(message)") } else { logger.error("\(message)") }
        board.recordError(message, job: job)
    }

    func describe(_ error: Error) -> String { (error as? DNDError)?.message ?? String(describing: error) }

    /// Fills in the status from the parts and writes it, as `state`.
    func publishStatus(_ state: DaemonStatus.State) {
        var s = board.status
        s.state = state
        s.queue = StatusFile.liveCounts(layout: layout)
        s.runningJob = jobs.running.map { .init(job: $0.job, file: $0.file, startedAt: $0.started, generator: $0.identity) }
        s.generator = generator.map { .init(identity: $0.identity, id: $0.id, datasets: $0.handle.info.datasets, trainedAt: $0.handle.info.trainedAt) }
        let rec = retraining.retrainer.record
        let (rs, since) = retraining.state(enabled: config.retrain)
        s.retraining = .init(state: rs, since: since, completed: rec.completed, succeeded: rec.succeeded,
                             lastOK: rec.last?.ok, lastError: rec.last?.error, lastFinishedAt: rec.last?.finishedAt)
        board.status = s
        board.publish(layout: layout, notify: notify, logger: logger, systemdLine: systemdStatus())
    }

    /// The one-line STATUS= for systemctl status.
    func systemdStatus() -> String {
        let s = board.status
        let q = s.queue["queued"] ?? jobs.queued.count
        let job = jobs.running.map { "running \($0.job)" } ?? "idle"
        let gen = generator?.identity ?? "no generator"
        var retrain = ""
        if case .running = retraining.retrainer.phase { retrain = ", retraining" }
        return "\(job), \(q) queued, \(s.delivered) delivered, \(s.failed) failed, generator \(gen)\(retrain)"
    }
}
