import DocketClient
import Foundation
import Testing

@Suite struct WorkerTests {
    @Test func concurrencyFourFortyJobsEachDoneOnce() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let ids = try client.enqueueMany("batch", (0..<40).map { Array("job-\($0)".utf8) }).map(\.id)
            #expect(Set(ids).count == 40)

            let handled = Locked<[UInt64: Int]>([:])
            let running = Locked<(now: Int, max: Int)>((0, 0))
            let worker = try Worker(
                address: server.address, queues: ["batch"], options: Worker.Options(concurrency: 4, pollInterval: 0.2)
            ) { context in
                running.withLock { $0 = ($0.now + 1, max($0.max, $0.now + 1)) }
                handled.withLock { $0[context.id, default: 0] += 1 }
                usleep(30_000)
                running.withLock { $0.now -= 1 }
                return Array("done-\(context.text)".utf8)
            }
            try worker.start()
            let finished = eventually(timeout: 20) { worker.completed == 40 }
            worker.stop()
            #expect(worker.wait(timeout: 5))
            #expect(finished)
            #expect(worker.runningSlots == 0)
            #expect(handled.current.count == 40)
            #expect(handled.current.values.allSatisfy { $0 == 1 })
            #expect(running.current.max <= 4)
            #expect(running.current.max >= 2)
            for (index, id) in ids.enumerated() {
                let info = try client.inspect(id)
                #expect(info.state == "completed" && info.attempts == 1 && info.result == "done-job-\(index)")
            }
        }
    }

    /// The lease leaves room for a loaded machine's stalls (the Swift suite runs in parallel).
    @Test func heartbeatsKeepALongJob() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let events = try EventLog(server, queue: "slow")
            defer { events.close() }
            let id = try client.enqueue("slow", "long", options: JobOptions(attempts: 3, lease: .milliseconds(1_500))).id
            let calls = Locked(0)
            let worker = try Worker(address: server.address, queues: ["slow"], options: Worker.Options(pollInterval: 0.2)) {
                context in
                calls.withLock { $0 += 1 }
                usleep(3_000_000)
                #expect(!context.leaseLost)
                return Array("finished".utf8)
            }
            try worker.start()
            defer {
                worker.stop()
                worker.wait(timeout: 5)
            }
            #expect(try client.wait(id, timeout: 10) == .completed(result: Array("finished".utf8)))
            let info = try client.inspect(id)
            #expect(info.attempts == 1)
            #expect(calls.current == 1)
            #expect(!events.all.contains { $0.event == "stalled" })
        }
    }

    @Test func withoutHeartbeatsTheSameJobStalls() throws {
        // The control for the test above: the lease really is short enough to expire.
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let events = try EventLog(server, queue: "slow")
            defer { events.close() }
            let id = try client.enqueue("slow", "long", options: JobOptions(attempts: 3, lease: .milliseconds(1_500))).id
            let worker = try Worker(
                address: server.address, queues: ["slow"], options: Worker.Options(heartbeat: .off, pollInterval: 0.2)
            ) { context in
                usleep(3_000_000)
                return nil
            }
            try worker.start()
            defer {
                worker.stop()
                worker.wait(timeout: 5)
            }
            #expect(events.wait(timeout: 5) { $0.event == "stalled" && $0.id == id } != nil)
        }
    }

    struct Broken: Error, CustomStringConvertible {
        var description: String { "the printer is on fire" }
    }

    @Test func handlerErrorsFailJobs() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let retried = try client.enqueue("q", "retry me", options: JobOptions(attempts: 2, backoff: .fixed(.milliseconds(50)))).id
            let permanent = try client.enqueue("q", "give up", options: JobOptions(attempts: 5)).id
            let outcomes = Locked<[String]>([])
            let worker = try Worker(
                address: server.address, queues: ["q"],
                options: Worker.Options(
                    concurrency: 2, pollInterval: 0.2,
                    onEvent: { event in
                        if case .failed(let job, _, let outcome) = event { outcomes.withLock { $0.append("\(job.id):\(String(describing: outcome))") } }
                    })
            ) { context in
                if context.text == "give up" { throw JobFailure.permanent("invalid input") }
                throw Broken()
            }
            try worker.start()
            defer {
                worker.stop()
                worker.wait(timeout: 5)
            }
            #expect(try client.wait(retried, timeout: 10) == .dead(error: Array("the printer is on fire".utf8)))
            #expect(try client.wait(permanent, timeout: 10) == .dead(error: Array("invalid input".utf8)))
            #expect(try client.inspect(retried).attempts == 2)
            #expect(try client.inspect(permanent).attempts == 1)
            #expect(eventually { worker.failed == 3 })
        }
    }

    @Test func stopLetsARunningHandlerFinish() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let id = try client.enqueue("q", "x").id
            let started = Locked(false)
            let worker = try Worker(address: server.address, queues: ["q"], options: Worker.Options(pollInterval: 0.2)) { _ in
                started.withLock { $0 = true }
                usleep(500_000)
                return Array("ok".utf8)
            }
            try worker.start()
            #expect(eventually { started.current })
            worker.stop()
            #expect(worker.wait(timeout: 5))
            #expect(try client.inspect(id).state == "completed")
            // Nothing is taken after the stop.
            let later = try client.enqueue("q", "y").id
            usleep(300_000)
            #expect(try client.inspect(later).state == "waiting")
        }
    }
}
