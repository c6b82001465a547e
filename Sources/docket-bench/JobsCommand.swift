import ArgumentParser
import DocketWire
import DocketTLS
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `docket-bench jobs`: durable job queue throughput and latency against one loopback server.
struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Measure job queue throughput and latency: enqueue, reserve, ack.",
        discussion: """
            cycle: producers pipeline enqueues while workers reserve and ack, from the first \
            enqueue to the last ack. enqueue: producers only. drain: the queue is filled first \
            (untimed), then workers empty it. The same client speaks Docket (ENQ/RESERVE/ACK), \
            beanstalkd (put/reserve-with-timeout/delete) or Redis (LPUSH/BLMOVE/LREM, a reliable \
            queue). Exits with status 1 unless every job was done within --timeout.

            On PostgreSQL (--postgres, a loopback cluster; every run gets a new database there, \
            dropped afterwards): --store postgres starts docketd itself with --store naming that \
            database, and --protocol pg-skip-locked runs the textbook SKIP LOCKED queue in it \
            through libpq (one INSERT per transaction; workers BEGIN; SELECT ... FOR UPDATE SKIP \
            LOCKED LIMIT 1; UPDATE to active; COMMIT, then UPDATE to completed; one job at a time \
            each, whatever --batch says). Both report PostgreSQL's CPU, write transactions and \
            WAL flushes over the timed part.
            """)

    @Option(help: "The server's protocol: docket, beanstalkd, redis, or pg-skip-locked (SQL on --postgres).")
    var `protocol` = JobProtocol.docket

    @Option(help: "Start docketd here with its jobs in this store and measure it: postgres (a new database of --postgres).")
    var store: DocketStore?

    @Option(help: ArgumentHelp("The PostgreSQL cluster for --store postgres and pg-skip-locked: a libpq URI or key=value string naming a loopback host.", valueName: "conninfo"))
    var postgres: String?

    @Option(help: "The docketd binary --store starts (default: the docketd next to this docket-bench).")
    var docketd: String?

    @Option(help: "cycle, enqueue (producers only) or drain (workers only, on a queue filled first).")
    var mode = JobMode.cycle

    @Option(help: "The server's address; only loopback (127.0.0.0/8 or localhost) is accepted.")
    var host = "127.0.0.1"

    @Option(help: "The server's TCP port (default: 4222, 11300 or 6379 by protocol).")
    var port: Int?

    @Option(help: "The port the workers connect to, when not --port: another docketd node sharing the job store.")
    var workerPort: Int?

    @Option(help: "Jobs in the run.")
    var jobs = 100_000

    @Option(help: "Producer connections.")
    var producers = 2

    @Option(help: "Enqueues each producer keeps unanswered (pipelined).")
    var window = 64

    @Option(help: "Worker connections.")
    var workers = 32

    @Option(help: "Jobs each worker keeps in flight; 1 means one job per round trip.")
    var batch = 1

    @Option(help: ArgumentHelp("Payload bytes per job, at least 16 (the enqueue timestamp).", valueName: "bytes"))
    var size = "64"

    @Option(help: "The queue (beanstalkd tube, Redis list) to use; it should start empty.")
    var queue = "bench"

    @Option(help: "Client threads the connections are spread over.")
    var threads = 1

    @Option(help: "Seconds the whole run may take before it fails.")
    var timeout = 120.0

    @Option(help: "A local server process whose CPU time during the run to report.")
    var serverPid: Int32?

    @Option(help: ArgumentHelp("A CA file (PEM): connect with TLS, checking docketd's certificate against it, when the server requires TLS.", valueName: "pem"))
    var tlsCa: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        _ = try makePlan()
    }

    func run() throws {
        let plan = try makePlan()
        // A server that drops a connection must surface as an error from write(2), not kill us.
        signal(SIGPIPE, SIG_IGN)
        let report: JobsReport
        if plan.store != nil {
            // Interrupting docket-bench must not leave its docketd behind.
            ChildGuard.installHandlers()
            report = DocketOnPostgresScenario(plan: plan).run()
        } else if plan.protocolKind == .pgSkipLocked {
            report = SkipLockedScenario(plan: plan).run()
        } else {
            report = JobsScenario(plan: plan).run()
        }
        print(json ? report.json : report.text)
        if let failure = report.failure {
            FileHandle.standardError.write(Data("docket-bench: run failed: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The options, checked and combined into a plan.
    func makePlan() throws -> JobsPlan {
        guard let address = LoopbackAddress(host) else {
            throw ValidationError("--host must be a loopback address (127.0.0.0/8 or localhost); '\(host)' is not.")
        }
        let port = self.port ?? `protocol`.defaultPort
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535.") }
        guard (1...100_000_000).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 100000000.") }
        guard (1...256).contains(producers) else { throw ValidationError("--producers must be between 1 and 256.") }
        guard (1...10_000).contains(window) else { throw ValidationError("--window must be between 1 and 10000.") }
        guard (1...1024).contains(workers) else { throw ValidationError("--workers must be between 1 and 1024.") }
        guard (1...1000).contains(batch) else { throw ValidationError("--batch must be between 1 and 1000.") }
        // beanstalkd refuses jobs over 65535 bytes by default; one limit for all keeps runs comparable.
        guard let payloadSize = Units.bytes(size), (JobPayload.minimumSize...65_535).contains(payloadSize) else {
            throw ValidationError("--size must be between 16 and 65535 bytes.")
        }
        // Docket's rule for queue names, which beanstalkd tubes and Redis keys also accept.
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        guard (1...128).contains(queue.count), queue.allSatisfy(allowed.contains) else {
            throw ValidationError("--queue must be 1 to 128 characters of A-Z a-z 0-9 _ -.")
        }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be between 1 and 64.") }
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds.") }
        if let serverPid, ServerCPU.seconds(pid: serverPid) == nil {
            throw ValidationError("--server-pid \(serverPid): cannot read /proc/\(serverPid)/stat.")
        }
        var plan = JobsPlan(
            address: address, port: port, protocolKind: `protocol`, mode: mode, jobs: jobs,
            producers: producers, window: window, workers: workers, inFlight: batch, size: payloadSize,
            queue: queue, threads: threads, timeoutSeconds: timeout, serverPID: serverPid)
        if let workerPort {
            guard (1...65535).contains(workerPort), `protocol` == .docket, store == nil else {
                throw ValidationError("--worker-port must be a port from 1 to 65535, with --protocol docket and no --store.")
            }
            plan.workerPort = workerPort
        }
        if store != nil || `protocol` == .pgSkipLocked {
            let what = store != nil ? "--store" : "--protocol pg-skip-locked"
            guard store == nil || `protocol` == .docket else { throw ValidationError("--store starts docketd: --protocol docket only.") }
            guard let postgres else { throw ValidationError("\(what) needs --postgres (the cluster to make its database in).") }
            for (flag, given) in [("--port", self.port != nil), ("--server-pid", serverPid != nil), ("--tls-ca", tlsCa != nil)] where given {
                throw ValidationError("\(flag) does not go with \(what): docket-bench starts and watches what it measures.")
            }
            do {
                plan.postgres = try PostgresTarget(postgres, environment: ProcessInfo.processInfo.environment)
            } catch {
                throw ValidationError("\(error)")
            }
            plan.store = store
            if store != nil { plan.docketd = docketd ?? RecoveryCommand.siblingDocketd() }
        } else if postgres != nil || docketd != nil {
            throw ValidationError("--postgres and --docketd go with --store postgres or --protocol pg-skip-locked.")
        }
        if let tlsCa {
            guard `protocol` == .docket else { throw ValidationError("--tls-ca: only docketd is measured over TLS.") }
            do {
                plan.tls = try TLSContext.client(caFile: tlsCa, certificate: nil, key: nil)
            } catch {
                throw ValidationError("--tls-ca: \(error)")
            }
        }
        return plan
    }
}
