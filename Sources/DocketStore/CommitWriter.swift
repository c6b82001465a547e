import Glibc

/// Runs store commits on a thread of their own, so the event loop keeps reading, parsing and
/// answering while an fsync is in progress.
///
/// The loop submits a batch, the writer thread commits it and queues the completion, and a
/// byte written to a pipe wakes the loop, which calls `runFinished()` to run completions on its
/// own thread, in submission order. Batches submitted while a commit is under way are committed
/// together by the next one, which starts as soon as that one ends: the flushes follow each
/// other without waiting for the loop to hear of one and send more. The lock guards only the
/// two hand-over lists.
final class CommitWriter: @unchecked Sendable {
    typealias Completion = (Result<Void, StoreError>) -> Void

    // Allocated apart: a pthread object must not move, and passing a stored property with `&`
    // to C makes Swift track an exclusive access for the whole call (a wait included).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeWriter = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var submitted: [(StoreBatch, Completion)] = []
    private var finished: [(Completion, Result<Void, StoreError>)] = []
    private var stopping = false
    private var running = false
    private var thread = pthread_t()
    private let write: ([StoreBatch]) -> Result<Void, StoreError>
    /// Readable when completions are waiting; the loop watches it.
    let readDescriptor: Int32
    private let writeDescriptor: Int32

    init(write: @escaping ([StoreBatch]) -> Result<Void, StoreError>) throws {
        self.write = write
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw StoreError("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readDescriptor = fds[0]
        writeDescriptor = fds[1]
        mutex.initialize(to: pthread_mutex_t())
        wakeWriter.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeWriter, nil)
        let context = Unmanaged.passRetained(self).toOpaque()
        guard pthread_create(&thread, nil, { context in
            let writer = Unmanaged<CommitWriter>.fromOpaque(context!).takeRetainedValue()
            writer.loop()
            return nil
        }, context) == 0 else {
            Unmanaged<CommitWriter>.fromOpaque(context).release()
            throw StoreError("cannot start the commit thread")
        }
        nameThread(thread, "commit")
        running = true
    }

    deinit {
        pthread_cond_destroy(wakeWriter)
        pthread_mutex_destroy(mutex)
        wakeWriter.deallocate()
        mutex.deallocate()
    }

    /// Queues a batch; its completion runs from `runFinished()` once it is committed.
    func submit(_ batch: StoreBatch, _ completion: @escaping Completion) {
        pthread_mutex_lock(mutex)
        submitted.append((batch, completion))
        pthread_cond_signal(wakeWriter)
        pthread_mutex_unlock(mutex)
    }

    /// Runs the completions of committed batches. Call on the loop thread when
    /// `readDescriptor` is readable.
    func runFinished() {
        var drain = [UInt8](repeating: 0, count: 64)
        while read(readDescriptor, &drain, drain.count) > 0 {}
        pthread_mutex_lock(mutex)
        let ready = finished
        finished.removeAll()
        pthread_mutex_unlock(mutex)
        for (completion, result) in ready { completion(result) }
    }

    /// Commits what was submitted, stops the thread, and runs the last completions.
    func stop() {
        guard running else { return }
        running = false
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(wakeWriter)
        pthread_mutex_unlock(mutex)
        pthread_join(thread, nil)
        runFinished()
        Glibc.close(readDescriptor)
        Glibc.close(writeDescriptor)
    }

    private func loop() {
        while true {
            pthread_mutex_lock(mutex)
            while submitted.isEmpty && !stopping { pthread_cond_wait(wakeWriter, mutex) }
            if submitted.isEmpty && stopping {
                pthread_mutex_unlock(mutex)
                return
            }
            // Everything submitted while the last write was flushing goes in this one write.
            let batches = submitted
            submitted.removeAll(keepingCapacity: true)
            pthread_mutex_unlock(mutex)
            let result = write(batches.map(\.0))
            pthread_mutex_lock(mutex)
            for (_, completion) in batches { finished.append((completion, result)) }
            pthread_mutex_unlock(mutex)
            var byte: UInt8 = 1
            _ = Glibc.write(writeDescriptor, &byte, 1)
        }
    }
}
