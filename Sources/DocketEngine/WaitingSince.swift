/// When each of a queue's waiting jobs became waiting (`Job.waitingSince`), kept in order so
/// that the longest wait (QUEUE, QUEUES, the dashboard) is read at the top instead of by a walk
/// over every waiting job: that walk took ~23 ms at a million, holding every other client, and
/// a monitor polling QUEUES made it a steady stall.
///
/// An entry stays when its job leaves waiting: a job has no room to remember its place here
/// (see `Job`: a field more takes it to the next malloc size), so a stale entry is recognised
/// when it surfaces (its job gone, not waiting, or waiting since another time) and dropped.
/// Jobs taken in the order they came leave from the top, where their entry goes at once
/// without a look-up. Entries left deeper (a higher priority taken first, a DEL) are swept
/// out once the entries outnumber twice the waiting jobs (and `sweepSlack`), so the entries
/// stay within about twice the jobs and a sweep comes at most once per as many leaves as jobs
/// wait.
struct WaitingSince {
    /// One waiting job's `waitingSince` when it became waiting.
    struct Entry: Comparable {
        let since: Int64
        let id: UInt64

        static func < (a: Entry, b: Entry) -> Bool { a.since < b.since }
        static func == (a: Entry, b: Entry) -> Bool { a.since == b.since }
    }

    /// Stale entries tolerated beyond twice the waiting jobs' number, so that a small queue is
    /// not swept on every leave.
    let sweepSlack: Int

    private var entries = RunHeap<Entry>()
    /// The top entry is known to be its job's current one: a leave from deeper has nothing to
    /// look up.
    private var topIsCurrent = false

    /// Entries, stale ones included.
    var count: Int { entries.count }

    init(sweepSlack: Int = 4096) { self.sweepSlack = sweepSlack }

    /// A job became waiting.
    mutating func enter(_ job: Job) {
        let entry = Entry(since: job.waitingSince, id: job.id)
        // Only an entry below the old top is surely the new top (an equal one may not be).
        let isNewTop = entries.top.map { entry < $0 } ?? true
        entries.push(entry)
        if isNewTop { topIsCurrent = true }
    }

    /// A job left waiting (it is no longer waiting, or no longer in `jobs`); `waiting` is how
    /// many of the queue's jobs still wait.
    mutating func leave(_ job: Job, waiting: Int, in jobs: JobTable) {
        if let top = entries.top, top.id == job.id {
            entries.pop()
            topIsCurrent = false
        } else if !topIsCurrent {
            dropStaleTop(jobs)
        }
        if entries.count > 2 * waiting + sweepSlack { sweep(jobs) }
    }

    /// The time the longest-waiting job became waiting, or nil if none waits.
    mutating func oldest(in jobs: JobTable) -> Int64? {
        dropStaleTop(jobs)
        return entries.top?.since
    }

    private static func isCurrent(_ entry: Entry, in jobs: JobTable) -> Bool {
        guard let job = jobs[entry.id] else { return false }
        return job.state == .waiting && job.waitingSince == entry.since
    }

    private mutating func dropStaleTop(_ jobs: JobTable) {
        guard !topIsCurrent else { return }
        while let top = entries.top {
            if Self.isCurrent(top, in: jobs) {
                topIsCurrent = true
                return
            }
            entries.pop()
        }
    }

    /// Keeps only current entries, one per job (a job that left and came back in the same
    /// millisecond has two).
    private mutating func sweep(_ jobs: JobTable) {
        var seen = IDSet()
        var kept: [Entry] = []
        entries.forEach { entry in
            if Self.isCurrent(entry, in: jobs), seen.insert(entry.id) { kept.append(entry) }
        }
        entries.rebuild(kept)
        topIsCurrent = !kept.isEmpty
    }
}
