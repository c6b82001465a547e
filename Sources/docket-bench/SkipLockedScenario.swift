import DocketPostgres
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `jobs --protocol pg-skip-locked`: the textbook job queue straight on PostgreSQL, in a new
/// database of `--postgres` (dropped afterwards), with the same connections, job count and
/// payloads as a Docket run of the same arguments.
///
/// Producers INSERT one job per transaction; workers claim with BEGIN; SELECT … FOR UPDATE SKIP
/// LOCKED LIMIT 1; UPDATE … 'active'; COMMIT, and ack with UPDATE … 'completed' in a transaction
/// of its own (`SkipLockedSQL`). A drain run's table is filled first, untimed, in batches.
/// PostgreSQL is the server here: its CPU (the postmaster's process tree) is the server CPU.
struct SkipLockedScenario {
    var plan: JobsPlan

    /// Rows per INSERT when filling the table before a drain run (not measured).
    static let prefillBatch = 1000

    func run() -> JobsReport {
        var report = JobsReport(plan: plan)
        let deadline = MonotonicClock.now() + UInt64(plan.timeoutSeconds * 1e9)
        guard let target = plan.postgres else {
            report.failure = "no --postgres"
            return report
        }
        var database: PostgresRun?
        do {
            let run = try PostgresRun(target: target, deadline: deadline)
            database = run
            try measure(run, deadline: deadline, report: &report)
        } catch {
            report.failure = "\(error)"
        }
        if let database {
            do {
                try database.drop(deadline: MonotonicClock.now() + 30_000_000_000)
            } catch {
                report.serverWarnings.append("dropping database \(database.database): \(error)")
            }
        }
        return report
    }

    private func measure(_ run: PostgresRun, deadline: UInt64, report: inout JobsReport) throws {
        let plan = self.plan
        let sql = SkipLockedSQL(queue: plan.queue)
        var earliestEnqueue: UInt64?
        do {
            let setup = try BlockingPostgres(run.conninfo, deadline: deadline)
            for statement in sql.create { try setup.query(statement, deadline: deadline) }
            if plan.mode == .drain {
                let startedAt = MonotonicClock.now()
                earliestEnqueue = startedAt
                var statements: [(String, [PostgresValue])] = []
                for first in stride(from: 0, to: plan.jobs, by: Self.prefillBatch) {
                    let payloads = (first..<min(plan.jobs, first + Self.prefillBatch)).map {
                        SkipLockedProducer.payload(timestamp: startedAt, sequence: $0, size: plan.size) as String?
                    }
                    statements.append((sql.insertMany, [.textArray(payloads)]))
                }
                try setup.pipeline(statements, deadline: deadline)
                report.prefillSeconds = MonotonicClock.seconds(from: startedAt, to: MonotonicClock.now())
            }
        }
        // Nothing ran on the run's connections before the clock starts, and the setup
        // connection has exited: a short wait covers its report.
        let probe = PostgresProbe(run: run, deadline: deadline + 10_000_000_000, settleSeconds: PostgresProbe.exitSettleSeconds)
        let filledFrom = earliestEnqueue
        let conninfo = run.conninfo
        let enqueuesComplete = plan.mode == .enqueue
        let phase = JobsScenario.runPhase(
            plan: plan, roles: plan.timedRoles, enqueuesComplete: enqueuesComplete, until: deadline, probe: probe
        ) { share, budget, control in
            SkipLockedLoop(roles: share, plan: plan, conninfo: conninfo, budget: budget, control: control,
                           enqueuesComplete: enqueuesComplete, earliestEnqueue: filledFrom)
        }
        // The loops closed their connections.
        probe.finish()
        report.record(phase)
        report.postgres = probe.figures
        report.serverCPUSeconds = probe.figures?.cpuSeconds
        if report.failure == nil, let failure = probe.failure { report.failure = failure }
    }
}
