import Foundation
import Logging
import Pipeline
import Prompts
import ServiceLifecycle
import TensorCore
import Workspace

/// `dnd serve`'s service: one loop that owns every state transition, fed by inotify wakes, a ticker, worker threads
/// and graceful shutdown (SIGTERM/SIGINT). Jobs run one at a time and a retraining runs beside them, each on its own
/// thread; the loop only renames, decides and reports, so it stays responsive (and so do the watchdog pings).
public final class Daemon: Service, @unchecked Sendable {
    /// What the loop reacts to.
    enum Event: Sendable {
        case wake(Watcher.Wake)
        case tick
        case jobDone(job: String, outcome: JobOutcome)
        case retrainDone(RetrainOutcome)
        case shutdown(reason: String)
    }

    /// How one job attempt ended (computed on the job's thread).
    enum JobOutcome: Sendable {
        case succeeded(prompts: Int)
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
    /// problems of the root itself: bad config, another daemon on it, a state folder that refuses renames.
    public func run() async throws {
        let loop = try DaemonLoop(daemon: self, continuation: continuation)
        let ticker = Task { [continuation, tickSeconds] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(tickSeconds * 1e9))
                continuation.yield(.tick)
            }
        }
        defer { ticker.cancel() }
        try await withGracefulShutdownHandler {
            try await loop.run(events)
        } onGracefulShutdown: { [continuation] in
            continuation.yield(.shutdown(reason: "signal"))
        }
    }
}

/// The loop's state; used only from `Daemon.run`'s task.
final class DaemonLoop {
    typealias Event = Daemon.Event
    let layout: RootLayout
    let worker: any JobWorker
    let logger: Logger
    let notify: SystemdNotify
    let tickSeconds: Double
    let continuation: AsyncStream<Event>.Continuation
    let queue: JobQueue
    let store: GeneratorStore
    var config = DaemonConfig()
    var instanceLock: InstanceLock?
    var watcher: Watcher?
    var readiness = InboxReadiness(settleSeconds: 60)
    var retrainer = Retrainer(record: RetrainRecord(), debounceSeconds: 30, enabled: true)
    var generator: (id: String, handle: GeneratorHandle)?
    var running: (job: String, file: String, started: Date, generatorID: String, identity: String, control: WorkControl)?
    var retrainControl: WorkControl?
    var retrainRuns = 0
    var shuttingDown = false
    var stopDeadline: Date?
    var status: DaemonStatus
    var statusDirty = true
    var lastSystemdStatus = ""
    var nextRescan = Date()
    var nextPrune = Date()
    var lastWatchdog = Date.distantPast
    var saidQueueFull = false
    var saidNoGenerator = false
    var lastGeneratorError: String?

    init(daemon: Daemon, continuation: AsyncStream<Event>.Continuation) throws {
        layout = daemon.layout; worker = daemon.worker; logger = daemon.logger; notify = daemon.notify; tickSeconds = daemon.tickSeconds
        self.continuation = continuation
        queue = JobQueue(layout: layout)
        store = GeneratorStore(layout: layout)
        let now = Date()
        status = DaemonStatus(state: "starting", pid: getpid(), root: layout.root.path, startedAt: now, updatedAt: now, queue: [:],
                              runningJob: nil, generator: nil,
                              retraining: .init(state: "idle", since: nil, completed: 0, succeeded: 0, lastOK: nil, lastError: nil, lastFinishedAt: nil),
                              delivered: 0, failed: 0, lastErrors: [])
    }


    // MARK: - Start-up

