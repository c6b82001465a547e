import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs the recovery measurement: starts docketd on an empty data directory, fills it with
/// `jobs` waiting jobs, measures its memory, stops it with SIGTERM, starts it again on the same
/// directory and measures how long it takes to be ready and how much memory it then holds.
struct RecoveryScenario {
    var plan: RecoveryPlan

    func run() -> RecoveryReport {
        var report = RecoveryReport(plan: plan)
        let deadline = MonotonicClock.now() + UInt64(plan.timeoutSeconds * 1e9)
        let directory: String
        let temporary = plan.dataDirectory == nil
        do {
            directory = try prepareDirectory()
        } catch {
            report.failure = "\(error)"
            return report
        }
        defer { if temporary { try? FileManager.default.removeItem(atPath: directory) } }
        var servers: [ServerProcess] = []
        do {
            try measure(directory: directory, deadline: deadline, report: &report, servers: &servers)
        } catch {
            report.failure = "\(error)"
        }
        for server in servers { server.stop(timeoutSeconds: RecoveryPlan.stopTimeoutSeconds) }
        report.serverWarnings = servers.flatMap(\.troubleLines)
        return report
    }

    private func measure(directory: String, deadline: UInt64, report: inout RecoveryReport, servers: inout [ServerProcess]) throws {
        // 1. An empty server, filled.
        let fillArguments = plan.serverArguments(dataDirectory: directory, sync: plan.fillSync)
        report.serverArguments = fillArguments
        let filling = try ServerProcess(executable: plan.executable, arguments: fillArguments)
        servers.append(filling)
        let (port, _) = try awaitReady(filling, deadline: deadline)
        report.emptyMemory = ProcessMemory.of(pid: filling.pid)

        let fill = JobsScenario(plan: fillPlan(port: port, deadline: deadline, serverPID: filling.pid)).run()
        report.filled = fill.completed
        report.fillSeconds = fill.elapsedSeconds
        if let failure = fill.failure { throw BenchError("filling the queue: \(failure)") }
        report.waitingMemory = ProcessMemory.of(pid: filling.pid)

        // 2. A clean shutdown, which leaves every job on disk.
        let stopAt = MonotonicClock.now()
        guard filling.stop(timeoutSeconds: min(RecoveryPlan.stopTimeoutSeconds, remaining(deadline))) else {
            throw BenchError("the filled server did not exit within \(Int(RecoveryPlan.stopTimeoutSeconds)) s of SIGTERM and was killed")
        }
        report.shutdownSeconds = MonotonicClock.seconds(from: stopAt, to: MonotonicClock.now())
        if let status = filling.terminationStatus, status != 0 {
            throw BenchError("the filled server exited with status \(status) after SIGTERM")
        }
        var file = stat()
        if stat(directory + "/data.mdb", &file) == 0 {
            report.dataFileBytes = Int(file.st_size)
            report.dataFileAllocatedBytes = Int(file.st_blocks) * 512
        }

        // 3. The restart on the same directory: the measured part.
        let restarted = try ServerProcess(
            executable: plan.executable, arguments: plan.serverArguments(dataDirectory: directory, sync: plan.restartSync))
        servers.append(restarted)
        let (restartPort, ready) = try awaitReady(restarted, deadline: deadline)
        report.readySeconds = MonotonicClock.seconds(from: restarted.spawnedAt, to: ready.time)
        report.recoveredMemory = ProcessMemory.of(pid: restarted.pid)
        if let line = restarted.log.first(where: { $0.text.contains("Recovered ") }),
           let recovered = Self.recoveredFigures(in: line.text) {
            report.recoveredJobs = recovered.jobs
            report.serverRecoveryMilliseconds = recovered.milliseconds
        }
        guard report.recoveredJobs == plan.jobs else {
            throw BenchError("the restarted server recovered \(report.recoveredJobs.map(String.init) ?? "an unknown number of") jobs, not \(plan.jobs)")
        }
        report.firstReserveSeconds = try firstReserve(port: restartPort, deadline: deadline)
    }

