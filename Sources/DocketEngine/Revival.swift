/// A RETRY queue=<q> under way: the queue's dead jobs revived a slice at a time, oldest death
/// first (see `JobEngine.retryAll(queue:atOnce:)`). Reviving 100,000 at once held the loop, and
/// every other client, for 1.4 s.
public final class Revival {
    let queue: JobQueue?
    /// The deaths the queue's history recorded when the RETRY began, not yet looked at: a job
    /// that dies after it began is not its to revive (one it revived may die again meanwhile).
    /// A copy of the history's chunks, which share their storage until the history changes.
    var deaths: FIFO<(id: UInt64, finishedAt: Int64)>
    /// Jobs revived so far.
    public internal(set) var revived = 0
    public var isDone: Bool { deaths.isEmpty }

    init(queue: JobQueue?) {
        self.queue = queue
        // One entry per job, its last death: a job that died again within the millisecond of
        // an earlier death would otherwise match both, and could be revived twice.
        queue?.dead.dropStale()
        deaths = queue?.dead.recorded ?? FIFO()
    }

    /// Whether a death recorded at `finishedAt` is still the job's: it is dead in this queue and
    /// has not been retried and died again since the RETRY began.
    func revives(_ job: Job, recordedAt finishedAt: Int64) -> Bool {
        job.home === queue && job.state == .dead && job.finishedAt == finishedAt
    }
}
