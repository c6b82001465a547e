import Dispatch
import DocketTestSupport
import Foundation
import Synchronization
import Testing
@testable import docket_bench

@Suite struct LatencyHistogramTests {
    @Test func isExactBelowSixtyFour() {
        // Up to 63 every value has a bucket of its own.
        var histogram = LatencyHistogram()
        for value in 1...50 { histogram.record(UInt64(value)) }
        #expect(histogram.total == 50)
        #expect(histogram.maximum == 50)
        #expect(histogram.percentile(0) == 1)
        #expect(histogram.percentile(0.5) == 25)
        #expect(histogram.percentile(0.9) == 45)
        #expect(histogram.percentile(0.99) == 50)
        #expect(histogram.percentile(1) == 50)
    }

    @Test func reportsTheTopOfTheBucketCappedAtTheMaximum() {
        // From 64 to 127 buckets are two wide: 90 shares one with 91.
        var histogram = LatencyHistogram()
        for value in 1...100 { histogram.record(UInt64(value)) }
        #expect(histogram.percentile(0.9) == 91)
        // Rank 100 is in the bucket 100...101, capped at the largest value seen.
        #expect(histogram.percentile(0.999) == 100)
    }

    @Test func separatesTwoPopulations() {
        var histogram = LatencyHistogram()
        for _ in 0..<900 { histogram.record(1_000_000) }  // 1 ms
        for _ in 0..<100 { histogram.record(10_000_000) }  // 10 ms
        let p50 = histogram.percentile(0.5)!
        #expect(p50 >= 1_000_000 && p50 <= 1_000_000 + 1_000_000 / 32)
        let p90 = histogram.percentile(0.9)!
        #expect(p90 >= 1_000_000 && p90 <= 1_000_000 + 1_000_000 / 32)
        #expect(histogram.percentile(0.901) == 10_000_000)
        #expect(histogram.percentile(0.99) == 10_000_000)
        let summary = LatencySummary(histogram)
        #expect(summary.count == 1000)
        #expect(summary.p99Ms == 10)
        #expect(summary.maxMs == 10)
    }

    @Test func staysWithinAThirtySecondOfTheExactPercentile() {
        var generator = SeededGenerator(seed: 42)
        var values: [UInt64] = []
        var histogram = LatencyHistogram()
        for _ in 0..<20_000 {
            // Log-uniform from 1 ns to about 17 minutes.
            let value = UInt64.random(in: 1...(1 << UInt64.random(in: 1...40, using: &generator)), using: &generator)
            values.append(value)
            histogram.record(value)
        }
        values.sort()
        for fraction in [0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999] {
            let rank = max(1, Int((fraction * Double(values.count)).rounded(.up)))
            let exact = values[rank - 1]
            let estimate = histogram.percentile(fraction)!
            #expect(estimate >= exact, "p\(fraction)")
            #expect(estimate <= exact + exact / 32, "p\(fraction): \(estimate) vs \(exact)")
        }
    }

    @Test func mergesAndHandlesExtremes() {
        var first = LatencyHistogram()
        var second = LatencyHistogram()
        #expect(first.percentile(0.5) == nil)
        #expect(LatencySummary(first).p50Ms == nil)
        first.record(0)
        second.record(UInt64.max)
        first.merge(second)
        #expect(first.total == 2)
        #expect(first.percentile(0.5) == 0)
        #expect(first.percentile(1) == UInt64.max)
    }
}

@Suite struct JobBudgetTests {
    @Test func handsOutExactlyTheLimit() {
        let budget = JobBudget(limit: 3)
        #expect((0..<5).map { _ in budget.claimEnqueue() } == [0, 1, 2, nil, nil])
        #expect((0..<5).map { _ in budget.claimReserve() } == [true, true, true, false, false])
    }

