import Synchronization

/// The run's job count, handed out one claim at a time to every connection on every thread,
/// so that exactly `limit` enqueues and exactly `limit` reserves are sent in all.
///
/// Capping reserves matters, not only for tidiness: Docket, beanstalkd and Redis all stop
/// reading a connection while its reserve waits for a job, so an ack queued behind a reserve
/// that no job will ever satisfy would not be processed until that reserve timed out.
final class JobBudget: Sendable {
    let limit: Int
    private let enqueues = Atomic<Int>(0)
    private let reserves = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// A sequence number (0..<limit) for one more enqueue, or nil if all have been claimed.
    func claimEnqueue() -> Int? {
        let claimed = enqueues.wrappingAdd(1, ordering: .relaxed).oldValue
        return claimed < limit ? claimed : nil
    }

    /// Whether one more reserve may be sent.
    func claimReserve() -> Bool {
        reserves.wrappingAdd(1, ordering: .relaxed).oldValue < limit
    }
}
