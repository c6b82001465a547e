import ArgumentParser
import DocketClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The write end of the pipe the signal handler reports SIGTERM and SIGINT on.
nonisolated(unsafe) private var signalWriteFD: Int32 = -1

struct Work: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command once per job of a queue: any program becomes a reliable worker.",
        discussion: """
            For each job, the command after -- runs with the job's payload on its standard \
            input and DOCKET_JOB_ID, DOCKET_QUEUE, DOCKET_ATTEMPT and DOCKET_DELIVERY (unique per \
            run, also across server crashes) in its environment. Exit \
            status 0 completes the job with the command's standard output as the result (trailing \
            line ends removed, cut to --max-result). Any other status fails the attempt with the \
            end of its standard error as the reason (cut to --max-reason), and the job's retry \
            policy decides what happens next. A line 'progress <0-100> [note]' on standard error \
            reports progress instead of being part of the reason. While a command runs, \
            heartbeats keep the job's lease alive, however long it takes. The command also gets \
            DOCKET_SERVER, the TLS settings (DOCKET_TLS_CA, DOCKET_TLS_CERT, DOCKET_TLS_KEY, \
            DOCKET_TLS_HANDSHAKE_FIRST) and the credentials given as options (DOCKET_TOKEN, or \
            DOCKET_USER and DOCKET_PASS), so a docket it runs reaches the same server the same way.

            With --concurrency N, up to N commands run at once. SIGTERM or Ctrl-C stops taking \
            jobs and lets running commands finish (each runs in a process group of its own, so \
            Ctrl-C does not reach it); a second signal sends SIGTERM to the running commands.

            Example: docket work thumbnails --concurrency 4 -- ./make-thumbnail.sh
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The queue to take jobs from; several may be given separated by commas, the first preferred.")
    var queue: String

    @Option(name: [.customShort("c"), .long], help: "How many commands may run at once.")
    var concurrency = 1

    @Option(help: "Send a heartbeat this often while a command runs (default: a third of each job's lease).")
    var heartbeat: String?

    @Option(help: "Stop a command that runs longer than this (SIGTERM, then SIGKILL after 5s) and fail its job.")
    var timeout: String?

    @Option(help: "The most bytes of standard output kept as the result.")
    var maxResult = "64KiB"

    @Option(help: "The most bytes at the end of standard error kept as the failure reason.")
    var maxReason = "2KiB"

    @Flag(help: "Keep trailing line ends of the output in the result.")
    var keepNewlines = false

    @Flag(name: .shortAndLong, help: "Do not log jobs as they start and end, nor echo the commands' standard error.")
    var quiet = false

    @Argument(parsing: .postTerminator, help: "The command to run for each job, after --.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("Give the command to run after --, as in: docket work emails -- ./send.sh") }
        // A command that cannot run would fail every job it is given, using up their attempts.
        guard let program = Self.resolve(command[0]) else {
            throw ValidationError("Cannot run \(command[0]): no such executable file (give a path, or a program on PATH).")
        }
        // A script whose #! line names a missing interpreter is executable, yet never runs.
        if let interpreter = Self.missingInterpreter(of: program) {
            throw ValidationError("Cannot run \(command[0]): its interpreter \(interpreter) (on its #! line) is not an executable file.")
        }
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1.") }
    }

    /// Whether `program` names an executable file: a path, or a name found on PATH.
    static func isRunnable(_ program: String) -> Bool { resolve(program) != nil }

    /// The executable file `program` names: itself when it has a /, else the first match on
    /// PATH (an empty entry is the current directory, as for posix_spawnp).
    static func resolve(_ program: String) -> String? {
        func executable(_ path: String) -> Bool { access(path, X_OK) == 0 && !isDirectory(path) }
        if program.contains("/") { return executable(program) ? program : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = "\(directory.isEmpty ? "." : directory)/\(program)"
            if executable(candidate) { return candidate }
        }
        return nil
    }

    /// The interpreter a script's `#!` line names, when it cannot run (for `#!/usr/bin/env
    /// name`, the name, looked up on PATH); nil when it can, or the file is not a script.
    static func missingInterpreter(of path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 256)
        let count = head.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 2, head[0] == UInt8(ascii: "#"), head[1] == UInt8(ascii: "!") else { return nil }
        let line = head[2..<count].prefix { $0 != 10 && $0 != 13 }
        let words = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let interpreter = words.first else { return nil }
        guard resolve(interpreter) != nil, interpreter.contains("/") else { return interpreter }
        // env finds the program on PATH when the script starts: check that it will.
        if interpreter.hasSuffix("/env"), let name = words.dropFirst().first(where: { !$0.hasPrefix("-") && !$0.contains("=") }),
            resolve(name) == nil
        {
            return name
        }
        return nil
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    func run() throws {
        let queues = queue.split(separator: ",").map(String.init)
        let resultLimit = try parseSize(maxResult, "--max-result")
        let reasonLimit = max(1, try parseSize(maxReason, "--max-reason"))
        let commandTimeout = try timeout.map { try parseDuration($0, "--timeout").milliseconds! }
        var heartbeatPolicy = Worker.Heartbeat.automatic
        if let heartbeat { heartbeatPolicy = .every(try parseDuration(heartbeat, "--heartbeat")) }
        let connectionOptions = try connection.connectionOptions(name: "docket-work")
        let runner = CommandRunner(
            arguments: command, maxResult: resultLimit, maxReason: reasonLimit, timeoutMilliseconds: commandTimeout,
            echoStderr: !quiet, environment: connection.childEnvironment(connectionOptions.credentials))
        let keepNewlines = self.keepNewlines
        let quiet = self.quiet
        var onEvent: (@Sendable (WorkerEvent) -> Void)? = nil
        if !quiet { onEvent = { event in Self.log(event) } }
        let options = Worker.Options(
            concurrency: concurrency, heartbeat: heartbeatPolicy,
            connection: connectionOptions,
            onEvent: onEvent)

        let handler: Worker.Handler = { context in
            let outcome = try runner.run(job: context.job) { percent, note in
                do {
                    try context.progress(percent, note: note)
                } catch {
                    if !quiet { writeStderr("docket work: job \(context.id): progress not recorded: \(error)\n") }
                }
            }
            return try Self.finish(outcome, keepNewlines: keepNewlines, timeout: commandTimeout)
        }
        let address = connection.address
        let worker = try reportingFailure { () throws(DocketError) in
            try Worker(address: address, queues: queues, options: options, handler: handler)
        }

        let signals = Self.installSignalHandlers()
        try reportingFailure { () throws(DocketError) in try worker.start() }
        if !quiet {
            writeStderr("docket work: taking jobs from \(queues.joined(separator: ", ")) with \(concurrency) slot\(concurrency == 1 ? "" : "s"): \(command.joined(separator: " "))\n")
        }
        var signalsSeen = 0
        while !worker.wait(timeout: .milliseconds(0)) {
            var poller = pollfd(fd: signals, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) > 0 else { continue }
            var byte: UInt8 = 0
            guard read(signals, &byte, 1) == 1 else { continue }
            signalsSeen += 1
            if signalsSeen == 1 {
                if !quiet { writeStderr("docket work: stopping: no new jobs; running commands may finish (signal again to terminate them)\n") }
                worker.stop()
            } else {
                if !quiet { writeStderr("docket work: terminating running commands\n") }
                runner.terminateAll()
            }
        }
        if !quiet { writeStderr("docket work: stopped after \(worker.completed) completed and \(worker.failed) failed\n") }
        if worker.runningSlots == 0, signalsSeen == 0 {
            // Every slot ended without a stop: a fatal error (such as a queue the server refuses).
            throw ExitCode(1)
        }
    }

    /// The job's result, or the error that fails it.
    static func finish(_ outcome: CommandOutcome, keepNewlines: Bool, timeout: Int?) throws -> [UInt8] {
        let tail = String(decoding: outcome.stderrTail, as: UTF8.self).trimmingBlanks()
        if outcome.timedOut {
            throw CommandFailure("timed out after \(timeout ?? 0) ms" + (tail.isEmpty ? "" : ": \(tail)"))
        }
        if outcome.status == 0 {
            var result = outcome.stdout
            if !keepNewlines {
                while let last = result.last, last == 10 || last == 13 { result.removeLast() }
            }
            return result
        }
        if !tail.isEmpty { throw CommandFailure(tail) }
        if let signal = outcome.signal { throw CommandFailure("killed by signal \(signal)") }
        throw CommandFailure("exited with status \(outcome.status ?? -1)")
    }

    static func log(_ event: WorkerEvent) {
        switch event {
        case .started(let job):
            writeStderr("docket work: job \(job.id) (\(job.queue), attempt \(job.attempt)) started\n")
        case .completed(let job, let milliseconds):
            writeStderr("docket work: job \(job.id) completed in \(milliseconds) ms\n")
        case .failed(let job, let reason, let outcome):
            let next: String
            switch outcome {
            case .retry(let delay)?: next = "retry in \(delay) ms"
            case .dead?: next = "dead"
            case .throttled(let hold)?: next = "throttled \(hold) ms"
            case nil: next = "not recorded"
            }
            writeStderr("docket work: job \(job.id) failed (\(next)): \(Events.oneLine(reason))\n")
        case .leaseLost(let job):
            writeStderr("docket work: job \(job.id): lease lost; another worker may run it\n")
        case .finishRefused(let job, let error):
            writeStderr("docket work: job \(job.id): the server refused its outcome: \(error)\n")
        case .connectionProblem(let slot, let error):
            writeStderr("docket work: slot \(slot + 1): \(error)\n")
        }
    }

    /// SIGTERM and SIGINT write a byte to a pipe; returns its read end. They are unblocked
    /// too (a parent may have started this process with them blocked), before any thread of
    /// the worker starts, so every thread inherits that.
    static func installSignalHandlers() -> Int32 {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        signalWriteFD = fds[1]
        for signalNumber in [SIGTERM, SIGINT] {
            var action = sigaction()
            #if canImport(Darwin)
            action.__sigaction_u.__sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(signalWriteFD, &byte, 1)
            }
            #else
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(signalWriteFD, &byte, 1)
            }
            #endif
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(signalNumber, &action, nil)
        }
        return fds[0]
    }
}
