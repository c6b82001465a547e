import Dispatch
import Foundation
import Synchronization

/// A dedicated thread running one closure, whose result the starting thread waits for.
/// Foundation's `Thread` has no join, so a semaphore signals completion.
final class Worker<Result: Sendable>: Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private let result = Mutex<Result?>(nil)

    /// Starts `body` at once on a new thread named `name` (visible in `top -H` and debuggers).
    init(name: String, body: @escaping @Sendable () -> Result) {
        let thread = Thread { [self] in
            let value = body()
            result.withLock { $0 = value }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Waits for the thread to finish and returns what it produced. The threads bound
    /// themselves by the run's deadline, so this wait is bounded too.
    func join() -> Result {
        finished.wait()
        return result.withLock { $0! }
    }
}