    func startUp() throws {
        config = try DaemonConfig.load(layout).config
        try layout.prepare()
        try lock()
        readiness = InboxReadiness(settleSeconds: config.settleSeconds)
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
                generator = (id, GeneratorHandle(folder: store.folder(id), info: try worker.validateGenerator(store.folder(id))))
            }
        } catch {
            report(error: "the generator in \(layout.generatorLink.path) is unusable: \(describe(error)); jobs wait until a retraining or `dnd train` installs one", job: nil)
        }
        retrainer = Retrainer(record: RetrainRecord.load(layout.retrainRecord), debounceSeconds: config.debounceSeconds, enabled: config.retrain)
        retrainer.adopt(generator: generator?.id, fingerprint: Zoo.fingerprint(layout.checkpoints))
        try? retrainer.record.save(layout.retrainRecord)
        store.prune(keep: Set([generator?.id].compactMap { $0 }))
        queue.pruneDone(olderThanDays: config.keepDoneDays)
        let w = Watcher(inbox: layout.inbox, checkpoints: layout.checkpoints) { [continuation] wake in continuation.yield(.wake(wake)) }
        try w.start()
        watcher = w
        let g = generator.map { "\($0.handle.info.identity)" } ?? "none"
        logger.info("started on \(layout.root.path) pid=\(getpid()) generator=\(g) queued=\(queue.jobs(.queued).count)")
    }

    /// One daemon per root (see `InstanceLock`).
    func lock() throws {
        instanceLock = try InstanceLock(layout: layout) { (try? StatusFile.read(layout: self.layout))??.pid.description }
    }

    // MARK: - The loop

    func run(_ events: AsyncStream<Event>) async throws {
        try startUp()
        defer { tearDown() }
        scanInbox()
        startNextJob()
        writeStatus(state: "running")
        notify.ready(status: systemdStatus())
        lastWatchdog = Date()
        if notify.watchdogInterval != nil && config.watchdog { notify.watchdog() }
        for await event in events {
            switch event {
            case .wake(.inbox(let name)):
                readiness.markReady(name)
                scanInbox()
                startNextJob()
            case .wake(.checkpoints): retrainer.noteChange()
            case .wake(.overflow):
                logger.warning("inotify queue overflowed; rescanning inbox/ and checkpoints/")
                nextRescan = Date()
            case .tick: try tick()
            case .jobDone(let job, let outcome): try finish(job: job, outcome: outcome)
            case .retrainDone(let outcome): finishRetrain(outcome)
            case .shutdown(let reason): beginShutdown(reason: reason)
            }
            if shuttingDown && running == nil { break }
            if statusDirty && !shuttingDown { writeStatus(state: "running") }
        }
        if let r = running {
            // The stream ended without a result (cannot happen while `run` owns the stream); keep the job safe.
            try queue.perform(.requeue, job: r.job)
        }
    }

    func tick() throws {
        let now = Date()
        // Ping no later than the interval systemd asked for, from this loop: a stuck loop stops the pings.
        if let every = notify.watchdogInterval, config.watchdog, now.timeIntervalSince(lastWatchdog) >= max(0, every - tickSeconds * 1.5) {
            notify.watchdog(); lastWatchdog = now
        }
        if shuttingDown {
            if let deadline = stopDeadline, now >= deadline, let r = running {
                r.control.cancel()
                try queue.perform(.requeue, job: r.job)
                logger.notice("stop: job \(r.job) did not finish within stop_grace_seconds=\(DaemonConfig.format(config.stopGraceSeconds)); re-queued, it runs again at the next start")
                running = nil
            }
            return
        }
        let rescan = now >= nextRescan
        if rescan {
            nextRescan = now.addingTimeInterval(config.rescanSeconds)
            refreshGenerator()
            scanInbox()
            startNextJob()
        }
        if now >= nextPrune {
            nextPrune = now.addingTimeInterval(3600)
            let n = queue.pruneDone(olderThanDays: config.keepDoneDays, now: now)
            if n > 0 { logger.info("pruned \(n) finished jobs older than keep_done_days=\(DaemonConfig.format(config.keepDoneDays))") }
        }
        let before = retrainer.phase
        if let fp = retrainer.tick(now: now, rescan: rescan, fingerprint: { Zoo.fingerprint(layout.checkpoints) }) {
            startRetrain(fingerprint: fp, now: now)
        } else if case .waiting = retrainer.phase, retrainer.phase != before {
            if case .waiting = before {} else {
                logger.info("checkpoints changed; retraining in \(DaemonConfig.format(config.debounceSeconds)) s unless they change again")
            }
            statusDirty = true
        } else if retrainer.phase != before {
            statusDirty = true
        }
    }

    // MARK: - Inbox and jobs

    /// Claims every ready inbox entry while the queue has room.
    func scanInbox() {
        guard !shuttingDown else { return }
        var queued = queue.jobs(.queued).count
        for name in readiness.candidates(in: layout.inbox) {
            guard queued < config.maxQueue else {
                if !saidQueueFull { logger.warning("queue full (max_queue=\(config.maxQueue)); further files wait in inbox/") }
                saidQueueFull = true
                return
            }
            do {
                let job = try queue.claim(name)
                readiness.forget(name)
                queued += 1
                statusDirty = true
                logger.info("claimed \(name) as job \(job)")
            } catch {
                readiness.forget(name)
                if Rename.exists(layout.inbox.appendingPathComponent(name)) {
                    report(error: "cannot claim \(name): \(describe(error))", job: nil)
                }
            }
        }
        saidQueueFull = false
    }

    /// Starts the oldest queued job when none runs and a generator exists.
    func startNextJob() {
        guard running == nil, !shuttingDown, let job = queue.jobs(.queued).first else { return }
        guard let gen = generator else {
            if !saidNoGenerator {
                logger.warning("no generator yet: \(queue.jobs(.queued).count) job(s) wait; add checkpoints to \(layout.checkpoints.path) or run `dnd train`")
            }
            saidNoGenerator = true
            return
        }
        saidNoGenerator = false
        do { try queue.perform(.start, job: job) } catch {
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
            return
        }
        let fileName = JobQueue.originalName(input.lastPathComponent)
        let options = JobOptions.make(tag: JobName.parse(fileName: fileName).evaluation, config: config, baseModel: config.baseModelFolder(layout))
        let control = WorkControl()
        running = (job, fileName, Date(), gen.id, gen.handle.info.identity, control)
        statusDirty = true
        logger.info("started job \(job) (\(fileName)) with generator \(gen.handle.info.identity)")
        let worker = self.worker, queue = self.queue, handle = gen.handle, continuation = self.continuation
        WorkerThread.start(name: "dnd-job") {
            let outcome = DaemonLoop.execute(job: job, fileName: fileName, input: input, options: options, generator: handle,
                                             worker: worker, queue: queue, control: control)
            continuation.yield(.jobDone(job: job, outcome: outcome))
        }
    }

    /// One job attempt, on its own thread: checks, parses, runs the worker, verifies and fsyncs the results.
    static func execute(job: String, fileName: String, input: URL, options: JobOptions, generator: GeneratorHandle,
                        worker: any JobWorker, queue: JobQueue, control: WorkControl) -> Daemon.JobOutcome {
        do {
            let contents = try PromptFile.load(input, name: fileName, limits: options.limits)
            let records = contents.records
            let out = try queue.prepareOutput(job)
            try worker.process(Job(name: job, fileName: fileName, input: input, records: records, warnings: contents.warnings, options: options),
                               generator: generator, output: out, control: control)
            if control.isCancelled { return .cancelled }
            try JobResults.verify(out)
            Rename.syncTree(out)
            return .succeeded(prompts: records.count)
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
        guard let r = running, r.job == job else { return }  // already re-queued at a stop deadline
        let seconds = String(format: "%.2f", Date().timeIntervalSince(r.started))
        switch outcome {
        case .succeeded(let prompts):
            try queue.perform(.complete, job: job)  // the commit point
            try queue.perform(.publish, job: job)
            status.delivered += 1
            logger.info("delivered job \(job) to outbox/\(job) (\(prompts) prompts, generator \(r.identity), \(seconds) s)")
        case .failed(let report):
            try Rename.remove(queue.output(job))
            try FailedJob.write(report, into: queue.jobFolder(job, .running))
            try queue.perform(.fail, job: job)
            status.failed += 1
            self.report(error: report.summary, job: job, warning: report.kind == .input)
            logger.info("job \(job) moved to failed/\(job) with error.json")
        case .cancelled:
            try Rename.remove(queue.output(job))
            try queue.perform(.requeue, job: job)
            logger.notice("job \(job) interrupted by the stop; re-queued")
        }
        running = nil
        statusDirty = true
        pruneGenerators()
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
            generator = (id, GeneratorHandle(folder: store.folder(id), info: info))
            retrainer.adopt(generator: id, fingerprint: Zoo.fingerprint(layout.checkpoints))
            try? retrainer.record.save(layout.retrainRecord)
            logger.notice("generator \(info.identity) installed from outside the daemon is now in use")
            statusDirty = true
            startNextJob()
        } catch {
            // Reported once per distinct problem: this runs at every rescan.
            let message = "the generator in \(layout.generatorLink.path) is unusable: \(describe(error))"
            if message != lastGeneratorError { report(error: message, job: nil) }
            lastGeneratorError = message
        }
    }

    func startRetrain(fingerprint: String, now: Date) {
        retrainRuns += 1
        let work = layout.retrainWork.appendingPathComponent("run-\(retrainRuns)")
        let output = work.appendingPathComponent("generator")
        do {
            try Rename.remove(work)
            try Rename.makeFolder(output)
        } catch {
            report(error: "cannot prepare a retraining: \(describe(error))", job: nil)
            return
        }
        retrainer.started(fingerprint: fingerprint, now: now)
        try? retrainer.record.save(layout.retrainRecord)
        statusDirty = true
        let control = WorkControl()
        retrainControl = control
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
        retrainControl = nil
        let now = Date()
        switch outcome {
        case .trained(let folder, let info):
            do {
                let old = generator?.handle.info.identity ?? "none"
                let handle = try store.install(folder, info: info)
                let id = handle.folder.lastPathComponent
                generator = (id, handle)
                retrainer.finished(now: now, installed: (id, info.identity), error: nil)
                logger.notice("retraining finished: generator \(info.identity) replaces \(old) (trained on \(info.datasets.joined(separator: ", ")))")
            } catch {
                retrainer.finished(now: now, installed: nil, error: describe(error))
                report(error: "retraining produced a generator that could not be installed: \(describe(error)); keeping \(generator?.handle.info.identity ?? "none")", job: nil)
            }
        case .failed(let message):
            retrainer.finished(now: now, installed: nil, error: message)
            report(error: "retraining failed: \(message); keeping generator \(generator?.handle.info.identity ?? "none")", job: nil)
        case .cancelled:
            retrainer.abandoned()
            logger.notice("retraining abandoned for the stop; it starts again after the next start")
        }
        try? Rename.remove(layout.retrainWork)
        try? Rename.makeFolder(layout.retrainWork)
        try? retrainer.record.save(layout.retrainRecord)
        statusDirty = true
        pruneGenerators()
        startNextJob()
    }

    /// Removes generator folders neither in use nor held by the running job.
    func pruneGenerators() {
        var keep = Set<String>()
        if let g = generator { keep.insert(g.id) }
        if let r = running { keep.insert(r.generatorID) }
        for id in store.prune(keep: keep) { logger.info("removed old generator folder \(id)") }
    }

    // MARK: - Stop

    func beginShutdown(reason: String) {
        guard !shuttingDown else { return }
        shuttingDown = true
        stopDeadline = Date().addingTimeInterval(config.stopGraceSeconds)
        if let c = retrainControl { c.cancel(); retrainer.abandoned() }
        let what = running.map { "finishing job \($0.job) (up to \(DaemonConfig.format(config.stopGraceSeconds)) s)" } ?? "nothing running"
        logger.notice("stopping (\(reason)): \(what)")
        notify.stopping(status: "stopping: \(what)")
        writeStatus(state: "stopping")
        if config.stopGraceSeconds == 0 { try? tick() }
    }

    func tearDown() {
        watcher?.stop()
        writeStatus(state: "stopped")
        logger.notice("stopped")
    }

    // MARK: - Status and errors

    func report(error message: String, job: String?, warning: Bool = false) {
        if warning { logger.warning("\(message)") } else { logger.error("\(message)") }
        status.recordError(message, job: job)
        statusDirty = true
    }

    func describe(_ error: Error) -> String { (error as? DNDError)?.message ?? String(describing: error) }

    func writeStatus(state: String) {
        let now = Date()
        status.state = state
        status.updatedAt = now
        status.queue = StatusFile.liveCounts(layout: layout)
        status.runningJob = running.map { .init(job: $0.job, file: $0.file, startedAt: $0.started, generator: $0.identity) }
        status.generator = generator.map { .init(identity: $0.handle.info.identity, id: $0.id, datasets: $0.handle.info.datasets, trainedAt: $0.handle.info.trainedAt) }
        let rec = retrainer.record
        var r = DaemonStatus.Retraining(state: "idle", since: nil, completed: rec.completed, succeeded: rec.succeeded,
                                        lastOK: rec.last?.ok, lastError: rec.last?.error, lastFinishedAt: rec.last?.finishedAt)
        switch retrainer.phase {
        case .idle: r.state = config.retrain ? "idle" : "disabled"
        case .waiting(_, let since): r.state = "waiting"; r.since = since
        case .running(_, let since): r.state = "running"; r.since = since
        }
        status.retraining = r
        do { try StatusFile.write(status, layout: layout) } catch {
            logger.error("cannot write \(layout.statusFile.path): \(describe(error))")
        }
        statusDirty = false
        let line = systemdStatus()
        if line != lastSystemdStatus { notify.status(line); lastSystemdStatus = line }
    }

    /// The one-line STATUS= for systemctl status.
    func systemdStatus() -> String {
        let q = status.queue["queued"] ?? queue.jobs(.queued).count
        let job = running.map { "running \($0.job)" } ?? "idle"
        let gen = generator?.handle.info.identity ?? "no generator"
        var retrain = ""
        if case .running = retrainer.phase { retrain = ", retraining" }
        return "\(job), \(q) queued, \(status.delivered) delivered, \(status.failed) failed, generator \(gen)\(retrain)"
    }
}
