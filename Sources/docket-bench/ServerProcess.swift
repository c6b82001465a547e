import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A docketd that docket-bench starts itself (the recovery scenario restarts one on the same
/// data directory): spawned with posix_spawn, its stderr read on a thread of its own that
/// stamps every log line with the moment it arrived, and stopped by its process id.
///
/// The arrival stamps are what make the start-up time exact: the waiting thread may look at the
/// log only every millisecond, but a line's time is when the reader got it from the pipe.
final class ServerProcess: @unchecked Sendable {
    /// One line of the server's log and when it arrived, in monotonic nanoseconds.
    struct LogLine: Sendable {
        var time: UInt64
        var text: String
    }

    let pid: pid_t
    /// Just before posix_spawn.
    let spawnedAt: UInt64
    private let lines = LogBuffer()
    private let readerDone = DispatchSemaphore(value: 0)
    /// Set once the process has been reaped; its exit status.
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments`, stdout discarded and stderr collected.
    init(executable: String, arguments: [String]) throws {
        guard access(executable, X_OK) == 0 else {
            throw BenchError("\(executable) is not an executable file; build docketd or pass --docketd")
        }
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw BenchError.system("pipe") }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        // Neither end may leak into the child as such (or into other children started meanwhile).
        for descriptor in pipeEnds { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copy, so only fd 2 of the child is the pipe.
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)

        // The child gets an empty signal mask and default handlers for the signals we touch: a
        // test runner may block SIGTERM, and docket-bench itself ignores SIGPIPE.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signo in [SIGPIPE, SIGTERM, SIGINT] { sigaddset(&defaults, signo) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        spawnedAt = MonotonicClock.now()
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, environ)
        close(writeEnd)
        guard status == 0 else {
            close(readEnd)
            throw BenchError("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
        ChildGuard.track(child)

        let lines = self.lines
        let done = readerDone
        let reader = Thread {
            Self.readLines(from: readEnd, into: lines)
            close(readEnd)
            done.signal()
        }
        reader.name = "server-log"
        reader.start()
    }

    deinit {
        // A run that threw before stopping its server must not leave it behind.
        if exitStatus == nil { _ = stop(timeoutSeconds: 5) }
    }

    /// Reads the pipe until the server closes it (exits), splitting it into stamped lines.
    private static func readLines(from descriptor: Int32, into lines: LogBuffer) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            let now = MonotonicClock.now()
            pending.append(contentsOf: buffer[..<count])
            var complete: [LogLine] = []
            while let newline = pending.firstIndex(of: 0x0A) {
                complete.append(LogLine(time: now, text: String(decoding: pending[..<newline], as: UTF8.self)))
                pending.removeSubrange(...newline)
            }
            if !complete.isEmpty { lines.append(complete) }
        }
        if !pending.isEmpty {
            let last = LogLine(time: MonotonicClock.now(), text: String(decoding: pending, as: UTF8.self))
            lines.append([last])
        }
    }

    /// Every line logged so far.
    var log: [LogLine] { lines.all }

    /// The first line containing `needle`, waiting for it until `deadline` (monotonic ns);
    /// nil if the deadline passed or the server exited first.
    func waitForLine(containing needle: String, deadline: UInt64) -> LogLine? {
        var checked = 0
        while true {
            let all = lines.all
            if let found = all[checked...].first(where: { $0.text.contains(needle) }) { return found }
            checked = all.count
            if !isRunning || MonotonicClock.now() >= deadline {
                // The reader may still be delivering the last lines of a process that exited.
                if !isRunning { finishReading() }
                return lines.all[checked...].first { $0.text.contains(needle) }
            }
            usleep(1_000)
        }
    }

    /// Whether the process has not exited yet (reaping it if it has).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid || (result < 0 && errno == ECHILD) {
            exitStatus = result == pid ? status : -1
            ChildGuard.untrack(pid)
            return false
        }
        return true
    }

    /// Sends SIGTERM and waits up to `timeoutSeconds` for the process to exit, then SIGKILL.
    /// - Returns: whether it exited by itself within the time.
    @discardableResult
    func stop(timeoutSeconds: Double) -> Bool {
        guard isRunning else { return true }
        kill(pid, SIGTERM)
        return waitForExit(timeoutSeconds: timeoutSeconds, killAfter: true)
    }

    /// Waits up to `timeoutSeconds` for the process to exit; with `killAfter`, SIGKILLs it then.
    /// - Returns: whether it exited within the time.
    func waitForExit(timeoutSeconds: Double, killAfter: Bool) -> Bool {
        let deadline = MonotonicClock.now() + UInt64(timeoutSeconds * 1e9)
        while isRunning {
            if MonotonicClock.now() >= deadline {
                guard killAfter else { return false }
                kill(pid, SIGKILL)
                while isRunning { usleep(1_000) }
                finishReading()
                return false
            }
            usleep(1_000)
        }
        finishReading()
        return true
    }

    /// Waits (briefly) for the reader to see the end of the pipe, so `log` is complete.
    private func finishReading() {
        _ = readerDone.wait(timeout: .now() + .seconds(2))
        readerDone.signal()  // Let later calls through at once.
    }

    /// The exit status as waitpid(2) reported it; nil while running.
    var terminationStatus: Int32? { isRunning ? nil : exitStatus }

    /// The lines that say something went wrong: warnings, errors, fatal errors.
    var troubleLines: [String] {
        log.map(\.text).filter { $0.contains("[WRN]") || $0.contains("[ERR]") || $0.contains("[FTL]") }
    }
}

/// The log lines of one server, shared by the thread reading them and everyone else.
final class LogBuffer: Sendable {
    private let lines = Mutex<[ServerProcess.LogLine]>([])

    func append(_ more: [ServerProcess.LogLine]) { lines.withLock { $0.append(contentsOf: more) } }

    var all: [ServerProcess.LogLine] { lines.withLock { $0 } }
}

/// The servers docket-bench has started and not yet reaped, so that a SIGINT or SIGTERM to
/// docket-bench stops them too instead of leaving them running.
enum ChildGuard {
    private final class Slot: Sendable {
        let pid = Atomic<Int32>(0)
    }

    private static let slots = (0..<8).map { _ in Slot() }
    private static let installed = Atomic<Bool>(false)

    static func track(_ pid: pid_t) {
        for slot in slots where slot.pid.compareExchange(expected: 0, desired: pid, ordering: .sequentiallyConsistent).exchanged {
            return
        }
    }

    static func untrack(_ pid: pid_t) {
        for slot in slots { _ = slot.pid.compareExchange(expected: pid, desired: 0, ordering: .sequentiallyConsistent) }
    }

    /// Kills every tracked child; only async-signal-safe calls, as it runs in a signal handler.
    static func killAll() {
        for slot in slots {
            let pid = slot.pid.load(ordering: .sequentiallyConsistent)
            if pid > 0 { kill(pid, SIGKILL) }
        }
    }

    /// Makes SIGINT and SIGTERM kill the tracked children, then exit. Only the command line
    /// calls this: a test runner keeps its own handlers.
    static func installHandlers() {
        guard installed.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else {
            return
        }
        _ = slots  // Initialize the statics before a handler can touch them.
        for signo in [SIGINT, SIGTERM] {
            signal(signo) { signo in
                ChildGuard.killAll()
                _exit(128 + signo)
            }
        }
    }
}
