import ArgumentParser
import DocketWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `docket-bench recovery`: how long docketd takes to start on a data directory full of
/// waiting jobs, and how much memory those jobs cost it.
struct RecoveryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Measure docketd's restart on a full data directory: recovery time and memory.",
        discussion: """
            Starts docketd (on 127.0.0.1, a free port and an empty data directory), fills one \
            queue with --jobs waiting jobs through pipelined ENQs, reads the server's VmRSS from \
            /proc, stops it with SIGTERM and starts it again on the same directory. Reports the \
            time from spawning the second server to its 'Server is ready' log line, the server's \
            own 'Recovered N jobs ... in X ms', its VmRSS then, and the first RESERVE. Both \
            servers are stopped by process id before the command exits. Exits with status 1 \
            unless every step succeeded within --timeout.
            """)

    @Option(help: "The docketd binary (default: the docketd next to this docket-bench).")
    var docketd: String?

    @Option(help: "Jobs left waiting before the restart.")
    var jobs = 1_000_000

    @Option(help: ArgumentHelp("Payload bytes per job, at least 16.", valueName: "bytes"))
    var size = "64"

    @Option(help: "The queue to fill.")
    var queue = "bench"

    @Option(help: "Producer connections during the fill.")
    var producers = 2

    @Option(help: "Enqueues each producer keeps unanswered during the fill.")
    var window = 1024

    @Option(help: "--sync of the server being filled: none (fast) or always.")
    var fillSync = "none"

    @Option(name: .customLong("sync"), help: "--sync of the restarted server, whose start is measured.")
    var restartSync = "always"

    @Option(help: "--max-store for both servers (default: docketd's own).")
    var maxStore: String?

    @Option(help: "An empty data directory to use and keep (default: a temporary one, removed afterwards).")
    var dataDir: String?

    @Option(help: "Seconds the whole run may take before it fails.")
    var timeout = 600.0

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        _ = try makePlan()
    }

    func run() throws {
        let plan = try makePlan()
        signal(SIGPIPE, SIG_IGN)
        // Interrupting docket-bench must not leave a docketd behind.
        ChildGuard.installHandlers()
        let report = RecoveryScenario(plan: plan).run()
        print(json ? report.json : report.text)
        if let failure = report.failure {
            FileHandle.standardError.write(Data("docket-bench: run failed: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }

    func makePlan() throws -> RecoveryPlan {
        let executable = docketd ?? Self.siblingDocketd()
        guard (1...100_000_000).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 100000000.") }
        guard let payloadSize = Units.bytes(size), (JobPayload.minimumSize...65_535).contains(payloadSize) else {
            throw ValidationError("--size must be between 16 and 65535 bytes.")
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        guard (1...128).contains(queue.count), queue.allSatisfy(allowed.contains) else {
            throw ValidationError("--queue must be 1 to 128 characters of A-Z a-z 0-9 _ -.")
        }
        guard (1...256).contains(producers) else { throw ValidationError("--producers must be between 1 and 256.") }
        guard (1...10_000).contains(window) else { throw ValidationError("--window must be between 1 and 10000.") }
        for (flag, value) in [("--fill-sync", fillSync), ("--sync", restartSync)] where !["always", "none"].contains(value) {
            throw ValidationError("\(flag) must be always or none.")
        }
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds.") }
        return RecoveryPlan(
            executable: executable, jobs: jobs, size: payloadSize, queue: queue, producers: producers, window: window,
            fillSync: fillSync, restartSync: restartSync, maxStore: maxStore, dataDirectory: dataDir,
            timeoutSeconds: timeout)
    }

    /// `docketd` in the directory of the running executable, where SwiftPM builds both.
    static func siblingDocketd() -> String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("docketd").path
    }
}
