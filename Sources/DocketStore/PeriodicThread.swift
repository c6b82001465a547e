import Glibc

/// Runs `work` on a thread of its own every `intervalMilliseconds` until stopped. The store's
/// checkpoints run here, so that moving logged batches into LMDB never holds up a commit (nor,
/// under `--sync none`, the loop, which commits itself). When `work` returns true (it
/// is behind), it runs again after a quarter of the interval: not at once, because each run
/// flushes the disk the commit thread's log flushes go to, and checkpoints back to back slowed
/// durable enqueues by a quarter.
final class PeriodicThread: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var stopping = false
    private var runOnceMore = true
    private var thread = pthread_t()
    private var running = false
    private let interval: Int
    private let work: () -> Bool

    /// - Parameter name: the thread's name as `top -H`, `perf` and /proc/PID/task/*/comm show it
    ///   (15 bytes at most).
    init(name: String, intervalMilliseconds: Int, work: @escaping () -> Bool) throws {
        interval = intervalMilliseconds
        self.work = work
        mutex.initialize(to: pthread_mutex_t())
        wake.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            let periodic = Unmanaged<PeriodicThread>.fromOpaque(context!).takeRetainedValue()
            periodic.loop()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<PeriodicThread>.fromOpaque(context).release()
            throw StoreError("cannot start a thread of the store: \(String(cString: strerror(status)))")
        }
        nameThread(thread, name)
        running = true
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Asked for a run before the interval ends (`nudge`); read and cleared under `mutex`.
    private var nudged = false

    /// Runs `work` again now instead of at the end of the interval (at once after a run under
    /// way): for a writer held back until the work has caught up.
    func nudge() {
        pthread_mutex_lock(mutex)
        nudged = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    /// Stops the thread, after one last run of `work` if `runningOnceMore`, and waits for it.
    func stop(runningOnceMore: Bool) {
        guard running else { return }
        running = false
        pthread_mutex_lock(mutex)
        stopping = true
        runOnceMore = runningOnceMore
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
        pthread_join(thread, nil)
    }

    private func loop() {
        pthread_mutex_lock(mutex)
        var behind = false
        while !stopping {
            let wait = behind ? interval / 4 : interval
            if wait > 0 && !nudged {
                var deadline = timespec()
                clock_gettime(CLOCK_REALTIME, &deadline)
                let nanoseconds = deadline.tv_nsec + wait * 1_000_000
                deadline.tv_sec += nanoseconds / 1_000_000_000
                deadline.tv_nsec = nanoseconds % 1_000_000_000
                _ = pthread_cond_timedwait(wake, mutex, &deadline)
                if stopping { break }
            }
            nudged = false
            pthread_mutex_unlock(mutex)
            behind = work()
            pthread_mutex_lock(mutex)
        }
        let last = runOnceMore
        pthread_mutex_unlock(mutex)
        if last { _ = work() }
    }
}