    @Test func handsOutEachClaimOnceAcrossThreads() {
        let budget = JobBudget(limit: 10_000)
        let claimed = Mutex<[Int]>([])
        let reserves = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var mine: [Int] = []
            var reserved = 0
            while let sequence = budget.claimEnqueue() { mine.append(sequence) }
            while budget.claimReserve() { reserved += 1 }
            claimed.withLock { $0 += mine }
            reserves.withLock { $0 += reserved }
        }
        #expect(claimed.withLock { $0.sorted() } == Array(0..<10_000))
        #expect(reserves.withLock { $0 } == 10_000)
    }
}

/// What producer and worker sessions send and count, driven with replies by hand. Their
/// connection goes to a socket that never answers: nothing is written, the output is inspected.
@Suite struct SessionAccountingTests {
    let listener: SilentListener
    let control = RunControl(timeoutSeconds: 30, target: 3)

    init() throws { listener = try SilentListener() }

    func connection() throws -> Connection {
        try Connection(to: LoopbackAddress("127.0.0.1")!, port: listener.port, receiveBufferSize: 4096)
    }

    @Test func producerKeepsItsWindowUntilTheBudgetIsSpent() throws {
        let wire = DocketJobWire(queue: "q", payloadSize: 16)
        let budget = JobBudget(limit: 5)
        let producer = ProducerSession(role: .producer(0), connection: try connection(), wire: wire, budget: budget,
                                       window: 3, control: control)
        producer.start(now: 100)
        #expect(text(of: producer.output).components(separatedBy: "ENQ q 16").count - 1 == 3)
        producer.output = OutputBuffer()
        for now in [110, 120, 130] as [UInt64] { try producer.handle(.done, now: now) }
        // Three confirmations free three slots, but only two jobs are left in the budget.
        #expect(text(of: producer.output).components(separatedBy: "ENQ q 16").count - 1 == 2)
        try producer.handle(.done, now: 500)
        try producer.handle(.done, now: 600)
        #expect(producer.stats.enqueued == 5)
        #expect(producer.stats.enqueueLatency.total == 5)
        // The first three were sent at 100 and confirmed at 110, 120 and 130.
        #expect(producer.stats.enqueueLatency.percentile(0) == 10)
        #expect(producer.stats.enqueueLatency.percentile(0.6) == 30)
        #expect(control.deliveredCount == 5)
        #expect(throws: BenchError.self) { try producer.handle(.done, now: 700) }
    }

    @Test func producerRefusesAJobWhereAConfirmationIsDue() throws {
        let wire = DocketJobWire(queue: "q", payloadSize: 16)
        let producer = ProducerSession(role: .producer(0), connection: try connection(), wire: wire,
                                       budget: JobBudget(limit: 1), window: 1, control: nil)
        producer.start(now: 0)
        #expect(throws: BenchError.self) { try producer.handle(.noJob, now: 1) }
    }

    @Test func workerReservesNoMoreThanTheBudgetAndAcksEachJob() throws {
        let wire = DocketJobWire(queue: "q", payloadSize: 16)
        let budget = JobBudget(limit: 3)
        let worker = WorkerSession(role: .worker(0), connection: try connection(), wire: wire, budget: budget,
                                   inFlight: 2, measureFromEnqueue: true, control: control)
        worker.start(now: 1_000)
        #expect(text(of: worker.output) == "RESERVE q timeout=1s\r\nRESERVE q timeout=1s\r\n")
        worker.output = OutputBuffer()

        func deliver(_ handle: String, enqueuedAt: UInt64, now: UInt64) throws {
            var payload = OutputBuffer()
            JobPayload.append(timestamp: enqueuedAt, sequence: 0, size: 16, to: &payload)
            let payloadBytes = Array(payload.pendingBytes)
            try bytes(handle).withUnsafeBytes { handleBytes in
                try payloadBytes.withUnsafeBytes { try worker.handle(.job(handle: handleBytes, payload: $0), now: now) }
            }
        }
        // A job: acked, and one more reserve sent in the same write.
        try deliver("7", enqueuedAt: 500, now: 2_000)
        #expect(text(of: worker.output) == "ACK 7\r\nRESERVE q timeout=1s\r\n")
        worker.output = OutputBuffer()
        // A timeout: the claim stands, the reserve is sent again.
        try worker.handle(.noJob, now: 2_500)
        #expect(text(of: worker.output) == "RESERVE q timeout=1s\r\n")
        #expect(worker.stats.reserveTimeouts == 1)
        worker.output = OutputBuffer()
        // Pending now: ack 7, reserve, reserve. The ack is confirmed 1500 ns after enqueue.
        try worker.handle(.done, now: 2_000)
        #expect(worker.stats.acked == 1)
        #expect(worker.stats.jobLatency.percentile(0.5) == 1_500)
        // The budget of three reserves is spent: jobs are acked, no reserve follows.
        try deliver("8", enqueuedAt: 600, now: 3_000)
        try deliver("9", enqueuedAt: 700, now: 3_000)
        #expect(text(of: worker.output) == "ACK 8\r\nACK 9\r\n")
        try worker.handle(.done, now: 3_000)
        try worker.handle(.done, now: 3_000)
        #expect(worker.stats.acked == 3)
        #expect(control.targetReached)
        #expect(throws: BenchError.self) { try worker.handle(.done, now: 3_000) }
    }

