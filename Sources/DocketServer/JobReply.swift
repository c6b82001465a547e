import DocketEngine
import DocketWire

/// The answer to a job command, before it is rendered for the wire (`Server.render`) or as a
/// request/reply message (`Server.answerAPI`).
enum JobReply {
    /// ENQ: durable.
    case enqueued(id: UInt64, duplicate: Bool)
    /// ENQ `replace=true`: the waiting job with the key took the new payload, durable.
    case replaced(UInt64)
    /// BATCH: every id, in order, durable.
    case enqueuedBatch([UInt64])
    /// `+OK` once durable.
    case done
    /// `+OK` at once: nothing durable was promised (PROGRESS, TOUCH).
    case doneNow
    case retry(Int)
    case dead
    case throttled(Int)
    /// `+OK <n>`, durable (RETRY queue=).
    case count(Int)
    case routeAdded(UInt64)
    /// A JSON document.
    case document(String)
    /// A job handed out by the in-memory engine (its payload may still be in the store).
    case job(Job)
    /// A job handed out by a backend that sent its payload along (PostgreSQL).
    case delivery(JobDelivery)
    case noJob
    /// WAIT: the job completed or died.
    case outcome(JobOutcome)
    /// WAIT timed out with the job still on its way (in the state named).
    case pending(id: UInt64, state: String)
    /// WAIT: the job was deleted while waited for.
    case gone(UInt64)
    case error(JobError)
    case waitingForJob(Waiter)
    case waitingForOutcome(JobWatch)
    /// Decided elsewhere (PostgreSQL): the answer comes later, already durable, and keeps its
    /// place among the connection's replies meanwhile.
    case later(JobAnswer)

    /// Whether the answer promises a change that must be on disk first.
    var isDurable: Bool {
        switch self {
        case .enqueued, .replaced, .enqueuedBatch, .done, .retry, .dead, .throttled, .count, .routeAdded, .outcome: return true
        default: return false
        }
    }
}

/// A finished job as WAIT reports it.
struct JobOutcome {
    let id: UInt64
    let completed: Bool
    /// The ACK's result (completed) or the last error (dead).
    let detail: [UInt8]?
    /// The result even of a dead job (the API's document shows both).
    let result: [UInt8]?

    init(id: UInt64, completed: Bool, detail: [UInt8]?, result: [UInt8]?) {
        self.id = id
        self.completed = completed
        self.detail = detail
        self.result = result
    }

    init(_ job: Job) {
        self.init(
            id: job.id, completed: job.state == .completed, detail: job.state == .completed ? job.result : job.lastError,
            result: job.result)
    }
}

/// A reserved job with everything its JOB line needs.
struct JobDelivery {
    let id: UInt64
    let queue: [UInt8]
    let attempt: Int
    let leaseMilliseconds: Int
    let delivery: UInt64
    let payload: [UInt8]
}

/// An answer a backend gives after the command returned (once its database transaction has
/// ended). Whoever rendered `.later` says where it goes with `onAnswer`; answering first and
/// saying where after works too.
final class JobAnswer {
    /// A RESERVE or WAIT that may wait: the connection's later commands wait for the answer,
    /// as they do for the in-memory engine's waiters.
    let blocks: Bool
    /// Set while this answer's RESERVE is still to be tried (PostgreSQL): until its try goes
    /// out, the connection goes on reading the commands that may join that try's transaction
    /// (`PostgresBackend.readsAhead`), so a worker's pipelined RESERVEs and ACKs are decided
    /// together instead of one transaction each.
    var readAhead: ReadAhead?
    private var handler: ((JobReply) -> Void)?
    private var early: JobReply?
    private(set) var isAnswered = false

    init(blocks: Bool = false) {
        self.blocks = blocks
    }

    func answer(_ reply: JobReply) {
        guard !isAnswered else { return }
        isAnswered = true
        if let handler {
            self.handler = nil
            handler(reply)
        } else {
            early = reply
        }
        if let settled = whenAnsweredAction {
            whenAnsweredAction = nil
            settled()
        }
    }

    private var whenAnsweredAction: (() -> Void)?

    /// Runs `action` once the answer is given (at once if it was), whoever takes it.
    func whenAnswered(_ action: @escaping () -> Void) {
        if isAnswered { return action() }
        if let earlier = whenAnsweredAction {
            whenAnsweredAction = { earlier(); action() }
        } else {
            whenAnsweredAction = action
        }
    }

    func onAnswer(_ handler: @escaping (JobReply) -> Void) {
        if let early {
            self.early = nil
            handler(early)
        } else {
            self.handler = handler
        }
    }
}

/// What a connection may still send behind a RESERVE whose try has not gone out yet: a RESERVE
/// of the same queues with the same timeout, which waits its turn behind it.
struct ReadAhead {
    let queues: [String]
    let timeout: Int?
}
