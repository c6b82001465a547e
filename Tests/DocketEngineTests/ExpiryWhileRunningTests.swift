import DocketEngine
import DocketWire
import Testing

/// A job whose expiry passes while it runs must not run again (PROTOCOL.md, Expiry), however
/// its attempt ends.
@Suite struct ExpiryWhileRunningTests {
    func expiring(_ h: Harness) -> UInt64 {
        h.enq {
            $0.ttlMilliseconds = 300
            $0.leaseMilliseconds = 5000
            $0.backoff = .fixed(milliseconds: 100)
        }
    }

    @Test func aFailureAfterTheExpiryIsDeadNotWaitingForever() {
        let h = Harness()
        let id = expiring(h)
        _ = h.next()
        h.advance(400)
        _ = h.engine.fail(id: id, owner: 1, choice: .policy, reason: nil)
        h.advance(100)
        #expect(h.engine.job(id)?.state == .dead)
        #expect(h.engine.job(id)?.lastError.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("expired") == true)
    }

    @Test func anImmediateRetryAfterTheExpiryIsDeadToo() {
        let h = Harness()
        let id = expiring(h)
        _ = h.next()
        h.advance(400)
        _ = h.engine.fail(id: id, owner: 1, choice: .after(milliseconds: 0), reason: nil)
        h.advance(0)
        #expect(h.engine.job(id)?.state == .dead)
    }

    @Test func aThrottleAfterTheExpiryIsDeadToo() {
        let h = Harness()
        let id = expiring(h)
        _ = h.next()
        h.advance(400)
        #expect(errorOf(h.engine.throttle(id: id, owner: 1, milliseconds: 100, groupOnly: false, reason: nil)) == nil)
        h.advance(0)
        #expect(h.engine.job(id)?.state == .dead)
    }
}
