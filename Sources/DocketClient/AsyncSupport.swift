// How the async API waits without blocking the cooperative thread pool.
//
// The connection already has a reader thread that parses every reply and message. A blocking
// caller waits on a condition variable for its reply; an async caller instead leaves a `Wakeup`
// with its command, and the reader (or a timer, a lost connection, or the task's cancellation,
// whichever comes first) resolves it, which resumes the task. So an awaited RESERVE or WAIT
// holds no thread at all while the server keeps it waiting. Only work that can block for long
// and has no reply to wait for (connecting, waiting for a reconnect before a command can be
// sent, joining the reader on close) runs on a thread of its own (`offThread`).

/// One async caller's wake-up: resolved at most once, by whichever comes first. Every method
/// but `wait` is called with the owner's lock held; the closure `resolve` returns resumes the
/// task and is run once that lock is released.
final class Wakeup<Value: Sendable>: @unchecked Sendable {
    private var continuation: CheckedContinuation<Result<Value, DocketError>, Never>?
    private var outcome: Result<Value, DocketError>?
    private var timer: Task<Void, Never>?
    /// Runs with the outcome on the resolving thread (the reader's, for a reply), before the
    /// task resumes: for what must not wait until a thread of the cooperative pool is free.
    private let onResolve: (@Sendable (Result<Value, DocketError>) -> Void)?

    init(onResolve: (@Sendable (Result<Value, DocketError>) -> Void)? = nil) {
        self.onResolve = onResolve
    }

    /// Whether it was resolved (the owner's lock held).
    var isResolved: Bool { outcome != nil }

    /// Resolves it, unless it already was (the owner's lock held). Returns what to run once the
    /// lock is released (it resumes the waiting task, if one waits yet; if none does, `wait`
    /// returns the outcome at once); nil only when it was resolved before. Callers tell from
    /// nil that the value was not taken: a subscription whose waiter had not yet suspended
    /// once queued a message it had also handed over, and the message came twice.
    func resolve(_ result: Result<Value, DocketError>) -> (() -> Void)? {
        guard outcome == nil else { return nil }
        outcome = result
        let timer = self.timer
        self.timer = nil
        let continuation = self.continuation
        self.continuation = nil
        let onResolve = self.onResolve
        return {
            timer?.cancel()
            onResolve?(result)
            continuation?.resume(returning: result)
        }
    }

    /// Suspends until it is resolved; after `deadline` it resolves as `timeout`. When the task
    /// is cancelled, `onCancel` runs (it should resolve it, as `cancelled`, and undo what it can).
    func wait(lock: PosixLock, deadline: Deadline?, onCancel: @escaping @Sendable () -> Void) async -> Result<Value, DocketError> {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, DocketError>, Never>) in
                let ready = lock.withLock { () -> Result<Value, DocketError>? in
                    if let outcome { return outcome }
                    self.continuation = continuation
                    if let deadline {
                        let nanoseconds = deadline.nanoseconds &- min(deadline.nanoseconds, Clock.nanoseconds())
                        timer = Task { [self] in
                            try? await Task.sleep(nanoseconds: nanoseconds)
                            if Task.isCancelled { return }
                            lock.withLock { resolve(.failure(.timeout)) }?()
                        }
                    }
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            onCancel()
        }
    }
}

/// Runs `body`, which may block, on a thread of its own and awaits its result: the cooperative
/// pool is never blocked by it.
func offThread<T: Sendable>(_ body: @escaping @Sendable () throws(DocketError) -> T) async throws(DocketError) -> T {
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, DocketError>, Never>) in
        PosixThread.start {
            do throws(DocketError) {
                continuation.resume(returning: .success(try body()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }.detach()
    }
    return try result.get()
}

/// Sleeps `milliseconds` without a thread; false if the task was cancelled first.
@discardableResult
func sleep(milliseconds: Int) async -> Bool {
    guard milliseconds > 0 else { return !Task.isCancelled }
    do {
        try await Task.sleep(nanoseconds: UInt64(milliseconds) * 1_000_000)
        return true
    } catch {
        return false
    }
}
