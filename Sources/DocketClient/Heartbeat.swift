/// A worker slot's heartbeats: TOUCH for the job the slot runs, every third of its lease (or
/// as `Worker.Heartbeat` says), sent from a thread of their own. A lease must not depend on the
/// caller's threads being free: an `AsyncWorker` whose handlers keep the cooperative pool busy
/// (CPU-bound work, a blocking call) would otherwise lose its jobs' leases while they still run.
final class HeartbeatThread: @unchecked Sendable {
    /// What the thread needs to know of one job.
    struct Beat {
        let job: Job
        /// The job's lease from INSPECT, for a server whose JOB line does not name it.
        let lease: () -> Int?
        let touch: () throws(DocketError) -> Void
        /// A TOUCH was refused: the job is no longer held.
        let lost: () -> Void

        /// Heartbeats for `job` through `connection` (a blocking one: the thread waits for each reply).
        init(job: Job, on connection: DocketConnection, lost: @escaping () -> Void) {
            self.job = job
            lease = { try? connection.inspect(job.id).leaseMilliseconds }
            touch = { () throws(DocketError) in try connection.touch(job.id, attempt: job.attempt) }
            self.lost = lost
        }
    }

    private let heartbeat: Worker.Heartbeat
    private let lock = PosixLock()
    private let changed = PosixCondition()
    private var current: Beat?
    /// Which job `current` is, so a loop never mistakes the next job for the one it beat for.
    private var generation = 0
    private var beating = false
    private var ended = false
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    init(_ heartbeat: Worker.Heartbeat) {
        self.heartbeat = heartbeat
        PosixThread.start { [self] in loop() }.detach()
    }

    /// Starts beating for a job.
    func begin(_ beat: Beat) {
        lock.withLock {
            current = beat
            generation &+= 1
            changed.broadcast()
        }
    }

    /// Stops beating for the job, and waits out a TOUCH in flight: the job's ACK or FAIL must
    /// be the last word on it.
    func end() {
        lock.withLock {
            current = nil
            changed.broadcast()
            while beating { changed.wait(lock) }
        }
    }

    /// `end()` for a task: suspends, holding no thread, while a TOUCH is in flight.
    func end() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = lock.withLock { () -> Bool in
                current = nil
                changed.broadcast()
                if beating { idleWaiters.append(continuation) }
                return !beating
            }
            if idle { continuation.resume() }
        }
    }

    /// The slot is done: the thread ends.
    func finish() {
        lock.withLock {
            current = nil
            ended = true
            changed.broadcast()
        }
    }

    private func isCurrent(_ generation: Int) -> Bool { current != nil && self.generation == generation }

    private func loop() {
        while true {
            // Wait for a job (or the end).
            let next = lock.withLock { () -> (Beat, Int)? in
                while current == nil && !ended { changed.wait(lock) }
                return current.map { ($0, generation) }
            }
            guard let (beat, generation) = next else { return }
            var interval: Int
            switch heartbeat {
            case .off:
                lock.withLock {
                    while isCurrent(generation) { changed.wait(lock) }
                }
                continue
            case .every(let every):
                interval = every.milliseconds ?? 10_000
            case .automatic:
                // A third of the lease, as the JOB line names it; an older server's JOB does
                // not, and one INSPECT finds it.
                interval = 10_000
                if let lease = beat.job.leaseMilliseconds, lease > 0 {
                    interval = max(lease / 3, 20)
                } else if beginBeat(generation) {
                    if let lease = beat.lease(), lease > 0 { interval = max(lease / 3, 20) }
                    endBeat()
                }
            }
            var due = Deadline.after(milliseconds: interval)
            while true {
                let stillRunning = lock.withLock { () -> Bool in
                    while isCurrent(generation), changed.wait(lock, until: due) {}
                    return isCurrent(generation)
                }
                guard stillRunning, beginBeat(generation) else { break }
                var lost = false
                do {
                    try beat.touch()
                } catch {
                    if case .server = error { lost = true }
                }
                endBeat()
                if lost {
                    beat.lost()
                    lock.withLock {
                        while isCurrent(generation) { changed.wait(lock) }
                    }
                    break
                }
                due = Deadline.after(milliseconds: interval)
            }
        }
    }

    /// Marks a TOUCH in flight, if the job still runs.
    private func beginBeat(_ generation: Int) -> Bool {
        lock.withLock {
            guard isCurrent(generation) else { return false }
            beating = true
            return true
        }
    }

    private func endBeat() {
        let waiters = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            beating = false
            changed.broadcast()
            defer { idleWaiters = [] }
            return idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
