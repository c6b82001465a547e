/// What the dashboard's overview adds up over every queue, kept up to date as the queues change:
/// with 10,000 queues, adding them up on each request held the loop 250-320 ms (release build).
/// Each queue adds its changes here (`JobQueue.summary`), and takes its share back when it is
/// forgotten, so the sums always equal a recount of `JobEngine.queueList`.
public final class QueueSummary {
    /// Queues paused now.
    public private(set) var paused = 0
    /// Workers waiting on some queue (one waiting on three counts three times, as a recount does).
    public private(set) var waitingWorkers = 0
    private var startRate = MinuteRate()
    private var completeRate = MinuteRate()
    private var failRate = MinuteRate()

    init() {}

    /// Started, completed and failed per second over the last minute, every queue's together.
    public func rates(at now: Int64) -> [Double] {
        [startRate, completeRate, failRate].map { $0.perSecond(at: now) }
    }

    func pausedChanged(to paused: Bool) { self.paused += paused ? 1 : -1 }
    func waitingWorkersChanged(by count: Int) { waitingWorkers += count }
    func started(_ now: Int64) { startRate.add(now) }
    func completed(_ now: Int64) { completeRate.add(now) }
    func failed(_ now: Int64) { failRate.add(now) }

    /// A queue goes: its part of the last minute goes with it (its settings are the defaults
    /// and no worker waits on it, or it would not be forgotten).
    func forget(_ queue: JobQueue) {
        startRate.subtract(queue.startRate)
        completeRate.subtract(queue.completeRate)
        failRate.subtract(queue.failRate)
    }
}
