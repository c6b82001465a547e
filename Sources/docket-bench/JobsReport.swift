import Foundation

/// Percentiles of one latency histogram, in milliseconds, for reports.
struct LatencySummary: Encodable {
    var count: UInt64
    var p50Ms: Double?
    var p99Ms: Double?
    var p999Ms: Double?
    var maxMs: Double?

    init(_ histogram: LatencyHistogram) {
        func milliseconds(_ nanoseconds: UInt64?) -> Double? { nanoseconds.map { Double($0) / 1e6 } }
        count = histogram.total
        p50Ms = milliseconds(histogram.percentile(0.5))
        p99Ms = milliseconds(histogram.percentile(0.99))
        p999Ms = milliseconds(histogram.percentile(0.999))
        maxMs = milliseconds(histogram.total > 0 ? histogram.maximum : nil)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(count, forKey: .count)
        try container.encode(p50Ms, forKey: .p50Ms)
        try container.encode(p99Ms, forKey: .p99Ms)
        try container.encode(p999Ms, forKey: .p999Ms)
        try container.encode(maxMs, forKey: .maxMs)
    }

    private enum CodingKeys: String, CodingKey { case count, p50Ms, p99Ms, p999Ms, maxMs }

    /// `p50 1.23 ms  p99 4.56 ms  p999 7.89 ms  max 9.99 ms`, or a dash when nothing was timed.
    var text: String {
        guard count > 0 else { return "-" }
        func format(_ value: Double?) -> String { value.map { String(format: "%.3f ms", $0) } ?? "-" }
        return "p50 \(format(p50Ms))  p99 \(format(p99Ms))  p999 \(format(p999Ms))  max \(format(maxMs))"
    }
}

/// The results of one `jobs` run, printed for people or as one JSON object for scripts.
struct JobsReport: Encodable {
    var protocolName: String
    var mode: String
    var jobs: Int
    var producers: Int
    var window: Int
    var workers: Int
    var inFlight: Int
    var size: Int
    var queue: String
    var threads: Int
    /// Jobs that completed the timed part: acks, or confirmed enqueues in an enqueue-only run.
    var completed = 0
    /// From the start of the timed part to the confirmation that completed it.
    var elapsedSeconds = 0.0
    /// How long filling the queue took before a drain run (not part of the figures).
    var prefillSeconds: Double?
    /// What the job latency is measured between.
    var latencyKind: String
    var latency = LatencySummary(LatencyHistogram())
    /// From writing an enqueue to its confirmation; in cycle and enqueue runs.
    var enqueueLatency = LatencySummary(LatencyHistogram())
    var reserveTimeouts = 0
    var serverCPUSeconds: Double?
    var clientCPUSeconds: Double?
    /// Where the docketd docket-bench started itself kept its jobs (`--store`); nil otherwise.
    var store: String?
    /// The command line of that docketd, its executable first (the database's connection
    /// string as given to it).
    var serverArguments: [String]?
    /// Warnings and errors that docketd logged.
    var serverWarnings: [String] = []
    /// What PostgreSQL did during the timed part, when the run used it.
    var postgres: PostgresFigures?
    /// Why the run does not count; nil when every job was done.
    var failure: String?

    init(plan: JobsPlan) {
        protocolName = plan.protocolKind.rawValue
        mode = plan.mode.rawValue
        jobs = plan.jobs
        producers = plan.mode == .drain ? 0 : plan.producers
        window = plan.window
        workers = plan.mode == .enqueue ? 0 : plan.workers
        // The baseline's workers hold one job at a time, whatever --batch says.
        inFlight = plan.protocolKind == .pgSkipLocked ? 1 : plan.inFlight
        size = plan.size
        queue = plan.queue
        threads = plan.threads
        latencyKind = plan.mode.latencyName
        store = plan.store?.rawValue
    }

    mutating func record(_ phase: JobsScenario.Phase) {
        completed = mode == JobMode.enqueue.rawValue ? phase.stats.enqueued : phase.stats.acked
        elapsedSeconds = phase.elapsedSeconds
        latency = LatencySummary(mode == JobMode.enqueue.rawValue ? phase.stats.enqueueLatency : phase.stats.jobLatency)
        enqueueLatency = LatencySummary(phase.stats.enqueueLatency)
        reserveTimeouts = phase.stats.reserveTimeouts
        serverCPUSeconds = phase.serverCPUSeconds
        clientCPUSeconds = phase.clientCPUSeconds
        failure = phase.failure
    }

    var ok: Bool { failure == nil }
    var jobsPerSecond: Double { elapsedSeconds > 0 ? Double(completed) / elapsedSeconds : 0 }

