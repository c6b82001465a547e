import Dispatch
import DocketPostgres

#if canImport(Glibc)
import Glibc
#endif

/// One client thread of the SKIP LOCKED baseline: its share of the producer and worker
/// connections to PostgreSQL (one libpq connection each), served with poll(2) as `JobLoop`
/// serves sockets. libpq's pipeline mode lets a producer keep `--window` INSERTs in flight,
/// each still a transaction of its own, and a worker send its ack with its next claim.
struct SkipLockedLoop: PhaseLoop {
    let roles: [SessionRole]
    let plan: JobsPlan
    /// The run's database.
    let conninfo: String
    let budget: JobBudget
    let control: RunControl
    /// Whether confirmed enqueues, rather than acks, complete the run.
    let enqueuesComplete: Bool
    /// When the run's first job was enqueued at the earliest, if before this phase (a prefill).
    var earliestEnqueue: UInt64? = nil

    /// How long a worker that found no job waits before it looks again (the textbook worker
    /// polls; this is short, so that it never idles while jobs wait).
    static let emptyPauseNanoseconds: UInt64 = 5_000_000
    static let pollMilliseconds: UInt64 = 50

    func run(ready: DispatchSemaphore, go: DispatchSemaphore) -> SessionStats {
        let sql = SkipLockedSQL(queue: plan.queue)
        let sessions: [SkipLockedSession] = roles.map { role in
            let connection = PostgresConnection(conninfo)
            switch role {
            case .producer:
                return SkipLockedProducer(role: role, connection: connection, sql: sql, budget: budget, window: plan.window,
                                          size: plan.size, control: control, completesRun: enqueuesComplete)
            case .worker:
                return SkipLockedWorker(role: role, connection: connection, sql: sql, control: control,
                                        measureFromEnqueue: plan.mode == .cycle, earliestEnqueue: earliestEnqueue)
            }
        }
        for session in sessions { session.connection.start() }
        serve(sessions) { sessions.allSatisfy { $0.connection.state != .connecting } }
        if let lost = sessions.first(where: { $0.connection.state != .ready }) {
            control.fail("\(lost.role): connecting to PostgreSQL: \(lost.connection.failure?.message ?? "timed out")")
        }
        ready.signal()
        let now = MonotonicClock.now()
        let remaining = control.deadline > now ? Int(control.deadline - now) : 0
        guard go.wait(timeout: .now() + .nanoseconds(remaining)) == .success, !control.shouldStop else {
            return total(sessions)
        }
        let startedAt = MonotonicClock.now()
        for session in sessions { session.start(now: startedAt) }
        serve(sessions) { control.targetReached }
        let stats = total(sessions)
        for session in sessions {
            // What is still in flight fails as the connection closes: that is not the run's failure.
            session.closing = true
            session.connection.close()
        }
        return stats
    }

    /// Serves every connection until `done`, the run is stopped, or a connection is lost.
    private func serve(_ sessions: [SkipLockedSession], until done: () -> Bool) {
        var descriptors = [pollfd](repeating: pollfd(), count: sessions.count)
        while !done() && !control.shouldStop {
            var now = MonotonicClock.now()
            var nextWake = now + Self.pollMilliseconds * 1_000_000
            for session in sessions {
                if let wake = session.wakeAt {
                    if wake <= now {
                        session.wakeAt = nil
                        session.wake(now: now)
                    } else {
                        nextWake = min(nextWake, wake)
                    }
                }
            }
            for (index, session) in sessions.enumerated() {
                let connection = session.connection
                if connection.state == .closed {
                    control.fail("\(session.role): \(connection.failure?.message ?? "the PostgreSQL connection closed")")
                    return
                }
                let (socket, events) = PostgresPoll.events(connection)
                descriptors[index] = pollfd(fd: socket, events: events, revents: 0)
            }
            now = MonotonicClock.now()
            let wait = nextWake > now ? Int32((nextWake - now + 999_999) / 1_000_000) : 0
            let ready = poll(&descriptors, nfds_t(descriptors.count), wait)
            if ready < 0 {
                if errno == EINTR { continue }
                control.fail("poll: \(BenchError.system("poll"))")
                return
            }
            guard ready > 0 else { continue }
            for (index, session) in sessions.enumerated() where descriptors[index].revents != 0 {
                PostgresPoll.serve(session.connection, revents: descriptors[index].revents)
            }
        }
    }

    private func total(_ sessions: [SkipLockedSession]) -> SessionStats {
        var stats = SessionStats()
        for session in sessions { stats.merge(session.stats) }
        return stats
    }
}

/// One connection of the baseline; only its loop's thread touches it.
class SkipLockedSession {
    let role: SessionRole
    let connection: PostgresConnection
    let sql: SkipLockedSQL
    let control: RunControl
    var stats = SessionStats()
    /// When the loop should call `wake`, if it should.
    var wakeAt: UInt64?
    /// Set once the run is over and the connection is being closed.
    var closing = false

    init(role: SessionRole, connection: PostgresConnection, sql: SkipLockedSQL, control: RunControl) {
        self.role = role
        self.connection = connection
        self.sql = sql
        self.control = control
    }

