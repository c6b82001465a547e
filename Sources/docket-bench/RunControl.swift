import Synchronization

/// What the publisher and subscriber threads of one run share: the deadline, the running
/// total of deliveries, the moments that define the measurement, and a stop flag.
///
/// Every member is atomic or locked, so the threads need no other coordination. Counters are
/// updated once per socket read, not per message, so contention stays negligible.
final class RunControl: Sendable {
    /// Monotonic nanoseconds after which every thread gives up.
    let deadline: UInt64
    /// Deliveries that complete the run: every subscriber's share added up.
    let target: Int

    private let delivered = Atomic<Int>(0)
    private let completedAt = Atomic<UInt64>(0)
    private let publishStartedAt = Atomic<UInt64>(0)
    private let flushed = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let firstFailure = Mutex<String?>(nil)

    init(timeoutSeconds: Double, target: Int) {
        deadline = MonotonicClock.now() + UInt64(timeoutSeconds * 1e9)
        self.target = target
    }

    // MARK: Stopping

    /// True once the run failed or its deadline passed; threads blocked on sockets see it
    /// within one poll interval.
    var shouldStop: Bool {
        stopped.load(ordering: .acquiring) || MonotonicClock.now() >= deadline
    }

    var deadlinePassed: Bool { MonotonicClock.now() >= deadline }

    /// Records why the run failed (the first reason wins, later ones are consequences)
    /// and tells every thread to stop.
    func fail(_ reason: String) {
        firstFailure.withLock { if $0 == nil { $0 = reason } }
        stopped.store(true, ordering: .releasing)
    }

    var failure: String? { firstFailure.withLock { $0 } }

    // MARK: Progress

    /// Adds a subscriber's newly counted messages; the call that reaches the target stamps
    /// the time of the last delivery.
    func deliver(_ count: Int) {
        guard count > 0 else { return }
        let total = delivered.wrappingAdd(count, ordering: .relaxed).newValue
        if total >= target && total - count < target {
            completedAt.store(MonotonicClock.now(), ordering: .releasing)
        }
    }

    var deliveredCount: Int { delivered.load(ordering: .relaxed) }

    var targetReached: Bool { delivered.load(ordering: .relaxed) >= target }

    /// When the target was reached, or nil if it has not been.
    var completionTime: UInt64? {
        let time = completedAt.load(ordering: .acquiring)
        return time == 0 ? nil : time
    }

    /// Stamps the moment just before the first PUB is written.
    func markPublishStarted(at time: UInt64) { publishStartedAt.store(time, ordering: .releasing) }

    var publishStartTime: UInt64? {
        let time = publishStartedAt.load(ordering: .acquiring)
        return time == 0 ? nil : time
    }

    /// Set once the server has answered the publisher's final PING, i.e. routed every PUB.
    func markPublisherFlushed() { flushed.store(true, ordering: .releasing) }

    var publisherFlushed: Bool { flushed.load(ordering: .acquiring) }
}
