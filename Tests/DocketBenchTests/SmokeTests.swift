import DocketTestSupport
import Foundation
import Testing
import DocketTLS
@testable import docket_bench

/// Every scenario once against a real docketd, with tiny counts: the tool must keep working
/// against the server as both change. Peers are tried only where their binaries are installed.
@Suite(.serialized) struct SmokeTests {
    static let loopback = LoopbackAddress("127.0.0.1")!

    func pubsub(port: Int, pid: Int32?, protocolKind: PubSubProtocol = .nats, subscribers: Int = 1,
                subscribeSubject: String = "bench.x.y", queueGroup: String? = nil) -> PubSubReport {
        let plan = PubSubPlan(
            protocolKind: protocolKind, address: Self.loopback, port: port, messages: 20_000, size: 16,
            subscribers: subscribers, publishSubject: "bench.x.y", subscribeSubject: subscribeSubject,
            queueGroup: queueGroup, timeoutSeconds: 20, serverPID: pid)
        return PubSubScenario(plan: plan).run()
    }

    func jobs(port: Int, pid: Int32?, protocolKind: JobProtocol = .docket, mode: JobMode, jobs: Int = 1_000,
              workers: Int = 8, batch: Int = 1, queue: String = "smoke") -> JobsReport {
        let plan = JobsPlan(
            address: Self.loopback, port: port, protocolKind: protocolKind, mode: mode, jobs: jobs, producers: 2,
            window: 16, workers: workers, inFlight: batch, size: 64, queue: queue, threads: 1,
            timeoutSeconds: 20, serverPID: pid)
        return JobsScenario(plan: plan).run()
    }

    func expectComplete(_ report: JobsReport, _ jobs: Int = 1_000) {
        #expect(report.failure == nil)
        #expect(report.completed == jobs)
        #expect(report.latency.count == UInt64(jobs))
        #expect(report.elapsedSeconds > 0)
        #expect(report.serverCPUSeconds != nil)
        #expect(report.clientCPUSeconds != nil)
    }

    @Test func pubSubOneToOneAndQueueGroup() throws {
        let server = try DocketdProcess()
        defer { server.stop() }
        let fanout = pubsub(port: server.port, pid: server.pid)
        #expect(fanout.failure == nil)
        #expect(fanout.received == 20_000)
        #expect(fanout.perSubscriber == [20_000])
        #expect(fanout.serverCPUSeconds != nil)
        #expect(fanout.flushSeconds != nil)

        let group = pubsub(port: server.port, pid: server.pid, subscribers: 3, queueGroup: "workers")
        #expect(group.failure == nil)
        #expect(group.received == 20_000)
        #expect(group.perSubscriber.reduce(0, +) == 20_000)

        let wildcard = pubsub(port: server.port, pid: server.pid, subscribers: 2, subscribeSubject: "bench.>")
        #expect(wildcard.failure == nil)
        #expect(wildcard.received == 40_000)
    }

    /// Pub/sub and the job cycle over TLS (the upgrade after INFO), with the test PKI's
    /// certificates.
    @Test func pubSubAndJobsOverTLS() throws {
        let pki = try TestPKI()
        let path = pki.path
        let server = try DocketdProcess(["--tls", "--tlscert", path("server.pem"), "--tlskey", path("server.key")])
        defer { server.stop() }
        var plan = PubSubPlan(
            protocolKind: .nats, address: Self.loopback, port: server.port, messages: 20_000, size: 100,
            subscribers: 2, publishSubject: "bench.x.y", subscribeSubject: "bench.x.y", queueGroup: nil, timeoutSeconds: 20,
            serverPID: server.pid)
        let plain = PubSubScenario(plan: plan).run()
        #expect(plain.failure != nil, "a plain client must not get through")
        plan.tls = try TLSContext.client(caFile: path("ca.pem"), certificate: nil, key: nil)
        let report = PubSubScenario(plan: plan).run()
        #expect(report.failure == nil, "\(report.failure ?? "")")
        #expect(report.received == 40_000)

        var jobsPlan = JobsPlan(
            address: Self.loopback, port: server.port, protocolKind: .docket, mode: .cycle, jobs: 2_000, producers: 2,
            window: 16, workers: 8, inFlight: 4, size: 64, queue: "tls", threads: 1, timeoutSeconds: 20, serverPID: server.pid)
        jobsPlan.tls = plan.tls
        expectComplete(JobsScenario(plan: jobsPlan).run(), 2_000)
    }

    @Test func jobCyclesEnqueueAndDrainOnDocketd() throws {
        let server = try DocketdProcess(["--sync", "none"])
        defer { server.stop() }
        let single = jobs(port: server.port, pid: server.pid, mode: .cycle, queue: "cycle1")
        expectComplete(single)
        #expect(single.enqueueLatency.count == 1_000)
        expectComplete(jobs(port: server.port, pid: server.pid, mode: .cycle, workers: 4, batch: 8, queue: "cycle8"))
        expectComplete(jobs(port: server.port, pid: server.pid, mode: .enqueue, queue: "enqueue"))
        let drain = jobs(port: server.port, pid: server.pid, mode: .drain, jobs: 2_000, queue: "drain")
        expectComplete(drain, 2_000)
        #expect(drain.prefillSeconds != nil)
        // A cycle run on a queue that holds jobs from elsewhere (the enqueue run's) must fail
        // and say so, rather than measure jobs it did not enqueue.
        let polluted = jobs(port: server.port, pid: server.pid, mode: .cycle, jobs: 10, queue: "enqueue")
        #expect(polluted.failure?.contains("did not enqueue") == true)
        #expect(server.log.lines.allSatisfy { !$0.contains("[ERR]") })
    }

