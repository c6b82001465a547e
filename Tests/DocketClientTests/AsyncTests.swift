import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// Starts a docketd for one async test and stops it afterwards.
func withServer<T>(_ flags: [String] = [], _ body: (DocketdProcess) async throws -> T) async throws -> T {
    let server = try DocketdProcess(flags)
    defer { server.stop(timeout: 5) }
    return try await body(server)
}

/// How long a test waits for async workers to finish a job. Swift Testing runs every test on
/// the cooperative pool, one thread per core: on a 2-core machine two synchronous tests that
/// block (socket reads, a server starting) leave an async worker no thread for seconds at a
/// time, and a 10 s wait failed in CI that way. WAIT returns as soon as the job is done.
let workerWaitSeconds: DocketDuration = 60

/// Polls `condition` (without blocking a thread) until it holds or `timeout` seconds pass.
func awaitUntil(seconds timeout: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return try await condition()
}

/// The `DocketError` a task ended with (nil if it succeeded).
func docketError<T>(_ task: Task<T, any Error>) async -> DocketError? {
    switch await task.result {
    case .success: return nil
    case .failure(let error): return error as? DocketError
    }
}

@Suite(.timeLimit(.minutes(2))) struct AsyncConnectionTests {
    @Test func everyVerbAwaited() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let id = try await client.enqueue("emails", "hello", options: JobOptions(attempts: 2, group: "acme")).id
            #expect(try await client.wait(id, timeout: 0) == .pending(state: "waiting"))
            let job = try #require(try await client.reserve("emails", timeout: 5))
            #expect(job.id == id && job.text == "hello" && job.attempt == 1)
            try await client.progress(id, percent: 50, attempt: job.attempt, note: "half")
            try await client.touch(id, attempt: job.attempt)
            #expect(try await client.inspect(id).progress == 50)
            try await client.ack(id, attempt: job.attempt, result: "sent")
            #expect(try await client.wait(id) == .completed(result: Array("sent".utf8)))

            let doomed = try await client.enqueue("emails", "x").id
            let held = try #require(try await client.reserve(["other", "emails"], timeout: 5))
            #expect(try await client.fail(held.id, attempt: held.attempt, reason: "bad", retry: .never) == .dead)
            #expect(try await client.wait(doomed, timeout: 1) == .dead(error: Array("bad".utf8)))
            #expect(try await client.dead("emails").map(\.id) == [doomed])
            try await client.retry(doomed)
            #expect(try await client.inspect(doomed).state == "waiting")
            try await client.delete(doomed)
            #expect(try await client.reserve("emails", timeout: 0) == nil)
            #expect(await docketError(Task { try await client.inspect(doomed) })?.code == .notFound)

            let many = try await client.enqueueMany("bulk", (0..<50).map { Array("job \($0)".utf8) })
            #expect(many.count == 50 && Set(many.map(\.id)).count == 50)

            try await client.setQueue("bulk", [.concurrency(2), .rate("10/s")])
            let info = try await client.queue("bulk")
            #expect(info.config.concurrency == 2 && info.config.rate == "10/1000ms" && info.jobs.waiting == 50)
            try await client.pause("bulk")
            #expect(try await client.queue("bulk").paused)
            try await client.resume("bulk")
            #expect(try await client.queues().map(\.queue).contains("bulk"))
            #expect(try await client.stats().jobs == 51)
            #expect(try await client.help().contains("WAIT"))

            let route = try await client.route("orders.*", to: "routed")
            #expect(try await client.routes().map(\.id) == [route])
            let ids = try await client.publishRouted("orders.new", "order 1")
            #expect(ids.count == 1)
            #expect(try await client.reserve("routed", timeout: 5)?.id == ids.first)
            try await client.unroute(route)
            #expect(try await client.publishRouted("orders.new", "nobody") == [])

            let busy = try await client.enqueue("t", "x", options: JobOptions(group: "g")).id
            let throttled = try #require(try await client.reserve("t", timeout: 5))
            #expect(throttled.id == busy)
            #expect(try await client.throttle(busy, attempt: throttled.attempt, for: 30, scope: .group) == .throttled(milliseconds: 30_000))

            // Browsing follows the pages; repair and schedules are awaited like the rest.
            var listed: [UInt64] = []
            for try await job in client.jobs(in: "bulk", pageSize: 7) { listed.append(job.id) }
            #expect(listed == many.map(\.id))
            #expect(try await client.list("bulk", limit: 50).next == nil)
            let later = try await client.enqueue("later", "x", options: JobOptions(delay: 3600)).id
            try await client.promote(later)
            #expect(try await client.purge("later", state: .waiting) == 1)
            try await client.schedule("hourly", queue: "reports", .cron("@hourly"))
            try await client.pauseSchedule("hourly")
            #expect(try await client.schedules().map(\.paused) == [true])
            try await client.resumeSchedule("hourly")
            try await client.unschedule("hourly")
            #expect(try await client.schedules().isEmpty)

            // A job error is thrown as .server, and nothing breaks.
            #expect(await docketError(Task { try await client.ack(424_242) })?.code == .notFound)
            try await client.flush()
            #expect(client.isConnected)
            await client.close()
            #expect(client.isClosed)
        }
    }

    /// Waiting RESERVEs and WAITs hold no thread: far more of them than the cooperative pool has
    /// threads wait at once, and the pool still runs the work that ends them.
    @Test func waitingCallsHoldNoThread() async throws {
        try await withServer { server in
            let count = 32
            let producer = try await AsyncDocketConnection(server.address)
            var waiters: [AsyncDocketConnection] = []
            for _ in 0..<count { waiters.append(try await AsyncDocketConnection(server.address)) }
            var ids: [UInt64] = []
            for index in 0..<count { ids.append(try await producer.enqueue("slow", "\(index)").id) }

            try await withThrowingTaskGroup(of: WaitOutcome.self) { group in
                for (index, waiter) in waiters.enumerated() {
                    let id = ids[index]
                    group.addTask { try await waiter.wait(id) }
                }
                // Every WAIT is now (or soon) held by the server; this task still runs.
                for _ in 0..<count {
                    let job = try #require(try await producer.reserve("slow", timeout: 5))
                    try await producer.ack(job.id, attempt: job.attempt, result: "r\(job.text)")
                }
                var completed = 0
                for try await outcome in group {
                    if case .completed = outcome { completed += 1 }
                }
                #expect(completed == count)
            }

            // The same for RESERVEs without a timeout.
            try await withThrowingTaskGroup(of: Job?.self) { group in
                for waiter in waiters { group.addTask { try await waiter.reserve("idle") } }
                try await Task.sleep(nanoseconds: 100_000_000)
                #expect(try await producer.stats().connections == count + 1)
                _ = try await producer.enqueueMany("idle", (0..<count).map { Array("\($0)".utf8) })
                var taken = Set<UInt64>()
                for try await job in group { if let job { taken.insert(job.id) } }
                #expect(taken.count == count)
            }
            for waiter in waiters { await waiter.close() }
            await producer.close()
        }
    }

    @Test func cancellingAWaitingReserveOrWaitEndsItWithCancelAndKeepsTheConnection() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(
                server.address, options: DocketConnection.Options(reconnectWait: .milliseconds(20)))
            // A job the connection holds while its RESERVE is cancelled: dropping the connection
            // (as before CANCEL) gave it back as a lost attempt.
            let heldID = try await client.enqueue("held", "h").id
            let held = try #require(try await client.reserve("held", timeout: 5))
            let waiting = Task { try await client.reserve("nothing-yet") }
            try await Task.sleep(nanoseconds: 200_000_000)
            waiting.cancel()
            #expect(await docketError(waiting) == .cancelled)
            // The connection answers at once, the same connection.
            try await client.flush(timeout: 3)
            #expect(client.reconnects == 0)
            // The ended RESERVE took nothing: the next job is free, on its first attempt.
            let id = try await client.enqueue("nothing-yet", "x").id
            let job = try #require(try await client.reserve("nothing-yet", timeout: 5))
            #expect(job.id == id && job.attempt == 1)
            try await client.ack(held.id, attempt: held.attempt)
            #expect(try await client.inspect(heldID).state == "completed")

            // A WAIT likewise (on another job: a WAIT without a timeout for a job the connection
            // holds is refused, since it could never end).
            let other = try await client.enqueue("other", "y").id
            let watching = Task { try await client.wait(other) }
            try await Task.sleep(nanoseconds: 200_000_000)
            watching.cancel()
            #expect(await docketError(watching) == .cancelled)
            // Ended by CANCEL too: the same connection answers at once, and the job it holds
            // stays its own (dropping the connection, as before, gave it back as a lost attempt).
            try await client.flush(timeout: 3)
            #expect(client.reconnects == 0)
            #expect(try await client.inspect(id).state == "active")
            try await client.ack(job.id, attempt: job.attempt)
            await client.close()
        }
    }

    @Test func aCallCancelledBeforeItIsSentSendsNothing() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let task = Task { () async throws -> Enqueued in
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.enqueue("never", "x")
            }
            #expect(await docketError(task) == .cancelled)
            #expect(try await client.queues().isEmpty)
            #expect(client.reconnects == 0)
            await client.close()
        }
    }

    @Test func aCommandIssuedWhileReconnectingWaitsForTheNewConnection() async throws {
        let first = try DocketdProcess()
        let client = try await AsyncDocketConnection(
            first.address, options: DocketConnection.Options(reconnectWait: .milliseconds(20), reconnectTimeout: 20))
        let id = try await client.enqueue("restart", "durable", options: JobOptions(key: "k")).id
        first.stop(timeout: 5)
        #expect(await awaitUntil { !client.isConnected })
        // Sent on a thread of its own once the server is back.
        let pending = Task { try await client.enqueue("restart", "durable", options: JobOptions(key: "k")) }
        let second = try first.restart()
        defer { second.stop(timeout: 5) }
        let again = try await pending.value
        #expect(again.id == id && again.duplicate)
        #expect(client.reconnects >= 1)
        await client.close()
    }

    @Test func subscriptionsAreAsyncSequences() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let subscription = try client.subscribe("news.*")
            try await client.flush()
            // A task already waiting gets the message straight from the reader.
            let first = Task { try await subscription.next(timeout: 5) }
            try await Task.sleep(nanoseconds: 50_000_000)
            try client.publish("news.a", "1")
            #expect(try await first.value.text == "1")
            for text in ["2", "3", "4"] { try client.publish("news.b", text) }
            var texts: [String] = []
            for await message in subscription {
                texts.append(message.text)
                if texts.count == 3 { try subscription.unsubscribe() }
            }
            #expect(texts == ["2", "3", "4"])
            // Ended: the loop above finished; next throws.
            #expect(await docketError(Task { try await subscription.next(timeout: 1) }) == .subscriptionClosed)

            let quiet = try client.subscribe("quiet")
            #expect(await docketError(Task { try await quiet.next(timeout: 0.1) }) == .timeout)
            let reply = try client.subscribe("svc.echo")
            let responder = Task {
                for await message in reply {
                    if let to = message.reply { try client.publish(to, "echo " + message.text) }
                }
            }
            try await client.flush()
            #expect(try await client.request("svc.echo", "hi", timeout: 5).text == "echo hi")
            #expect(await docketError(Task { try await client.request("svc.nobody", "hi", timeout: 5) }) == .noResponders)
            try reply.unsubscribe()
            try await responder.value
            await client.close()
        }
    }

    @Test func lifecycleEventsAreTypedAndAsync() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let events = try client.events(queue: "ev")
            let completedOnly = try client.events(queue: "*", event: "completed")
            try await client.flush()
            let id = try await client.enqueue("ev", "x").id
            let job = try #require(try await client.reserve("ev", timeout: 5))
            try await client.ack(job.id, attempt: job.attempt, result: "ok")
            var kinds: [JobEvent.Kind] = []
            for await event in events {
                #expect(event.id == id && event.queue == "ev")
                kinds.append(event.kind)
                if event.kind == .completed { break }
            }
            #expect(kinds == [.enqueued, .started, .completed])
            let completed = try await completedOnly.next(timeout: 5)
            #expect(completed.kind == .completed && completed.resultBytes == 2 && completed.state == "completed")
            #expect(throws: DocketError.self) { _ = try client.events(queue: "bad.queue") }
            await client.close()
        }
    }
}

