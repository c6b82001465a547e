import ArgumentParser
import DocketTLS

/// The servers `docket-bench jobs` can drive, each through its own `JobWire`, and the SKIP
/// LOCKED baseline, which is SQL through libpq on a PostgreSQL cluster (`--postgres`).
enum JobProtocol: String, CaseIterable, ExpressibleByArgument, Sendable {
    case docket, beanstalkd, redis
    case pgSkipLocked = "pg-skip-locked"

    /// Where each server listens out of the box.
    var defaultPort: Int {
        switch self {
        case .docket: return 4222
        case .beanstalkd: return 11300
        case .redis: return 6379
        case .pgSkipLocked: return 5432
        }
    }

    /// Whether runs go through a `JobWire` on a socket of docket-bench's own.
    var hasWire: Bool { self != .pgSkipLocked }

    func makeWire(queue: String, payloadSize: Int, tls: TLSContext? = nil) -> any JobWire {
        switch self {
        case .docket: return DocketJobWire(queue: queue, payloadSize: payloadSize, tls: tls)
        case .beanstalkd: return BeanstalkWire(queue: queue, payloadSize: payloadSize)
        case .redis: return RedisJobWire(queue: queue, payloadSize: payloadSize)
        case .pgSkipLocked: preconditionFailure("pg-skip-locked speaks SQL through libpq (SkipLockedScenario), not a JobWire")
        }
    }
}

/// Where the docketd that docket-bench starts itself keeps its jobs.
enum DocketStore: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// A new database of the `--postgres` cluster, `docketd --store <its connection string>`.
    case postgres
}

/// Which part of a job's life a run measures.
enum JobMode: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// Producers and workers at once: enqueue, reserve, ack.
    case cycle
    /// Producers only: how fast jobs become durable.
    case enqueue
    /// Workers only, on a queue filled beforehand (not timed): reserve and ack.
    case drain

    /// What the latency of a job is measured between, for reports.
    var latencyName: String {
        switch self {
        case .cycle: return "enqueue-to-ack"
        case .enqueue: return "enqueue-to-confirm"
        case .drain: return "reserve-to-ack"
        }
    }
}

/// One `jobs` run, validated.
struct JobsPlan: Sendable {
    var address: LoopbackAddress
    var port: Int
    /// Where the workers connect, when not to `port` (another docketd node on the same store).
    var workerPort: Int? = nil
    var protocolKind: JobProtocol
    var mode: JobMode
    /// Jobs enqueued and, unless only enqueueing, acked.
    var jobs: Int
    var producers: Int
    /// Enqueues each producer keeps unanswered (pipelined).
    var window: Int
    var workers: Int
    /// Jobs each worker keeps in flight: reserved or being reserved, and not yet acked.
    var inFlight: Int
    /// Payload bytes per job.
    var size: Int
    var queue: String
    /// Client threads the connections are spread over.
    var threads: Int
    var timeoutSeconds: Double
    /// A local server process whose CPU time to report.
    var serverPID: Int32?

    /// TLS with this context when the server requires it (docketd only).
    var tls: TLSContext? = nil

    /// The PostgreSQL cluster of `--store postgres` and of the SKIP LOCKED baseline: each run
    /// gets a new database there.
    var postgres: PostgresTarget? = nil
    /// Set when docket-bench starts the docketd it measures itself (`--store`), on a new
    /// database of `postgres`; `port` and `serverPID` are then its own.
    var store: DocketStore? = nil
    /// The docketd binary `store` runs start.
    var docketd: String? = nil

    var wire: any JobWire { protocolKind.makeWire(queue: queue, payloadSize: size, tls: tls) }

    /// The connections of the timed part of the run.
    var timedRoles: [SessionRole] {
        switch mode {
        case .cycle: return producerRoles + workerRoles
        case .enqueue: return producerRoles
        case .drain: return workerRoles
        }
    }

    var producerRoles: [SessionRole] { (0..<producers).map { .producer($0) } }
    var workerRoles: [SessionRole] { (0..<workers).map { .worker($0) } }
}

/// What one connection of a run does.
enum SessionRole: Sendable, CustomStringConvertible {
    case producer(Int)
    case worker(Int)

    var description: String {
        switch self {
        case .producer(let index): return "producer \(index)"
        case .worker(let index): return "worker \(index)"
        }
    }
}
