/// A worker connection: keeps `inFlight` jobs reserved or being reserved, acks each job as
/// soon as it arrives and sends another reserve with the ack, in the same write.
///
/// With `inFlight` 1 this is the classic worker, one job per round trip (the ack and the next
/// reserve travel together); with more, reserves are pipelined. Reserves stop once the run's
/// jobs are all claimed, so no reserve is left waiting for a job that will never come.
final class WorkerSession: JobSession {
    let role: SessionRole
    let connection: Connection
    var output = OutputBuffer()
    private(set) var stats = SessionStats()

    /// An unanswered command, oldest first: replies come in order.
    private enum Pending {
        case reserve(sentAt: UInt64)
        /// An ack, with the moment its job's latency is measured from.
        case ack(since: UInt64)
    }

    private let wire: any JobWire
    private let budget: JobBudget
    private let inFlight: Int
    /// Cycle runs measure from the enqueue timestamp in the payload; drain runs, whose jobs
    /// were enqueued before the clock started, from the reserve.
    private let measureFromEnqueue: Bool
    /// Every job of the run was enqueued at or after this moment (the start of the prefill for a
    /// drain run); nil for the start of the timed part, which `control` knows once it begins.
    /// A job stamped earlier is from elsewhere, such as an earlier run against the same queue.
    private let earliestEnqueue: UInt64?
    private let control: RunControl
    private var pending: FIFO<Pending>

    init(role: SessionRole, connection: Connection, wire: any JobWire, budget: JobBudget,
         inFlight: Int, measureFromEnqueue: Bool, earliestEnqueue: UInt64? = nil, control: RunControl) {
        self.role = role
        self.connection = connection
        self.wire = wire
        self.budget = budget
        self.inFlight = inFlight
        self.measureFromEnqueue = measureFromEnqueue
        self.earliestEnqueue = earliestEnqueue
        self.control = control
        pending = FIFO(capacity: 2 * inFlight)
    }

    func start(now: UInt64) {
        for _ in 0..<inFlight where budget.claimReserve() {
            reserve(now: now)
        }
    }

    func handle(_ reply: JobReply, now: UInt64) throws {
        guard let oldest = pending.pop() else { throw BenchError("a reply arrived that no command asked for") }
        switch (oldest, reply) {
        case (.reserve(let sentAt), .job(let handle, let payload)):
            // Monotonic timestamps of this boot: one from before the run means an old job.
            guard let enqueuedAt = JobPayload.timestamp(of: payload),
                  enqueuedAt >= earliestEnqueue ?? control.publishStartTime ?? 0 else {
                throw BenchError("reserved a job this run did not enqueue (the queue was not empty; use another --queue)")
            }
            let since = measureFromEnqueue ? enqueuedAt : sentAt
            wire.appendAck(handle: handle, to: &output)
            pending.push(.ack(since: since))
            if budget.claimReserve() { reserve(now: now) }
        case (.reserve, .noJob):
            // The claim still stands: ask again.
            stats.reserveTimeouts += 1
            reserve(now: now)
        case (.ack(let since), .done):
            stats.jobLatency.record(now > since ? now - since : 0)
            stats.acked += 1
            control.deliver(1)
        default:
            throw unexpected(reply)
        }
    }

    private func reserve(now: UInt64) {
        wire.appendReserve(to: &output)
        pending.push(.reserve(sentAt: now))
    }
}