// Serialized: blockingHandlersKeepTheirLeases holds every thread of the cooperative pool for a
// while, which would delay the other lease tests' slots between a RESERVE and their handler.
@Suite(.serialized, .timeLimit(.minutes(3))) struct AsyncWorkerTests {
    @Test func runsAsyncHandlersOnSlots() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let seen = Locked<Set<UInt64?>>([])
            let worker = try AsyncWorker(
                address: server.address, queues: ["aw"], options: Worker.Options(concurrency: 3, pollInterval: .milliseconds(100))
            ) { context in
                try await context.progress(50, note: "half")
                seen.withLock { _ = $0.insert(context.delivery) }
                switch context.text {
                case "bad": throw JobFailure.permanent("no way")
                case "later": throw JobFailure.retryAfter(.milliseconds(50), "once more")
                default: return Array("done \(context.text)".utf8)
                }
            }
            let run = Task { try await worker.run() }
            var ids: [UInt64] = []
            for index in 0..<10 { ids.append(try await client.enqueue("aw", "\(index)").id) }
            let bad = try await client.enqueue("aw", "bad").id
            let later = try await client.enqueue("aw", "later", options: JobOptions(attempts: 2)).id
            for (index, id) in ids.enumerated() {
                #expect(try await client.wait(id, timeout: workerWaitSeconds) == .completed(result: Array("done \(index)".utf8)))
            }
            #expect(try await client.wait(bad, timeout: workerWaitSeconds) == .dead(error: Array("no way".utf8)))
            #expect(try await client.wait(later, timeout: workerWaitSeconds) == .dead(error: Array("once more".utf8)))
            #expect(try await client.inspect(later).attempts == 2)
            worker.stop()
            try await run.value
            #expect(worker.completed == 10 && worker.failed == 3 && worker.runningSlots == 0)
            #expect(seen.current.count == 13)  // a delivery id per run
            await client.close()
        }
    }

    /// Handlers that block their threads (CPU-bound work, a blocking call), one on every thread
    /// of the cooperative pool, for longer than the lease, keep their jobs: heartbeats come from
    /// a thread of their own.
    @Test func blockingHandlersKeepTheirLeases() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let slots = max(2, ProcessInfo.processInfo.activeProcessorCount)
            let started = Locked(0)
            let worker = try AsyncWorker(address: server.address, queues: ["busy"], options: Worker.Options(concurrency: slots)) {
                context in
                // Every job in hand first (a slot resumed late would start late, lease or not),
                // then one and a half leases holding a pool thread each: long enough to lose a
                // lease kept by a task, short enough not to stall the rest of the process long.
                started.withLock { $0 += 1 }
                while started.current < slots { try await Task.sleep(nanoseconds: 10_000_000) }
                usleep(1_500_000)
                return context.leaseLost ? nil : Array("kept".utf8)
            }
            var ids: [UInt64] = []
            for _ in 0..<slots { ids.append(try await client.enqueue("busy", "x", options: JobOptions(lease: 1)).id) }
            let run = Task { try await worker.run() }
            for id in ids {
                #expect(try await client.wait(id, timeout: 30) == .completed(result: Array("kept".utf8)))
                #expect(try await client.inspect(id).attempts == 1)
            }
            worker.stop()
            try await run.value
            await client.close()
        }
    }

    /// A job handed to a slot while every pool thread is blocked by other handlers keeps its
    /// lease until the slot gets a thread: its heartbeats start on the reader thread, as the
    /// JOB arrives, not when the slot's task resumes.
    @Test func aJobWaitingForAPoolThreadKeepsItsLease() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let threads = max(2, ProcessInfo.processInfo.activeProcessorCount)
            let blocking = Locked(0)
            let worker = try AsyncWorker(
                // The idle slot's RESERVE outlasts the blocked pool, so the late job is handed to it.
                address: server.address, queues: ["busy", "late"], options: Worker.Options(concurrency: threads + 1, pollInterval: 5)
            ) { context in
                guard context.queue == "busy" else { return context.leaseLost ? nil : Array("kept".utf8) }
                blocking.withLock { $0 += 1 }
                usleep(1_500_000)  // one and a half leases of the late job, holding a pool thread
                return nil
            }
            let run = Task { try await worker.run() }
            // The late job goes in from a thread of its own once every pool thread is blocked
            // (this test's task cannot run then), to the one slot still waiting on its RESERVE.
            let late = Locked<UInt64>(0)
            let producer = Thread {
                while blocking.current < threads { usleep(5_000) }
                usleep(100_000)
                if let connection = try? DocketConnection(server.address) {
                    late.withLock { $0 = (try? connection.enqueue("late", "y", options: JobOptions(lease: 1)))?.id ?? 0 }
                    connection.close()
                }
            }
            producer.start()
            // Every slot connected and waiting on its RESERVE; then one job per pool thread.
            try await Task.sleep(nanoseconds: 500_000_000)
            for _ in 0..<threads { _ = try await client.enqueue("busy", "x") }
            while late.current == 0 { try await Task.sleep(nanoseconds: 5_000_000) }
            #expect(try await client.wait(late.current, timeout: 30) == .completed(result: Array("kept".utf8)))
            #expect(try await client.inspect(late.current).attempts == 1, "its first attempt's lease held")
            worker.stop()
            try await run.value
            await client.close()
        }
    }

    @Test func heartbeatsFollowTheLease() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let worker = try AsyncWorker(address: server.address, queues: ["hb"], options: Worker.Options(pollInterval: .milliseconds(100))) {
                context in
                // Over twice the lease: only heartbeats keep it (a fixed 10 s heartbeat would
                // lose it). A 4 s lease leaves a loaded machine (the whole suite runs in
                // parallel, CI may run more beside it) room for a heartbeat seconds late.
                try await Task.sleep(nanoseconds: 9_000_000_000)
                return context.leaseLost ? nil : Array("kept".utf8)
            }
            let run = Task { try await worker.run() }
            let id = try await client.enqueue("hb", "x", options: JobOptions(lease: 4)).id
            #expect(try await client.wait(id, timeout: 25) == .completed(result: Array("kept".utf8)))
            #expect(try await client.inspect(id).attempts == 1)
            worker.stop()
            try await run.value
            await client.close()
        }
    }

    /// Cancelling the task that runs the worker stops it gracefully: the handler running then is
    /// not cancelled, finishes, and its job is acknowledged.
    @Test func cancellingRunStopsGracefully() async throws {
        try await withServer { server in
            let client = try await AsyncDocketConnection(server.address)
            let started = Locked(false)
            let worker = try AsyncWorker(address: server.address, queues: ["gs"], options: Worker.Options(pollInterval: .milliseconds(100))) {
                context in
                started.withLock { $0 = true }
                try await Task.sleep(nanoseconds: 500_000_000)
                return Array("finished".utf8)
            }
            let run = Task { try await worker.run() }
            let id = try await client.enqueue("gs", "x").id
            #expect(await awaitUntil { started.current })
            run.cancel()
            try await run.value
            #expect(worker.isStopping && worker.runningSlots == 0)
            #expect(try await client.wait(id, timeout: 0) == .completed(result: Array("finished".utf8)))
            // Stopped: nothing more is taken.
            let next = try await client.enqueue("gs", "y").id
            try await Task.sleep(nanoseconds: 300_000_000)
            #expect(try await client.inspect(next).state == "waiting")
            await client.close()
        }
    }

    /// --max-queues does not bound PostgreSQL's queues (PROTOCOL.md), so not there.
    @Test(.enabled(if: DocketdProcess.storeUnderTest == "lmdb")) func aQueueTheServerRefusesEndsTheRun() async throws {
        try await withServer(["--max-queues", "1"]) { server in
            let client = try await AsyncDocketConnection(server.address)
            try await client.enqueue("only", "x")
            let worker = try AsyncWorker(address: server.address, queues: ["another"]) { _ in nil }
            // A waiting RESERVE on a new queue would make one: LIMIT, which nothing will cure.
            let error = await docketError(Task { try await worker.run() })
            #expect(error?.code == .limit)
            await client.close()
        }
    }
}
