#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DocketClient

/// How one run of the worker command ended.
struct CommandOutcome {
    /// The exit status, or nil when a signal ended it.
    var status: Int32?
    var signal: Int32?
    /// Standard output, up to the result limit.
    var stdout: [UInt8]
    /// Whether standard output went past the limit (the rest was read and dropped).
    var stdoutTruncated: Bool
    /// The last bytes of standard error, progress lines left out.
    var stderrTail: [UInt8]
    var timedOut: Bool
}

/// Runs the `docket work` command once per job: the payload on stdin, stdout collected as the
/// result, stderr scanned for `progress <0-100> [note]` lines and otherwise kept (its tail is
/// the failure reason) and echoed. Each child runs in a process group of its own, so a
/// Ctrl-C at the terminal reaches only `docket work`, which lets running commands finish.
final class CommandRunner: @unchecked Sendable {
    let arguments: [String]
    let maxResult: Int
    let maxReason: Int
    let timeoutMilliseconds: Int?
    let echoStderr: Bool
    let extraEnvironment: [String: String]

    private let lock = PosixMutex()
    private var children: Set<pid_t> = []

    init(arguments: [String], maxResult: Int, maxReason: Int, timeoutMilliseconds: Int?, echoStderr: Bool, environment: [String: String]) {
        self.arguments = arguments
        self.maxResult = maxResult
        self.maxReason = maxReason
        self.timeoutMilliseconds = timeoutMilliseconds
        self.echoStderr = echoStderr
        self.extraEnvironment = environment
    }

    /// Sends SIGTERM to every running command's process group (a second Ctrl-C).
    func terminateAll() {
        lock.withLock {
            for pid in children { kill(-pid, SIGTERM) }
        }
    }