    @Test func cycleWorkerRejectsAJobItDidNotEnqueue() throws {
        let wire = DocketJobWire(queue: "q", payloadSize: 16)
        let worker = WorkerSession(role: .worker(0), connection: try connection(), wire: wire,
                                   budget: JobBudget(limit: 1), inFlight: 1, measureFromEnqueue: true, control: control)
        worker.start(now: 0)
        let error = #expect(throws: BenchError.self) {
            try bytes("1").withUnsafeBytes { handle in
                try bytes("not a timestamp!").withUnsafeBytes { try worker.handle(.job(handle: handle, payload: $0), now: 1) }
            }
        }
        #expect(error?.description.contains("did not enqueue") == true)
    }
}

@Suite struct SmallPartsTests {
    @Test func payloadCarriesItsTimestamp() {
        for size in [16, 31, 32, 64, 1000] {
            var output = OutputBuffer()
            JobPayload.append(timestamp: 0xfedc_ba98_7654_3210, sequence: 99, size: size, to: &output)
            let payload = Array(output.pendingBytes)
            #expect(payload.count == size)
            #expect(payload.withUnsafeBytes { JobPayload.timestamp(of: $0) } == 0xfedc_ba98_7654_3210)
        }
        #expect(bytes("0123456789ABCDEF").withUnsafeBytes { JobPayload.timestamp(of: $0) } == nil)
        #expect(bytes("0123").withUnsafeBytes { JobPayload.timestamp(of: $0) } == nil)
    }

    @Test func fifoKeepsOrderWhileGrowing() {
        var fifo = FIFO<Int>(capacity: 2)
        var expected: [Int] = []
        var popped: [Int] = []
        for round in 0..<50 {
            for value in 0..<(round % 7) { fifo.push(round * 10 + value); expected.append(round * 10 + value) }
            for _ in 0..<(round % 5) { if let value = fifo.pop() { popped.append(value) } }
        }
        while let value = fifo.pop() { popped.append(value) }
        #expect(popped == expected)
        #expect(fifo.isEmpty)
    }

    @Test func outputBufferFormatsNumbers() {
        var output = OutputBuffer()
        output.appendDecimal(0)
        output.append(bytes(" "))
        output.appendDecimal(1_234_567)
        output.append(bytes(" "))
        output.appendHex(0xab)
        #expect(text(of: output) == "0 1234567 00000000000000ab")
    }

    @Test func acceptsOnlyLoopbackAddresses() {
        #expect(LoopbackAddress("127.0.0.1") != nil)
        #expect(LoopbackAddress("127.45.6.7") != nil)
        #expect(LoopbackAddress("localhost")?.description == "127.0.0.1")
        #expect(LoopbackAddress("10.0.0.1") == nil)
        #expect(LoopbackAddress("192.168.1.1") == nil)
        #expect(LoopbackAddress("example.com") == nil)
        #expect(LoopbackAddress("::1") == nil)
    }

