/// A PURGE under way: one queue's jobs in one state, deleted a slice at a time in id order (see
/// `JobEngine.purge(queue:state:olderThan:atOnce:)`). Deleting a million jobs at once held the
/// loop, and every other client, for 1.5 s.
public final class Purge {
    let queue: JobQueue?
    let state: JobState
    /// Only jobs that entered the state (enqueued, or finished) at or before this time go.
    let cutoff: Int64?
    /// The jobs there were when it began: one enqueued after the PURGE is not its to delete.
    let end: UInt64
    /// The next id to look at.
    var next: UInt64 = 0
    /// Jobs it would have deleted that its deletions are settling now (see `purgeSlice`).
    var cascaded: [Job] = []
    /// Jobs deleted so far.
    public internal(set) var deleted = 0
    public var isDone: Bool { next >= end }

    init(queue: JobQueue?, state: JobState, cutoff: Int64?, end: UInt64) {
        self.queue = queue
        self.state = state
        self.cutoff = cutoff
        self.end = queue == nil ? 0 : end
    }

    /// Whether `job` is one this purge deletes, as it is now.
    func takes(_ job: Job) -> Bool {
        guard job.home === queue, job.state == state else { return false }
        if let cutoff, (job.finishedAt ?? job.enqueuedAt) > cutoff { return false }
        return true
    }
}
