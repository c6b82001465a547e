import DocketWire
import Testing

@testable import DocketEngine

/// `key_ttl=` keeps a key (and so its job) past retention for its window; `replace=true`
/// gives a job still waiting or delayed the new payload and run time.
@Suite struct KeyWindowTests {
    func replace(_ h: Harness, _ key: String, payload: Int, _ configure: (inout EnqueueOptions) -> Void = { _ in }) -> UInt64? {
        var options = EnqueueOptions()
        options.replace = true
        configure(&options)
        var name = "q"
        return name.withUTF8 {
            h.engine.replaceWaiting(queue: UnsafeRawBufferPointer($0), key: Array(key.utf8), options: options, payloadSize: payload)
        }
    }

    @Test func aKeyWindowOutlivesRetentionThenLetsGo() {
        var defaults = QueueDefaults()
        defaults.keepCompleted = 1
        let h = Harness(defaults: defaults)
        let first = h.enq("q", key: "k") { $0.keyTTLMilliseconds = 1000 }
        #expect(h.engine.job(first)?.keyUntil == h.clock.time + 1000)
        h.complete(first)
        h.complete(h.enq("q"))
        h.complete(h.enq("q"))
        #expect(h.engine.job(first) != nil)
        #expect(h.enq("q", key: "k") == first)
        h.advance(1001)
        #expect(h.engine.job(first) == nil)
        #expect(h.enq("q", key: "k") != first)
    }

    @Test func theWindowIsStoredWithTheJob() {
        let h = Harness()
        let id = h.enq("q", key: "k") { $0.keyTTLMilliseconds = 60_000 }
        let decoded = JobCodec.decode(JobCodec.encode(h.engine.job(id)!))!
        #expect(decoded.keyUntil == h.clock.time + 60_000)
    }

    @Test func replaceMovesAWaitingOrDelayedJobAndLeavesAStartedOneAlone() {
        let h = Harness()
        let delayed = h.enq("q", key: "d") { $0.delayMilliseconds = 5000 }
        let earlier = h.enq("q")
        let waiting = h.enq("q", key: "w")
        // A delayed job replaced without a delay runs now, behind those already waiting.
        #expect(replace(h, "d", payload: 9) == delayed)
        #expect(h.engine.job(delayed)?.state == .waiting && h.engine.job(delayed)?.payloadSize == 9)
        // A waiting job keeps its place; with a delay it waits again.
        #expect(replace(h, "w", payload: 3) == waiting)
        #expect(h.next()?.id == earlier)
        #expect(h.next()?.id == waiting)
        #expect(h.next()?.id == delayed)
        let later = h.enq("q", key: "l")
        #expect(replace(h, "l", payload: 1) { $0.delayMilliseconds = 2000 } == later)
        #expect(h.engine.job(later)?.state == .delayed)
        #expect(h.next() == nil)
        h.advance(2000)
        #expect(h.next()?.id == later)
        // Started: no replacing.
        #expect(replace(h, "l", payload: 1) == nil)
        #expect(replace(h, "nobody", payload: 1) == nil)
    }
}
