/// A producer connection: keeps `window` enqueues unanswered, sending one more for each
/// confirmation until the run's jobs have all been claimed.
final class ProducerSession: JobSession {
    let role: SessionRole
    let connection: Connection
    var output = OutputBuffer()
    private(set) var stats = SessionStats()

    private let wire: any JobWire
    private let budget: JobBudget
    private let window: Int
    /// Set when confirmed enqueues are what ends the run (enqueue-only runs and prefills).
    private let control: RunControl?
    /// When each unanswered enqueue was queued, oldest first: replies come in order.
    private var sentAt: FIFO<UInt64>

    init(role: SessionRole, connection: Connection, wire: any JobWire, budget: JobBudget, window: Int, control: RunControl?) {
        self.role = role
        self.connection = connection
        self.wire = wire
        self.budget = budget
        self.window = window
        self.control = control
        sentAt = FIFO(capacity: window)
    }

    func start(now: UInt64) { refill(now: now) }

    func handle(_ reply: JobReply, now: UInt64) throws {
        guard case .done = reply, let queuedAt = sentAt.pop() else {
            throw sentAt.isEmpty ? BenchError("a reply arrived that no enqueue asked for") : unexpected(reply)
        }
        stats.enqueueLatency.record(now > queuedAt ? now - queuedAt : 0)
        stats.enqueued += 1
        control?.deliver(1)
        refill(now: now)
    }

    /// Tops the window up. The payload's timestamp is the time of the read that freed the
    /// slot; the write follows within microseconds, in the same pass of the loop.
    private func refill(now: UInt64) {
        while sentAt.count < window, let sequence = budget.claimEnqueue() {
            wire.appendEnqueue(timestamp: now, sequence: UInt64(sequence), to: &output)
            sentAt.push(now)
        }
    }
}
