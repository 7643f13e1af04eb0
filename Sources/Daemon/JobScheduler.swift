import Foundation

/// The job-scheduling part of the daemon's loop: the inbox entries waiting to be claimed, the queued jobs in the
/// order they run, and the one job running. The folders stay the truth (start-up and every rescan read them again);
/// this keeps what the loop needs between rescans in memory, so that claiming a file, counting the queue and taking
/// the next job cost O(1) whatever the queue's length.
struct JobScheduler {
    /// The job being processed, on its own thread.
    struct RunningJob {
        var job: String
        /// The dropped file's name.
        var file: String
        var started: Date
        /// The generator folder it runs with (kept from pruning until it ends), and that generator's identity.
        var generatorID: String
        var identity: String
        var control: WorkControl
    }

    /// Inbox entries ready to be claimed, oldest first.
    var inbox: InboxReadiness
    /// Queued jobs, in claim order.
    private(set) var queued = QueueIndex()
    var running: RunningJob?
    /// A `.claimMore` event is on its way (so at most one is).
    var claimMorePosted = false
    /// Said once per episode: "queue full", "no generator yet".
    var saidQueueFull = false
    var saidNoGenerator = false

    init(settleSeconds: Double) { inbox = InboxReadiness(settleSeconds: settleSeconds) }

    mutating func queuedJob(_ job: String) { queued.append(job) }

    /// Takes the next queued job out of the order (the caller starts it).
    mutating func takeNext() -> String? { queued.popFirst() }

    /// Brings the in-memory order in line with the folder's listing (every job in queued/; those the order lacks
    /// oldest first): jobs the folder holds and the order lacks go to its end, jobs it no longer holds are dropped.
    mutating func reconcile(queuedListing listing: [String]) { queued.reconcile(with: listing, except: running?.job) }
}

/// Job names in first-in, first-out order with O(1) append, take and membership.
struct QueueIndex {
    private var order: [String] = []
    private var head = 0
    private var members: Set<String> = []

    var count: Int { members.count }
    var isEmpty: Bool { members.isEmpty }
    var first: String? {
        var i = head
        while i < order.count { if members.contains(order[i]) { return order[i] }; i += 1 }
        return nil
    }
    func contains(_ job: String) -> Bool { members.contains(job) }
    var all: [String] { order[head...].filter { members.contains($0) } }

    mutating func append(_ job: String) {
        if members.insert(job).inserted { order.append(job) }
    }

    mutating func popFirst() -> String? {
        while head < order.count {
            let job = order[head]
            head += 1
            if head > 1024 && head * 2 > order.count { order.removeFirst(head); head = 0 }
            if members.remove(job) != nil { return job }
        }
        return nil
    }

    mutating func remove(_ job: String) { members.remove(job) }

    mutating func reconcile(with listing: [String], except running: String?) {
        let present = Set(listing)
        for job in members where !present.contains(job) { members.remove(job) }
        for job in listing where job != running && !members.contains(job) { append(job) }
    }
}
