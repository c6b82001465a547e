import DocketClient
import Foundation
import Testing

@Suite struct JobTests {
    /// A blocking RESERVE whose caller timed out while the server still held the connection (a
    /// WAIT of another thread ahead of it) is answered with a JOB later: the connection gives the
    /// job back at once (as the async path does), rather than holding it for nobody until its
    /// lease of a minute runs out.
    @Test func aJobThatComesAfterABlockingReserveTimedOutIsGivenBack() throws {
        try withServer { server in
            let producer = try DocketConnection(server.address)
            defer { producer.close() }
            let unfinished = try producer.enqueue("other", "y").id
            let id = try producer.enqueue("q", "x", options: JobOptions(lease: 60)).id
            let client = try DocketConnection(server.address, options: .init(requestTimeout: .milliseconds(300)))
            defer { client.close() }
            let waited = Locked<WaitOutcome?>(nil)
            let waitDone = DispatchSemaphore(value: 0)
            background {
                waited.withLock { $0 = try? client.wait(unfinished, timeout: 1) }
                waitDone.signal()
            }
            usleep(100_000)  // the WAIT goes out first, and the server reads nothing behind it
            #expect(failure { () throws(DocketError) in _ = try client.reserve("q", timeout: 0) } == .timeout)
            waitDone.wait()
            #expect(waited.current == .pending(state: "waiting"))
            // The JOB came behind the WAIT's answer, for nobody: given back (FAIL retry=0, which
            // uses that attempt), so another worker has it now, not in a minute.
            let worker = try DocketConnection(server.address)
            defer { worker.close() }
            let job = try #require(try worker.reserve("q", timeout: 10))
            #expect(job.id == id && job.attempt == 2)
            #expect(client.reconnects == 0)
        }
    }

    @Test func enqueueReserveAckFailWithRetries() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let options = JobOptions(attempts: 2, backoff: .fixed(.milliseconds(50)), lease: 10)
            let first = try client.enqueue("emails", "hello world", options: options)
            #expect(!first.duplicate)

            // Attempt 1 fails and is retried after the fixed backoff.
            let job = try #require(try client.reserve("emails", timeout: 0))
            #expect(job.id == first.id && job.queue == "emails" && job.attempt == 1 && job.text == "hello world")
            #expect(try client.fail(job.id, reason: "boom") == .retry(afterMilliseconds: 50))
            #expect(try client.reserve("emails", timeout: 0) == nil)
            let second = try #require(try client.reserve("emails", timeout: 5))
            #expect(second.id == job.id && second.attempt == 2)
            // Attempt 2 was the last: dead.
            #expect(try client.fail(job.id, reason: "boom again") == .dead)
            var info = try client.inspect(job.id)
            #expect(info.state == "dead")
            #expect(info.attempts == 2 && info.maxAttempts == 2)
            #expect(info.lastError == "boom again")
            #expect(info.failedAttempts.map(\.attempt) == [1, 2] && info.failedAttempts.map(\.error) == ["boom", "boom again"])
            #expect(info.failedAttempts.allSatisfy { ($0.startedAt ?? .max) <= $0.endedAt })
            #expect(info.leaseMilliseconds == 10_000)
            #expect(try client.dead("emails").map(\.id) == [job.id])

            // RETRY brings it back with its attempts reset; ACK completes it with a result.
            try client.retry(job.id)
            let third = try #require(try client.reserve("emails", timeout: 5))
            #expect(third.attempt == 1)
            try client.ack(third.id, result: "sent")
            info = try client.inspect(job.id)
            #expect(info.state == "completed" && info.result == "sent")
            #expect(try client.dead("emails").isEmpty)