    @Test func readsProcessMemory() throws {
        let status = """
            Name:\tdocketd
            VmPeak:\t  500000 kB
            VmHWM:\t  210000 kB
            VmRSS:\t  180000 kB
            RssAnon:\t  150000 kB
            RssFile:\t   29000 kB
            RssShmem:\t    1000 kB
            Threads:\t2
            """
        let memory = try #require(ProcessMemory.parse(status: status))
        #expect(memory.residentBytes == 180_000 * 1024)
        #expect(memory.anonymousBytes == 150_000 * 1024)
        #expect(memory.fileBytes == 30_000 * 1024)
        #expect(memory.peakResidentBytes == 210_000 * 1024)
        #expect(ProcessMemory.parse(status: "Name:\tx\n") == nil)
        // Our own process has a resident set.
        #expect((ProcessMemory.of(pid: getpid())?.residentBytes ?? 0) > 0)
    }

    @Test func readsTheServerLog() {
        let recovered = "[123] 2025/01/01 10:00:00.000000 [INF] Recovered 1000000 jobs and 2 routes from "
            + "/tmp/a in 5 ms dir in 2345 ms (1000000 waiting, 0 delayed, 0 completed, 0 dead; layout version 1, sync always)"
        let figures = RecoveryScenario.recoveredFigures(in: recovered)
        #expect(figures?.jobs == 1_000_000)
        #expect(figures?.milliseconds == 2345)
        #expect(RecoveryScenario.recoveredFigures(in: "[INF] Server is ready") == nil)
        #expect(RecoveryScenario.listeningPort(in: "[1] x [INF] Listening for client connections on 127.0.0.1:40123") == 40123)
        #expect(RecoveryScenario.listeningPort(in: "[1] x [INF] Listening for client connections on [::1]:4222") == 4222)
        #expect(RecoveryScenario.listeningPort(in: "[1] x [INF] Server is ready") == nil)
    }
}

/// The keys `scripts/bench-compare.sh` reads from the JSON reports.
@Suite struct ReportContractTests {
    func keys(_ json: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test func jobsReport() throws {
        let plan = try JobsCommand.parse(["--jobs", "10"]).makePlan()
        let object = try keys(JobsReport(plan: plan).json)
        for key in ["ok", "jobs_per_second", "elapsed_seconds", "server_cpu_seconds", "client_cpu_seconds", "latency", "failure"] {
            #expect(object.keys.contains(key), "\(key)")
        }
        let latency = try #require(object["latency"] as? [String: Any])
        for key in ["p50_ms", "p99_ms", "p999_ms"] { #expect(latency.keys.contains(key), "\(key)") }
    }

    @Test func pubSubReport() throws {
        let plan = try PubSubCommand.parse(["--messages", "10"]).makePlan()
        let object = try keys(PubSubReport(plan: plan).json)
        for key in ["ok", "received_per_second", "elapsed_seconds", "server_cpu_seconds", "failure"] {
            #expect(object.keys.contains(key), "\(key)")
        }
    }

    @Test func recoveryReport() throws {
        let plan = try RecoveryCommand.parse(["--docketd", "/bin/true"]).makePlan()
        #expect(plan.jobs == 1_000_000)
        let object = try keys(RecoveryReport(plan: plan).json)
        for key in ["ok", "ready_seconds", "server_recovery_ms", "recovered_jobs", "memory_waiting", "memory_recovered",
                    "fill_seconds", "shutdown_seconds", "failure"] {
            #expect(object.keys.contains(key), "\(key)")
        }
    }

    @Test func commandLinesRefuseOtherHosts() {
        #expect(throws: (any Error).self) { _ = try JobsCommand.parse(["--host", "10.1.2.3"]).makePlan() }
        #expect(throws: (any Error).self) { _ = try PubSubCommand.parse(["--host", "192.168.0.1"]).makePlan() }
    }
}
