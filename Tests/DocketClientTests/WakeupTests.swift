import Testing

@testable import DocketClient

/// The async wake-up on bytes of control: who takes a value, and when the hook runs.
@Suite struct WakeupTests {
    /// A value handed to a caller that has not suspended yet is still taken (a subscription
    /// must not also queue it: it once came twice), and a second resolution takes nothing.
    @Test func aResolutionBeforeTheWaitIsTakenOnce() async {
        let lock = PosixLock()
        let wakeup = Wakeup<Int>()
        let first = lock.withLock { wakeup.resolve(.success(1)) }
        #expect(first != nil, "resolved now: the value was taken")
        first?()
        #expect(lock.withLock { wakeup.resolve(.success(2)) } == nil, "resolved before: nothing taken")
        let outcome = await wakeup.wait(lock: lock, deadline: nil) {}
        #expect((try? outcome.get()) == 1)
    }

    /// The hook runs on the resolving thread with the outcome, once.
    @Test func theHookRunsOnceWithTheOutcome() async {
        let lock = PosixLock()
        let seen = Locked<[Int]>([])
        let wakeup = Wakeup<Int>(onResolve: { result in
            if case .success(let value) = result { seen.withLock { $0.append(value) } }
        })
        lock.withLock { wakeup.resolve(.success(7)) }?()
        lock.withLock { wakeup.resolve(.success(8)) }?()
        #expect(seen.current == [7])
        #expect((try? (await wakeup.wait(lock: lock, deadline: nil) {}).get()) == 7)
    }
}