    @Test func durableJobCycle() throws {
        let server = try DocketdProcess()  // --sync always, docketd's default
        defer { server.stop() }
        expectComplete(jobs(port: server.port, pid: server.pid, mode: .cycle, jobs: 300), 300)
    }

    @Test func recoveryRestartsOnTheSameDirectory() throws {
        let plan = try RecoveryCommand.parse([
            "--docketd", DocketdProcess.binary.path, "--jobs", "2000", "--window", "64", "--timeout", "60",
        ]).makePlan()
        let report = RecoveryScenario(plan: plan).run()
        #expect(report.failure == nil)
        #expect(report.filled == 2_000)
        #expect(report.recoveredJobs == 2_000)
        #expect(report.serverRecoveryMilliseconds != nil)
        #expect((report.readySeconds ?? 0) > 0)
        #expect((report.waitingMemory?.residentBytes ?? 0) > 0)
        #expect((report.recoveredMemory?.residentBytes ?? 0) > 0)
        #expect(report.firstReserveSeconds != nil)
        #expect((report.dataFileBytes ?? 0) > 0)
        #expect(report.serverWarnings.isEmpty)
    }

    @Test func recoveryFailsCleanlyWithoutAServer() throws {
        let plan = try RecoveryCommand.parse(["--docketd", "/nonexistent/docketd", "--jobs", "10"]).makePlan()
        let report = RecoveryScenario(plan: plan).run()
        #expect(report.failure?.contains("not an executable") == true)
    }

    // MARK: PostgreSQL, where its server programs are installed

    /// A run on the suite's PostgreSQL cluster; nil (the test then does nothing) without one.
    func postgresRun(_ arguments: [String], mode: JobMode) throws -> (JobsReport, PostgresTarget)? {
        guard case .success(let cluster) = TestPostgres.shared else {
            print("PostgreSQL smoke tests skipped: no PostgreSQL server programs")
            return nil
        }
        let plan = try JobsCommand.parse(arguments + [
            "--postgres", cluster.conninfo(), "--mode", mode.rawValue, "--jobs", "300", "--workers", "4", "--window", "16",
            "--timeout", "60",
        ]).makePlan()
        let report = plan.store == nil ? SkipLockedScenario(plan: plan).run() : DocketOnPostgresScenario(plan: plan).run()
        return (report, plan.postgres!)
    }

    func expectPostgresFigures(_ report: JobsReport, target: PostgresTarget) throws {
        #expect(report.failure == nil)
        #expect(report.completed == 300)
        #expect(report.latency.count == 300)
        #expect(report.serverCPUSeconds != nil)
        let figures = try #require(report.postgres)
        // Every job wrote at least once (the baseline three times; docketd batches them).
        #expect((figures.writeTransactions ?? 0) > 0)
        #expect((figures.walBytes ?? 0) > 0)
        #expect(figures.cpuSeconds != nil)
        // The run's database is gone.
        let admin = try BlockingPostgres(target.conninfo, deadline: MonotonicClock.now() + 10_000_000_000)
        let left = try admin.query("SELECT count(*) FROM pg_database WHERE datname = $1", [.string(figures.database)],
                                   deadline: MonotonicClock.now() + 10_000_000_000)
        #expect(left.rows.first?.int(0) == 0)
    }

    @Test func skipLockedBaselineCycleAndDrain() throws {
        for mode in [JobMode.cycle, .drain] {
            guard let (report, target) = try postgresRun(["--protocol", "pg-skip-locked"], mode: mode) else { return }
            try expectPostgresFigures(report, target: target)
            #expect((report.postgres?.writeTransactions ?? 0) >= (mode == .cycle ? 900 : 600))
            #expect(report.inFlight == 1)
        }
    }

    @Test func docketdOnPostgresCycleAndDrain() throws {
        for mode in [JobMode.cycle, .drain] {
            guard let (report, target) = try postgresRun(
                ["--store", "postgres", "--docketd", DocketdProcess.binary.path, "--batch", "2"], mode: mode) else { return }
            try expectPostgresFigures(report, target: target)
            #expect(report.store == "postgres")
            #expect(report.serverArguments?.contains("--store") == true)
            #expect(report.serverWarnings.allSatisfy { $0.hasPrefix("after SIGTERM") })
        }
    }

    // MARK: Peers, where installed

    @Test(.enabled(if: PeerProcess.find("beanstalkd") != nil, "beanstalkd is not installed"))
    func beanstalkdJobCycle() throws {
        let server = try PeerProcess("beanstalkd", ["-l", "127.0.0.1", "-p", "PORT"])
        expectComplete(jobs(port: server.port, pid: server.pid, protocolKind: .beanstalkd, mode: .cycle, workers: 4, batch: 2))
    }

    @Test(.enabled(if: PeerProcess.find("redis-server") != nil, "redis-server is not installed"))
    func redisJobCycleAndPubSub() throws {
        let server = try PeerProcess(
            "redis-server", ["--bind", "127.0.0.1", "--port", "PORT", "--dir", "DIR", "--save", "", "--appendonly", "no"])
        expectComplete(jobs(port: server.port, pid: server.pid, protocolKind: .redis, mode: .cycle, workers: 4, batch: 2))
        let report = pubsub(port: server.port, pid: server.pid, protocolKind: .redis, subscribers: 2, subscribeSubject: "bench.*")
        #expect(report.failure == nil)
        #expect(report.received == 40_000)
    }

    @Test(.enabled(if: PeerProcess.find("nats-server") != nil, "nats-server is not installed"))
    func natsServerPubSub() throws {
        let server = try PeerProcess("nats-server", ["-a", "127.0.0.1", "-p", "PORT"])
        let report = pubsub(port: server.port, pid: server.pid, subscribers: 2, queueGroup: "workers")
        #expect(report.failure == nil)
        #expect(report.received == 20_000)
    }
}
