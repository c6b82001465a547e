import DocketPostgres
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `jobs --store postgres`: docket-bench starts docketd itself, with `--store` naming a new
/// database of `--postgres` (dropped afterwards), runs the scenario against it as against any
/// docketd, and stops it by process id; PostgreSQL's counters are read around the timed part.
struct DocketOnPostgresScenario {
    var plan: JobsPlan

    /// How long docketd may take to log `Server is ready`, and to exit after SIGTERM.
    static let readyTimeoutSeconds = 60.0
    static let stopTimeoutSeconds = 30.0

    /// docketd's command line (after the executable) for the database `conninfo`.
    static func serverArguments(conninfo: String) -> [String] {
        // The address is given, not left to docketd's default or DOCKET_ADDR: loopback only.
        ["--addr", "127.0.0.1", "--port", "0", "--store", conninfo]
    }

    func run() -> JobsReport {
        var report = JobsReport(plan: plan)
        let deadline = MonotonicClock.now() + UInt64(plan.timeoutSeconds * 1e9)
        guard let target = plan.postgres, let executable = plan.docketd else {
            report.failure = "no --postgres or no docketd"
            return report
        }
        var database: PostgresRun?
        var server: ServerProcess?
        var probe: PostgresProbe?
        do {
            let run = try PostgresRun(target: target, deadline: deadline)
            database = run
            let arguments = Self.serverArguments(conninfo: run.conninfo)
            report.serverArguments = [executable] + arguments
            let process = try ServerProcess(executable: executable, arguments: arguments)
            server = process
            let readyBy = min(deadline, MonotonicClock.now() + UInt64(Self.readyTimeoutSeconds * 1e9))
            guard process.waitForLine(containing: "Server is ready", deadline: readyBy) != nil else {
                let tail = process.log.suffix(5).map(\.text).joined(separator: " | ")
                throw BenchError("docketd \(process.isRunning ? "did not log Server is ready in time" : "exited before it was ready"); its log ends: \(tail)")
            }
            guard let port = process.log.lazy.compactMap({ RecoveryScenario.listeningPort(in: $0.text) }).first else {
                throw BenchError("docketd was ready but logged no listening port")
            }
            var measured = plan
            measured.port = port
            measured.serverPID = process.pid
            // docketd's connection reports its statistics at most once a second (its tick
            // makes a transaction every second): wait for what it did before the clock started.
            let settle = PostgresProbe(run: run, deadline: deadline + 10_000_000_000, settleSeconds: 2.2)
            probe = settle
            var scenario = JobsScenario(plan: measured)
            scenario.probe = settle
            let result = scenario.run()
            report = result
            report.serverArguments = [executable] + arguments
        } catch {
            report.failure = "\(error)"
        }
        if let server {
            let during = server.troubleLines
            report.serverWarnings += during
            if !server.stop(timeoutSeconds: Self.stopTimeoutSeconds) {
                report.serverWarnings.append("docketd did not exit within \(Int(Self.stopTimeoutSeconds)) s of SIGTERM and was killed")
            }
            // Kept apart: what docketd says while it shuts down is not about the run.
            report.serverWarnings += server.troubleLines.dropFirst(during.count).map { "after SIGTERM: \($0)" }
        }
        // docketd's connection exited with it, reporting its last statistics.
        if let probe {
            probe.finish()
            report.postgres = probe.figures
            if report.failure == nil, let failure = probe.failure { report.failure = failure }
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
}
