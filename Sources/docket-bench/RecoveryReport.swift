import Foundation

/// The results of one `recovery` run, printed for people or as one JSON object for scripts.
/// Figures of steps that were not reached stay nil and are written as `null`.
struct RecoveryReport: Encodable {
    var jobs: Int
    var size: Int
    var fillSync: String
    var restartSync: String
    var serverArguments: [String] = []
    /// The filled server just after it logged `Server is ready`, before any job.
    var emptyMemory: ProcessMemory?
    /// Enqueues the server confirmed during the fill, and how long it took.
    var filled = 0
    var fillSeconds: Double?
    /// The filled server with every job waiting.
    var waitingMemory: ProcessMemory?
    /// LMDB's data file after the filled server exited: its length and the disk it occupies.
    var dataFileBytes: Int?
    var dataFileAllocatedBytes: Int?
    /// From SIGTERM to the filled server's exit.
    var shutdownSeconds: Double?
    /// From spawning the restarted server to its `Server is ready` line.
    var readySeconds: Double?
    /// What its `Recovered N jobs ... in X ms` line says.
    var recoveredJobs: Int?
    var serverRecoveryMilliseconds: Int?
    /// The restarted server just after it was ready, with every job recovered.
    var recoveredMemory: ProcessMemory?
    /// From connecting to the restarted server to its answer to the first RESERVE.
    var firstReserveSeconds: Double?
    /// Warnings and errors either server logged.
    var serverWarnings: [String] = []
    var failure: String?

    init(plan: RecoveryPlan) {
        jobs = plan.jobs
        size = plan.size
        fillSync = plan.fillSync
        restartSync = plan.restartSync
    }

    var ok: Bool { failure == nil }
    var fillJobsPerSecond: Double? {
        guard let fillSeconds, fillSeconds > 0 else { return nil }
        return Double(filled) / fillSeconds
    }

    private enum CodingKeys: String, CodingKey {
        case ok, jobs, size, fillSync, restartSync, serverArguments, emptyMemory = "memory_empty", filled, fillSeconds
        case fillJobsPerSecond, waitingMemory = "memory_waiting", dataFileBytes, dataFileAllocatedBytes
        case shutdownSeconds, readySeconds, recoveredJobs, serverRecoveryMilliseconds = "server_recovery_ms"
        case recoveredMemory = "memory_recovered", firstReserveSeconds, serverWarnings, failure
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        try container.encode(jobs, forKey: .jobs)
        try container.encode(size, forKey: .size)
        try container.encode(fillSync, forKey: .fillSync)
        try container.encode(restartSync, forKey: .restartSync)
        try container.encode(serverArguments, forKey: .serverArguments)
        try container.encode(emptyMemory, forKey: .emptyMemory)
        try container.encode(filled, forKey: .filled)
        try container.encode(fillSeconds, forKey: .fillSeconds)
        try container.encode(fillJobsPerSecond, forKey: .fillJobsPerSecond)
        try container.encode(waitingMemory, forKey: .waitingMemory)
        try container.encode(dataFileBytes, forKey: .dataFileBytes)
        try container.encode(dataFileAllocatedBytes, forKey: .dataFileAllocatedBytes)
        try container.encode(shutdownSeconds, forKey: .shutdownSeconds)
        try container.encode(readySeconds, forKey: .readySeconds)
        try container.encode(recoveredJobs, forKey: .recoveredJobs)
        try container.encode(serverRecoveryMilliseconds, forKey: .serverRecoveryMilliseconds)
        try container.encode(recoveredMemory, forKey: .recoveredMemory)
        try container.encode(firstReserveSeconds, forKey: .firstReserveSeconds)
        try container.encode(serverWarnings, forKey: .serverWarnings)
        try container.encode(failure, forKey: .failure)
    }

    /// One line of compact JSON with snake_case keys.
    var json: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A few aligned lines for a terminal.
    var text: String {
        func seconds(_ value: Double?) -> String { value.map { String(format: "%.3f s", $0) } ?? "-" }
        func memory(_ value: ProcessMemory?) -> String { value?.text ?? "-" }
        var lines = ["recovery of \(jobs) jobs of \(size) B: filled with --sync \(fillSync), restarted with --sync \(restartSync)"]
        lines.append("  RSS empty            \(memory(emptyMemory))")
        let rate = fillJobsPerSecond.map { String(format: " (%.0f jobs/s)", $0) } ?? ""
        lines.append("  filled               \(filled)/\(jobs) in \(seconds(fillSeconds))\(rate)")
        lines.append("  RSS with jobs waiting \(memory(waitingMemory))")
        if let dataFileBytes {
            let allocated = dataFileAllocatedBytes.map { String(format: ", %.1f MB on disk", Double($0) / 1e6) } ?? ""
            lines.append(String(format: "  data.mdb             %.1f MB long", Double(dataFileBytes) / 1e6) + allocated)
        }
        lines.append("  shutdown (SIGTERM)   \(seconds(shutdownSeconds))")
        var ready = "  restart to ready     \(seconds(readySeconds))"
        if let recoveredJobs, let serverRecoveryMilliseconds {
            ready += " (server: recovered \(recoveredJobs) jobs in \(serverRecoveryMilliseconds) ms)"
        }
        lines.append(ready)
        lines.append("  RSS after recovery   \(memory(recoveredMemory))")
        lines.append("  first RESERVE        \(seconds(firstReserveSeconds))")
        for warning in serverWarnings.prefix(5) { lines.append("  server: \(warning)") }
        lines.append(failure.map { "  FAILED: \($0)" } ?? "  ok")
        return lines.joined(separator: "\n")
    }
}