            // Job errors carry their code.
            #expect(Self.code { () throws(DocketError) in try client.retry(job.id) } == .notDead)
            #expect(Self.code { () throws(DocketError) in _ = try client.inspect(999_999) } == .notFound)
            #expect(Self.code { () throws(DocketError) in try client.ack(job.id) } == .notHeld)
            // Bad arguments never reach the server.
            #expect(throws: DocketError.self) { try client.enqueue("bad.queue", "x") }
            #expect(throws: DocketError.self) { try client.enqueue("q", "x", options: JobOptions(priority: 2_000_000)) }
            #expect(throws: DocketError.self) { try client.enqueue("q", "x", options: JobOptions(delay: 1, at: 1_700_000_000)) }
            #expect(client.isConnected)
        }
    }

    /// The server error code `body` fails with (nil if it does not fail that way).
    static func code(_ body: () throws(DocketError) -> Void) -> ServerErrorCode? {
        do {
            try body()
            return nil
        } catch {
            return error.code
        }
    }

    @Test func keysPrioritiesQueuesAndRetryPolicies() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            let other = try DocketConnection(server.address)
            defer {
                client.close()
                other.close()
            }
            let keyed = try client.enqueue("orders", "a", options: JobOptions(key: "order-17"))
            let again = try client.enqueue("orders", "b", options: JobOptions(key: "order-17"))
            #expect(again == Enqueued(id: keyed.id, duplicate: true))
            // replace: the job still waiting takes the new payload (debounce).
            let debounced = try client.enqueue("debounce", "v1", options: JobOptions(delay: .seconds(3600), key: "user-7", keyTTL: .seconds(60)))
            let replaced = try client.enqueue("debounce", "v2", options: JobOptions(key: "user-7", replace: true))
            #expect(replaced == Enqueued(id: debounced.id, duplicate: false, replaced: true))
            #expect(try client.inspect(debounced.id).state == "waiting", "the replacing ENQ had no delay: it runs now")
            #expect(throws: DocketError.self) { try client.enqueue("debounce", "x", options: JobOptions(replace: true)) }

            let low = try client.enqueue("work", "low", options: JobOptions(priority: 5))
            let high = try client.enqueue("work", "high", options: JobOptions(priority: -5))
            // The first listed queue that has a job wins; within it, the lowest priority value.
            #expect(try client.reserve(["empty", "work", "orders"], timeout: 0)?.id == high.id)
            #expect(try client.reserve(["empty", "work", "orders"], timeout: 0)?.id == low.id)
            #expect(try client.reserve(["empty", "work", "orders"], timeout: 0)?.id == keyed.id)
            #expect(try client.reserve(["empty", "work", "orders"], timeout: 0) == nil)

            // Only the holder may finish a job.
            #expect(throws: DocketError.self) { try other.ack(high.id) }
            // retry=no: dead at once, attempts left or not.
            #expect(try client.fail(high.id, reason: "bad input", retry: .never) == .dead)
            // retry=<duration>: this long instead of the backoff.
            #expect(try client.fail(low.id, retry: .after(.milliseconds(20))) == .retry(afterMilliseconds: 20))
            // A throttle keeps the attempt and holds the queue.
            #expect(try client.throttle(keyed.id, for: 0.2, reason: "429") == .throttled(milliseconds: 200))
            #expect(try client.inspect(keyed.id).state == "waiting")
            // …and the attempt is given back: the next run is attempt 1 again.
            #expect(try client.reserve("orders", timeout: 0) == nil)
            #expect(try client.reserve("orders", timeout: 5)?.attempt == 1)

            // Every dead job of a queue runs again.
            let doomed = try client.enqueueMany("doomed", [[1], [2], [3]], options: JobOptions(attempts: 1))
            #expect(doomed.map(\.duplicate) == [false, false, false])
            for _ in 0..<3 {
                let job = try #require(try client.reserve("doomed", timeout: 0))
                #expect(try client.fail(job.id) == .dead)
            }
            #expect(try client.retryQueue("doomed") == 3)
            #expect(try client.dead("doomed").isEmpty)

            try client.delete(low.id)
            #expect(throws: DocketError.self) { _ = try client.inspect(low.id) }
            // Delayed jobs wait their turn.
            let delayed = try client.enqueue("later", "x", options: JobOptions(delay: .milliseconds(300)))
            #expect(try client.inspect(delayed.id).state == "delayed")
            #expect(try client.reserve("later", timeout: 0) == nil)
            #expect(try client.reserve("later", timeout: 5)?.id == delayed.id)
        }
    }

    @Test func progressAndTouch() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let events = try EventLog(server, queue: "render")
            defer { events.close() }
            let id = try client.enqueue("render", "frame").id
            let job = try #require(try client.reserve("render", timeout: 5))
            try client.progress(job.id, percent: 50, note: "half way")
            try client.touch(job.id)
            let info = try client.inspect(id)
            #expect(info.state == "active")
            #expect(info.progress == 50)
            #expect(info.progressNote == "half way")
            #expect(throws: DocketError.self) { try client.progress(job.id, percent: 101) }
            try client.ack(job.id)
            let progress = events.wait { $0.event == "progress" }
            #expect(progress?.progress == 50 && progress?.note == "half way")
            // The lifecycle in order, seq increasing by one.
            #expect(events.wait { $0.event == "completed" } != nil)
            let sequence = events.of(id)
            #expect(sequence.map(\.event) == ["enqueued", "started", "progress", "completed"])
            #expect(zip(sequence, sequence.dropFirst()).allSatisfy { $1.seq == $0.seq + 1 })
        }
    }

    @Test func waitForOutcomes() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            let worker = try DocketConnection(server.address)
            defer {
                client.close()
                worker.close()
            }
            let id = try client.enqueue("q", "input").id
            // Still waiting when the timeout passes.
            #expect(try client.wait(id, timeout: .milliseconds(100)) == .pending(state: "waiting"))
            // Completed by another connection while this one waits.
            background {
                usleep(200_000)
                if let job = try? worker.reserve("q", timeout: 5) { try? worker.ack(job.id, result: "output") }
            }
            #expect(try client.wait(id, timeout: 10) == .completed(result: Array("output".utf8)))
            // Already finished: answered at once.
            #expect(try client.wait(id).text == "output")
            // Dead.
            let doomed = try client.enqueue("q", "x", options: JobOptions(attempts: 1)).id
            let job = try #require(try worker.reserve("q", timeout: 5))
            try worker.fail(job.id, reason: "no way")
            #expect(try client.wait(doomed, timeout: 5) == .dead(error: Array("no way".utf8)))
            #expect(throws: DocketError.self) { _ = try client.wait(424_242, timeout: 1) }
        }
    }

    @Test func queueSettingsStatsAndRoutes() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            try client.setQueue("render", [.rate(100, per: 1), .concurrency(2), .attempts(7)])
            var document = try client.queue("render")
            #expect(document["config"]?["rate"]?.stringValue == "100/1000ms")
            #expect(document["config"]?["concurrency"]?.int == 2)
            #expect(document["config"]?["attempts"]?.int == 7)
            // The queue's default applies to new jobs.
            let id = try client.enqueue("render", "x").id
            #expect(try client.inspect(id).maxAttempts == 7)
            try client.setQueue("render", [.reset("concurrency")])
            #expect(try client.queue("render")["config"]?["concurrency"] == .null)
            #expect(throws: DocketError.self) { try client.setQueue("render", [QueueSetting("speed", "11")]) }

            // Paused: nothing starts; resumed: it does.
            try client.pause("render")
            document = try client.queue("render")
            #expect(document["paused"]?.boolValue == true)
            #expect(try client.reserve("render", timeout: 0) == nil)
            try client.resume("render")
            #expect(try client.reserve("render", timeout: 5)?.id == id)

            let queues = try client.queues()
            let names = queues.compactMap { $0["queue"]?.stringValue }
            #expect(names.contains("render"))
            let stats = try client.stats()
            #expect(stats["jobs"]?.int == 1)
            #expect(stats["queues"]?.int ?? 0 >= 1)
            #expect(try client.help().contains("RESERVE"))

            // Routes turn published messages into jobs.
            let route = try client.route("orders.*", to: "routed", options: JobOptions(attempts: 2))
            let listed = try client.routes()
            #expect(listed.count == 1 && listed[0]["queue"]?.stringValue == "routed")
            try client.publish("orders.eu", "order 42")
            try client.flush()
            let routed = try #require(try client.reserve("routed", timeout: 5))
            #expect(routed.text == "order 42")
            #expect(try client.inspect(routed.id).maxAttempts == 2)
            try client.unroute(route)
            #expect(try client.routes().isEmpty)
            #expect(throws: DocketError.self) { try client.route("orders.*", to: "routed", options: JobOptions(key: "k")) }
        }
    }
}