    private enum CodingKeys: String, CodingKey {
        case ok, protocolName = "protocol", mode, jobs, producers, window, workers, inFlight, size, queue, threads
        case completed, elapsedSeconds, jobsPerSecond, prefillSeconds, latencyKind, latency, enqueueLatency
        case reserveTimeouts, serverCPUSeconds = "server_cpu_seconds", clientCPUSeconds = "client_cpu_seconds"
        case store, serverArguments, serverWarnings, postgres, failure
    }

    /// Absent values are written as `null`, never left out, so scripts can rely on every key.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        try container.encode(protocolName, forKey: .protocolName)
        try container.encode(mode, forKey: .mode)
        try container.encode(jobs, forKey: .jobs)
        try container.encode(producers, forKey: .producers)
        try container.encode(window, forKey: .window)
        try container.encode(workers, forKey: .workers)
        try container.encode(inFlight, forKey: .inFlight)
        try container.encode(size, forKey: .size)
        try container.encode(queue, forKey: .queue)
        try container.encode(threads, forKey: .threads)
        try container.encode(completed, forKey: .completed)
        try container.encode(elapsedSeconds, forKey: .elapsedSeconds)
        try container.encode(jobsPerSecond, forKey: .jobsPerSecond)
        try container.encode(prefillSeconds, forKey: .prefillSeconds)
        try container.encode(latencyKind, forKey: .latencyKind)
        try container.encode(latency, forKey: .latency)
        try container.encode(enqueueLatency, forKey: .enqueueLatency)
        try container.encode(reserveTimeouts, forKey: .reserveTimeouts)
        try container.encode(serverCPUSeconds, forKey: .serverCPUSeconds)
        try container.encode(clientCPUSeconds, forKey: .clientCPUSeconds)
        try container.encode(store, forKey: .store)
        try container.encode(serverArguments, forKey: .serverArguments)
        try container.encode(serverWarnings, forKey: .serverWarnings)
        try container.encode(postgres, forKey: .postgres)
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
        var shape: [String] = []
        if producers > 0 { shape.append("\(producers) producer(s) x \(window) pipelined") }
        if workers > 0 { shape.append("\(workers) worker(s) x \(inFlight) in flight") }
        var lines = [
            "jobs \(mode) on \(protocolName)\(store.map { " (docketd started on \($0))" } ?? "") queue \(queue): \(shape.joined(separator: ", ")), "
                + "\(jobs) jobs of \(size) B, \(threads) client thread(s)",
            String(format: "  completed  %d/%d in %.3f s: %.0f jobs/s", completed, jobs, elapsedSeconds, jobsPerSecond),
            "  \(latencyKind) \(latency.text)",
        ]
        if mode == JobMode.cycle.rawValue { lines.append("  enqueue-to-confirm \(enqueueLatency.text)") }
        if let prefillSeconds { lines.append(String(format: "  queue filled beforehand in %.3f s", prefillSeconds)) }
        if reserveTimeouts > 0 {
            lines.append(protocolName == JobProtocol.pgSkipLocked.rawValue
                ? "  claims that found no free job (looked again \(SkipLockedLoop.emptyPauseNanoseconds / 1_000_000) ms later): \(reserveTimeouts)"
                : "  reserves that timed out and were sent again: \(reserveTimeouts)")
        }
        let serverName = protocolName == JobProtocol.pgSkipLocked.rawValue ? "PostgreSQL" : "server"
        var cpu = [(serverName, serverCPUSeconds), ("client", clientCPUSeconds)]
        if let postgres, protocolName != JobProtocol.pgSkipLocked.rawValue { cpu.insert(("PostgreSQL", postgres.cpuSeconds), at: 1) }
        for (name, seconds) in cpu {
            guard let seconds else { continue }
            let share = elapsedSeconds > 0 ? 100 * seconds / elapsedSeconds : 0
            lines.append("  \(name) CPU " + String(format: "%.2f s (%.0f%% of one core)", seconds, share))
        }
        if let postgres {
            func rate(_ count: Int?) -> String {
                guard let count else { return "-" }
                return elapsedSeconds > 0 ? String(format: "%d (%.0f/s)", count, Double(count) / elapsedSeconds) : "\(count)"
            }
            lines.append("  PostgreSQL \(postgres.version.split(separator: " ").prefix(2).joined(separator: " ")), database \(postgres.database): "
                + "write transactions \(rate(postgres.writeTransactions)), WAL flushes \(rate(postgres.walFlushes)), "
                + "WAL \(postgres.walBytes.map { String(format: "%.1f MB", Double($0) / 1e6) } ?? "-")")
        }
        for warning in serverWarnings.prefix(5) { lines.append("  server: \(warning)") }
        lines.append(failure.map { "  FAILED: \($0)" } ?? "  ok")
        return lines.joined(separator: "\n")
    }
}
