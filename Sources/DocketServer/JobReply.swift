import DocketEngine
import DocketWire

/// The answer to a job command, before it is rendered for the wire (`Server.render`) or as a
/// request/reply message (`Server.answerAPI`).
enum JobReply {
    /// ENQ: durable.
    case enqueued(id: UInt64, duplicate: Bool)
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
    case job(Job)
    case noJob
    /// WAIT: the job completed or died.
    case outcome(Job)
    /// WAIT timed out with the job still on its way.
    case pending(Job)
    /// WAIT: the job was deleted while waited for.
    case gone(UInt64)
    case error(JobError)
    case waitingForJob(Waiter)
    case waitingForOutcome(JobWatch)

    /// Whether the answer promises a change that must be on disk first.
    var isDurable: Bool {
        switch self {
        case .enqueued, .done, .retry, .dead, .throttled, .count, .routeAdded, .outcome: return true
        default: return false
        }
    }
}