    /// Runs the command for `job`; `progress` gets every progress line.
    func run(job: Job, progress: (Int, String?) -> Void) throws -> CommandOutcome {
        var stdinPipe: [Int32] = [-1, -1]
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        // Pipes are made and the child spawned under one lock, close-on-exec, so a command
        // started by another slot never inherits this one's pipe ends (and never keeps them open).
        lock.lock()
        var locked = true
        defer { if locked { lock.unlock() } }
        guard makePipe(&stdinPipe), makePipe(&stdoutPipe), makePipe(&stderrPipe) else {
            for fd in stdinPipe + stdoutPipe + stderrPipe where fd >= 0 { close(fd) }
            throw CommandFailure("cannot create pipes: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var environment = Self.currentEnvironment()
        for (key, value) in extraEnvironment { environment[key] = value }
        environment["DOCKET_JOB_ID"] = String(job.id)
        environment["DOCKET_QUEUE"] = job.queue
        environment["DOCKET_ATTEMPT"] = String(job.attempt)
        // Unique per run, crashes included: the key for side effects that must happen once.
        if let delivery = job.delivery { environment["DOCKET_DELIVERY"] = String(delivery) }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        if status == 0 { children.insert(pid) }
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        lock.unlock()
        locked = false
        guard status == 0 else {
            close(stdinPipe[1])
            close(stdoutPipe[0])
            close(stderrPipe[0])
            throw CommandFailure("cannot run \(arguments[0]): \(String(cString: strerror(status)))")
        }
        defer { lock.withLock { _ = children.remove(pid) } }
        return pump(
            pid: pid, stdin: stdinPipe[1], stdout: stdoutPipe[0], stderr: stderrPipe[0], payload: job.payload, jobID: job.id,
            progress: progress)
    }

    private func makePipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    /// Feeds stdin, drains stdout and stderr, and reaps the child.
    private func pump(
        pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32, payload: [UInt8], jobID: UInt64, progress: (Int, String?) -> Void
    ) -> CommandOutcome {
        for fd in [stdin, stdout, stderr] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        var inputFD: Int32? = stdin
        var outputFD: Int32? = stdout
        var errorFD: Int32? = stderr
        var written = 0
        if payload.isEmpty {
            close(stdin)
            inputFD = nil
        }
        var result: [UInt8] = []
        var truncated = false
        var tail: [UInt8] = []
        var partialLine: [UInt8] = []
        var exitStatus: Int32? = nil
        var exitedAt: Int64? = nil
        var timedOut = false
        var killDeadline: Int64? = nil
        let startedAt = now()
        var chunk = [UInt8](repeating: 0, count: 65_536)

        func handleLine(_ line: [UInt8]) {
            var line = line
            if line.last == 13 { line.removeLast() }
            if let (percent, note) = Self.progressLine(line) {
                progress(percent, note)
                return
            }
            tail += line
            tail.append(10)
            if tail.count > 2 * maxReason + 4096 { tail.removeFirst(tail.count - maxReason) }
            if echoStderr { writeStderr("[job \(jobID)] " + String(decoding: line, as: UTF8.self) + "\n") }
        }

        while outputFD != nil || errorFD != nil || inputFD != nil {
            var pollers: [pollfd] = []
            if let fd = inputFD { pollers.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
            if let fd = outputFD { pollers.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            if let fd = errorFD { pollers.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&pollers, nfds_t(pollers.count), 100)
            if ready < 0 && errno != EINTR { break }
            for poller in pollers where poller.revents != 0 {
                if poller.fd == inputFD {
                    let count = payload.withUnsafeBytes { write(poller.fd, $0.baseAddress! + written, payload.count - written) }
                    if count > 0 { written += count }
                    if count < 0 && errno == EAGAIN { continue }
                    if count <= 0 || written == payload.count {
                        // Done, or the command does not read its input (EPIPE): either way, close.
                        close(poller.fd)
                        inputFD = nil
                    }
                } else if poller.fd == outputFD {
                    let count = chunk.withUnsafeMutableBytes { read(poller.fd, $0.baseAddress, $0.count) }
                    if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                    if count <= 0 {
                        close(poller.fd)
                        outputFD = nil
                        continue
                    }
                    let room = maxResult - result.count
                    if room >= count {
                        result += chunk[..<count]
                    } else {
                        if room > 0 { result += chunk[..<room] }
                        truncated = true
                    }
                } else if poller.fd == errorFD {
                    let count = chunk.withUnsafeMutableBytes { read(poller.fd, $0.baseAddress, $0.count) }
                    if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                    if count <= 0 {
                        close(poller.fd)
                        errorFD = nil
                        if !partialLine.isEmpty { handleLine(partialLine) }
                        partialLine.removeAll()
                        continue
                    }
                    var start = 0
                    for index in 0..<count where chunk[index] == 10 {
                        handleLine(partialLine + chunk[start..<index])
                        partialLine.removeAll(keepingCapacity: true)
                        start = index + 1
                    }
                    partialLine += chunk[start..<count]
                    if partialLine.count > 64 * 1024 {
                        handleLine(partialLine)
                        partialLine.removeAll()
                    }
                }
            }
            // The child may have exited while something it started keeps the pipes open:
            // give that a moment, then stop reading.
            if exitStatus == nil {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    exitStatus = status
                    exitedAt = now()
                }
            } else if let exitedAt, now() - exitedAt > 1000 {
                break
            }
            if let limit = timeoutMilliseconds, exitStatus == nil {
                if !timedOut, now() - startedAt > Int64(limit) {
                    timedOut = true
                    kill(-pid, SIGTERM)
                    killDeadline = now() + 5000
                } else if let deadline = killDeadline, now() > deadline {
                    kill(-pid, SIGKILL)
                    killDeadline = nil
                }
            }
        }
        for fd in [inputFD, outputFD, errorFD].compactMap({ $0 }) { close(fd) }
        if !partialLine.isEmpty { handleLine(partialLine) }
        if exitStatus == nil {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            exitStatus = status
        }
        let raw = exitStatus ?? 0
        let signalled = raw & 0x7F
        return CommandOutcome(
            status: signalled == 0 ? (raw >> 8) & 0xFF : nil, signal: signalled == 0 ? nil : signalled, stdout: result,
            stdoutTruncated: truncated, stderrTail: Array(tail.suffix(maxReason)), timedOut: timedOut)
    }

    /// `progress <0-100> [note]`: the percentage and the note.
    static func progressLine(_ line: [UInt8]) -> (Int, String?)? {
        let text = String(decoding: line, as: UTF8.self)
        let fields = text.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard fields.count >= 2, fields[0].lowercased() == "progress", fields[1].count <= 3, fields[1].allSatisfy(\.isNumber),
            let percent = Int(fields[1]), (0...100).contains(percent)
        else { return nil }
        let note = fields.count == 3 ? String(fields[2]).trimmingBlanks() : nil
        return (percent, note?.isEmpty == true ? nil : note)
    }

    static func currentEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    private func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }
}

/// The command failed (or could not run); the description is the job's failure reason.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension String {
    func trimmingBlanks() -> String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" || first == "\r" || first == "\n" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" || last == "\n" { text.removeLast() }
        return String(text)
    }
}

/// A pthread mutex for the command-line tool.
final class PosixMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// Writes straight to stderr (unbuffered, whole lines).
func writeStderr(_ text: String) {
    var copy = text
    copy.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let count = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if count <= 0 { return }
            offset += count
        }
    }
}

/// Writes straight to stdout.
func writeStdout(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let count = write(1, raw.baseAddress! + offset, raw.count - offset)
            if count <= 0 { return }
            offset += count
        }
    }
}

func writeStdout(_ text: String) { writeStdout(Array(text.utf8)) }