    /// A new data directory, or the one asked for if it is empty.
    private func prepareDirectory() throws -> String {
        guard let path = plan.dataDirectory else {
            let path = FileManager.default.temporaryDirectory
                .appendingPathComponent("docket-bench-recovery-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        }
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: path), !contents.isEmpty {
            throw BenchError("--data-dir \(path) is not empty; the recovery run needs a directory of its own")
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Waits for `Server is ready`; returns the port the server logged and the ready line.
    private func awaitReady(_ server: ServerProcess, deadline: UInt64) throws -> (port: Int, ready: ServerProcess.LogLine) {
        let readyBy = min(deadline, MonotonicClock.now() + UInt64(RecoveryPlan.readyTimeoutSeconds * 1e9))
        guard let ready = server.waitForLine(containing: "Server is ready", deadline: readyBy) else {
            let tail = server.log.suffix(5).map(\.text).joined(separator: " | ")
            let why = server.isRunning ? "did not log Server is ready in time" : "exited before it was ready"
            throw BenchError("docketd \(why); its log ends: \(tail)")
        }
        guard let port = server.log.lazy.compactMap({ Self.listeningPort(in: $0.text) }).first else {
            throw BenchError("docketd was ready but logged no listening port")
        }
        return (port, ready)
    }

    /// The fill: producers only, deep windows, every job on one queue.
    private func fillPlan(port: Int, deadline: UInt64, serverPID: Int32) -> JobsPlan {
        JobsPlan(
            address: LoopbackAddress("127.0.0.1")!, port: port, protocolKind: .docket, mode: .enqueue,
            jobs: plan.jobs, producers: plan.producers, window: plan.window, workers: 1, inFlight: 1,
            size: plan.size, queue: plan.queue, threads: 1, timeoutSeconds: max(1, remaining(deadline)),
            serverPID: serverPID)
    }

    /// Reserves one job from the recovered server: it must be serving, with the jobs in place.
    private func firstReserve(port: Int, deadline: UInt64) throws -> Double {
        let control = RunControl(timeoutSeconds: max(1, min(30, remaining(deadline))), target: 1)
        let shouldStop = { control.shouldStop }
        let startedAt = MonotonicClock.now()
        let connection = try Connection(to: LoopbackAddress("127.0.0.1")!, port: port, receiveBufferSize: 64 << 10)
        let wire = DocketJobWire(queue: plan.queue, payloadSize: plan.size)
        try wire.prepareWorker(connection, shouldStop: shouldStop)
        try connection.write("RESERVE \(plan.queue) timeout=5s\r\n", shouldStop: shouldStop)
        while true {
            while let parsed = try wire.parse(connection.unread) {
                defer { connection.consume(parsed.length) }
                switch parsed.reply {
                case .job: return MonotonicClock.seconds(from: startedAt, to: MonotonicClock.now())
                case .ping, .ignored: continue
                case .noJob: throw BenchError("the first RESERVE after recovery found no job")
                case .done: throw BenchError("the first RESERVE after recovery was answered +OK")
                case .error(let text): throw BenchError("the first RESERVE after recovery: \(text)")
                }
            }
            if try !connection.fill() && control.shouldStop {
                throw BenchError("the first RESERVE after recovery was not answered")
            }
        }
    }

    private func remaining(_ deadline: UInt64) -> Double {
        let now = MonotonicClock.now()
        return deadline > now ? Double(deadline - now) / 1e9 : 0
    }

    // MARK: Reading the server's log

    /// The port of `Listening for client connections on <host>:<port>`.
    static func listeningPort(in line: String) -> Int? {
        guard let range = line.range(of: "Listening for client connections on ") else { return nil }
        let address = line[range.upperBound...]
        guard let colon = address.lastIndex(of: ":") else { return nil }
        return Int(address[address.index(after: colon)...].prefix { $0.isNumber })
    }

    /// The figures of `Recovered <N> jobs and <R> routes from <dir> in <X> ms (...)`. The
    /// directory may contain anything, so the time is the last ` in <digits> ms` of the line.
    static func recoveredFigures(in line: String) -> (jobs: Int, milliseconds: Int)? {
        guard let start = line.range(of: "Recovered ") else { return nil }
        guard let jobs = Int(line[start.upperBound...].prefix { $0.isNumber }) else { return nil }
        var searchEnd = line.endIndex
        while let marker = line.range(of: " ms", options: .backwards, range: start.upperBound..<searchEnd) {
            let digits = line[..<marker.lowerBound].reversed().prefix { $0.isNumber }
            let beforeDigits = line.index(marker.lowerBound, offsetBy: -digits.count)
            if !digits.isEmpty, line[..<beforeDigits].hasSuffix(" in "),
               let milliseconds = Int(String(digits.reversed())) {
                return (jobs, milliseconds)
            }
            searchEnd = marker.lowerBound
        }
        return nil
    }
}