    func start(now: UInt64) {}
    func wake(now: UInt64) {}

    /// A statement failed: the run is over (nothing here is expected to fail).
    func fail(_ error: PostgresError) {
        guard !closing else { return }
        control.fail("\(role): PostgreSQL: \(error.message)")
    }

    /// A completion that only checks for failure.
    var checked: PostgresConnection.Completion {
        { [unowned self] result in if case .failure(let error) = result { fail(error) } }
    }
}

/// A producer: INSERTs one job per transaction, keeping up to `window` of them in flight.
final class SkipLockedProducer: SkipLockedSession {
    private let budget: JobBudget
    private let window: Int
    private let size: Int
    /// Whether confirmed enqueues complete the run (enqueue-only runs).
    private let completesRun: Bool
    private var unanswered = 0

    init(role: SessionRole, connection: PostgresConnection, sql: SkipLockedSQL, budget: JobBudget, window: Int, size: Int,
         control: RunControl, completesRun: Bool) {
        self.budget = budget
        self.window = window
        self.size = size
        self.completesRun = completesRun
        super.init(role: role, connection: connection, sql: sql, control: control)
    }

    override func start(now: UInt64) { refill(now: now) }

    private func refill(now: UInt64) {
        while unanswered < window, let sequence = budget.claimEnqueue() {
            unanswered += 1
            let payload = Self.payload(timestamp: now, sequence: sequence, size: size)
            connection.query(sql.insert, [.text(payload)]) { [unowned self] result in
                unanswered -= 1
                if case .failure(let error) = result { return fail(error) }
                let done = MonotonicClock.now()
                stats.enqueueLatency.record(done > now ? done - now : 0)
                stats.enqueued += 1
                if completesRun { control.deliver(1) }
                refill(now: done)
            }
        }
    }

    /// The same payload the job protocols carry: the enqueue time, a sequence number, filler.
    static func payload(timestamp: UInt64, sequence: Int, size: Int) -> String {
        var output = OutputBuffer()
        JobPayload.append(timestamp: timestamp, sequence: UInt64(sequence), size: size, to: &output)
        return String(decoding: output.pendingBytes, as: UTF8.self)
    }
}

/// A worker: the textbook loop, one job at a time. A claim is its own transaction (BEGIN and
/// the SELECT … FOR UPDATE SKIP LOCKED sent together, then the UPDATE to 'active' and COMMIT
/// once the SELECT has named a job); the ack (UPDATE to 'completed') is another, sent together
/// with the next claim's BEGIN and SELECT.
final class SkipLockedWorker: SkipLockedSession {
    private let measureFromEnqueue: Bool
    private let earliestEnqueue: UInt64?

    init(role: SessionRole, connection: PostgresConnection, sql: SkipLockedSQL, control: RunControl,
         measureFromEnqueue: Bool, earliestEnqueue: UInt64?) {
        self.measureFromEnqueue = measureFromEnqueue
        self.earliestEnqueue = earliestEnqueue
        super.init(role: role, connection: connection, sql: sql, control: control)
    }

    override func start(now: UInt64) { claim(now: now) }

    override func wake(now: UInt64) { claim(now: now) }

    private func claim(now sentAt: UInt64) {
        connection.execute("BEGIN", completion: checked)
        connection.execute(sql.claim) { [unowned self] result in
            switch result {
            case .failure(let error): fail(error)
            case .success(let rows): claimed(rows.rows.first, sentAt: sentAt)
            }
        }
        connection.commit()
    }

    private func claimed(_ row: PostgresRow?, sentAt: UInt64) {
        guard let row, let id = row.int64(0), let payload = row.string(1) else {
            // Every waiting job is taken (or there is none yet): end the transaction, look again soon.
            stats.reserveTimeouts += 1
            connection.query("COMMIT", completion: checked)
            wakeAt = MonotonicClock.now() + SkipLockedLoop.emptyPauseNanoseconds
            return
        }
        let enqueuedAt = Array(payload.utf8).withUnsafeBytes { JobPayload.timestamp(of: $0) }
        guard let enqueuedAt, enqueuedAt >= earliestEnqueue ?? control.publishStartTime ?? 0 else {
            control.fail("\(role): claimed a job this run did not enqueue (the table was not empty)")
            return
        }
        let since = measureFromEnqueue ? enqueuedAt : sentAt
        connection.execute(sql.activate, [.text(String(id))], completion: checked)
        connection.execute("COMMIT", completion: checked)
        connection.commit { [unowned self] result in
            guard case .success = result else { return }  // The statements' completions report it.
            // The job is this worker's now; the benchmark's jobs take no time to do.
            connection.query(sql.complete, [.text(String(id))]) { [unowned self] result in
                if case .failure(let error) = result { return fail(error) }
                let done = MonotonicClock.now()
                stats.jobLatency.record(done > since ? done - since : 0)
                stats.acked += 1
                control.deliver(1)
            }
            claim(now: MonotonicClock.now())
        }
    }
}
