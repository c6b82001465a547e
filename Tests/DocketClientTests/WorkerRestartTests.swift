import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// The restart-under-load scenario, short form: a worker keeps working while its server is
/// stopped (SIGTERM) and later killed (kill -9) and started again on the same port and data.
@Suite struct WorkerRestartTests {
    @Test func aWorkerFinishesEveryJobAcrossARestartAndACrash() throws {
        let total = 2000
        let flags = ["--keep-completed", "10000"]
        var server = try DocketdProcess(flags)
        var stopped: [DocketdProcess] = []
        defer {
            server.stop(timeout: 5)
            for old in stopped { old.stop(timeout: 1) }
        }
        let producer = try DocketConnection(server.address)
        for index in 0..<total { _ = try producer.enqueue("load", "job \(index)", options: JobOptions(key: "k-\(index)")) }
        producer.close()

        let runs = Locked<[(id: UInt64, delivery: UInt64?)]>([])
        let unexpected = Locked<[String]>([])
        let worker = try Worker(
            address: server.address, queues: ["load"],
            options: Worker.Options(
                concurrency: 4,
                onEvent: { event in
                    if case .failed(let job, let reason, _) = event { unexpected.withLock { $0.append("job \(job.id) failed: \(reason)") } }
                })
        ) { context in
            runs.withLock { $0.append((context.id, context.delivery)) }
            usleep(200)
            return nil
        }
        try worker.start()
        defer { worker.stop() }

        func waitForRuns(_ count: Int) { _ = eventually(timeout: 30) { runs.current.count >= count } }
        waitForRuns(500)
        server.stop()
        stopped.append(server)
        server = try server.restart(flags)
        waitForRuns(1200)
        server.crash()
        stopped.append(server)
        server = try server.restart(flags)

        let checker = try DocketConnection(server.address)
        defer { checker.close() }
        func count(_ state: String) -> Int? { (try? checker.queue("load"))?["jobs"]?[state]?.numberValue.map { Int($0) } }
        #expect(eventually(timeout: 60) { count("completed") == total })
        for state in ["waiting", "delayed", "active", "dead"] { #expect(count(state) == 0, "\(state)") }
        let all = runs.current
        #expect(Set(all.map(\.id)).count == total)
        // A job runs twice only where its ACK could have been lost with a server: at most the
        // slots' jobs in flight at each of the two stops (and their retries after the crash).
        #expect(all.count - total <= 2 * 4 * 2, "\(all.count - total) extra runs")
        let deliveries = all.compactMap(\.delivery)
        #expect(deliveries.count == all.count)
        #expect(Set(deliveries).count == deliveries.count)
        #expect(unexpected.current.isEmpty, "\(unexpected.current)")
    }
}
