import DocketPostgres
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The PostgreSQL side of one run: a new, empty database on the `--postgres` cluster (dropped
/// again by `drop`), and the cluster's counters read around the timed part.
final class PostgresRun {
    let target: PostgresTarget
    let database: String
    /// The database's connection string.
    let conninfo: String
    /// `SELECT version()`.
    let version: String
    /// The postmaster, whose process tree is PostgreSQL's CPU; nil if /proc does not show it
    /// (the cluster runs in another container, say).
    let postmasterPID: Int32?
    private let admin: BlockingPostgres
    private var dropped = false

    /// Connects to the cluster and makes the run's database.
    init(target: PostgresTarget, deadline: UInt64) throws {
        self.target = target
        admin = try BlockingPostgres(target.conninfo, deadline: deadline)
        let row = try admin.query("SELECT version(), pg_backend_pid()", deadline: deadline).rows.first
        version = row?.string(0) ?? "unknown"
        // This connection's server process is a child of the postmaster, on this machine.
        postmasterPID = row?.int(1).flatMap { ProcessTreeCPU.parent(of: Int32($0)) }
        database = PostgresTarget.freshDatabaseName(prefix: "docket_bench", pid: getpid(), random: UInt32.random(in: 0...UInt32.max))
        try admin.query("CREATE DATABASE \(database)", deadline: deadline)
        conninfo = target.conninfo(database: database)
    }

    /// Drops the run's database (closing any connection still on it).
    func drop(deadline: UInt64) throws {
        guard !dropped else { return }
        dropped = true
        try admin.query("DROP DATABASE IF EXISTS \(database) WITH (FORCE)", deadline: deadline)
    }

    /// The cluster's counters now.
    func counters(deadline: UInt64) throws -> PostgresCounters {
        var counters = PostgresCounters()
        counters.cpuSeconds = postmasterPID.flatMap { ProcessTreeCPU.seconds(root: $0) }
        let row = try admin.query(
            """
            SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint,
                   (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1)
            """, [.string(database)], deadline: deadline
        ).rows.first
        counters.nextTransactionID = row?.int(0)
        counters.walBytes = row?.int(1)
        counters.transactions = row?.int(2)
        // pg_stat_wal has wal_sync and wal_write in PostgreSQL 14 to 17 (later ones moved them).
        if let wal = try? admin.query("SELECT * FROM pg_stat_wal", deadline: deadline), let first = wal.rows.first {
            if let column = wal.columns.firstIndex(of: "wal_sync") { counters.walSyncs = first.int(column) }
            if let column = wal.columns.firstIndex(of: "wal_write") { counters.walWrites = first.int(column) }
        }
        return counters
    }
}

/// PostgreSQL's cumulative counters at one moment.
struct PostgresCounters {
    /// User and system CPU of the postmaster and all its children.
    var cpuSeconds: Double?
    /// The next transaction id: the difference is how many transactions wrote something.
    var nextTransactionID: Int?
    /// The WAL insert position, in bytes.
    var walBytes: Int?
    /// Committed and rolled back transactions in the run's database (statistics, which each
    /// server process reports at most once a second and when it exits).
    var transactions: Int?
    /// WAL flushes (fdatasync or the like) and writes, cluster-wide (statistics, as above).
    var walSyncs: Int?
    var walWrites: Int?
}

/// What PostgreSQL did during the timed part of a run, for the report.
struct PostgresFigures: Encodable {
    var version: String
    var database: String
    var cpuSeconds: Double?
    var writeTransactions: Int?
    var transactions: Int?
    var walFlushes: Int?
    var walWrites: Int?
    var walBytes: Int?

    init(run: PostgresRun, before: PostgresCounters, after: PostgresCounters) {
        version = run.version
        database = run.database
        func difference<T: Numeric>(_ a: T?, _ b: T?) -> T? { a.flatMap { a in b.map { $0 - a } } }
        cpuSeconds = difference(before.cpuSeconds, after.cpuSeconds)
        writeTransactions = difference(before.nextTransactionID, after.nextTransactionID)
        transactions = difference(before.transactions, after.transactions)
        walFlushes = difference(before.walSyncs, after.walSyncs)
        walWrites = difference(before.walWrites, after.walWrites)
        walBytes = difference(before.walBytes, after.walBytes)
    }

    private enum CodingKeys: String, CodingKey {
        case version, database, cpuSeconds, writeTransactions, transactions, walFlushes, walWrites, walBytes
    }

    /// Every key, `null` when unknown.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(database, forKey: .database)
        try container.encode(cpuSeconds, forKey: .cpuSeconds)
        try container.encode(writeTransactions, forKey: .writeTransactions)
        try container.encode(transactions, forKey: .transactions)
        try container.encode(walFlushes, forKey: .walFlushes)
        try container.encode(walWrites, forKey: .walWrites)
        try container.encode(walBytes, forKey: .walBytes)
    }
}

/// Reads PostgreSQL's counters around the timed part. CPU is read at once when the clock
/// stops; the rest waits for `finish`, called once the run's connections (or the docketd
/// holding one) are gone, because the statistics counters (WAL flushes, transactions) reach
/// the views only when a server process reports them: at most once a second while it works,
/// and when it exits. For the same reason `begin` first waits `settleSeconds`, for what came
/// before the clock started (docketd's own transactions, a prefill) to be reported.
final class PostgresProbe: PhaseProbe {
    /// After exiting, a server process has reported everything within this.
    static let exitSettleSeconds = 0.5

    let run: PostgresRun
    let deadline: UInt64
    let settleSeconds: Double
    private var before: PostgresCounters?
    private var cpuAtEnd: Double?
    private(set) var figures: PostgresFigures?
    private(set) var failure: String?

    init(run: PostgresRun, deadline: UInt64, settleSeconds: Double) {
        self.run = run
        self.deadline = deadline
        self.settleSeconds = settleSeconds
    }

    func begin() {
        usleep(UInt32(settleSeconds * 1e6))
        do {
            before = try run.counters(deadline: deadline)
        } catch {
            failure = "reading PostgreSQL's counters: \(error)"
        }
    }

    func end() {
        cpuAtEnd = run.postmasterPID.flatMap { ProcessTreeCPU.seconds(root: $0) }
    }

    /// Reads the counters again, once the processes that did the run's work have exited.
    func finish() {
        guard let before, figures == nil else { return }
        usleep(UInt32(Self.exitSettleSeconds * 1e6))
        do {
            var after = try run.counters(deadline: deadline)
            after.cpuSeconds = cpuAtEnd
            figures = PostgresFigures(run: run, before: before, after: after)
        } catch {
            failure = "reading PostgreSQL's counters: \(error)"
        }
    }
}
