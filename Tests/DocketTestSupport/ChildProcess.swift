import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child program the tests run (docketd, the CLI, openssl, nats-server), spawned with
/// `posix_spawn` and reaped here: the part of Foundation's `Process` the tests use, without it.
///
/// Foundation's `Process.run()` of Swift 6.3 now and then crashed the test process itself: it
/// finds the highest open descriptor by copying whole 256-byte `d_name`s out of readdir's buffer
/// and over-reads its end (swift-corelibs-foundation PR #5472, fixed after 6.3.1). A CI run lost
/// its `swift` suite to that. Foundation also learned of a child's end on a dispatch queue of its
/// own, which on a loaded machine left tests waiting on zombies; here `waitpid` on the child's
/// own id answers at once.
///
/// The child gets the standard streams it is given (a `Pipe`, a `FileHandle`, or
/// `FileHandle.nullDevice`; nil inherits the test process's), closes every other descriptor, and
/// starts with no blocked signals and the usual signals at their defaults, as from a shell.
public final class ChildProcess: @unchecked Sendable {
    public var executableURL: URL?
    public var arguments: [String] = []
    /// nil: the test process's environment.
    public var environment: [String: String]?
    public var currentDirectoryURL: URL?
    /// A `Pipe` (the child gets its reading end), a `FileHandle`, or nil to inherit.
    public var standardInput: Any?
    /// A `Pipe` (the child gets its writing end), a `FileHandle`, or nil to inherit.
    public var standardOutput: Any?
    public var standardError: Any?

    private let lock = NSLock()
    private var pid: pid_t = 0
    /// The raw wait status once reaped.
    private var reapedStatus: Int32?

    public init() {}

    /// The child's process id (0 before `run()`).
    public var processIdentifier: Int32 {
        lock.lock()
        defer { lock.unlock() }
        return pid
    }

    public func run() throws {
        guard let executableURL else { throw HarnessError("ChildProcess.run() without an executable") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [FileHandle] = []
        for (target, stream) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            guard let stream else { continue }
            let handle: FileHandle
            if let pipe = stream as? Pipe {
                handle = target == 0 ? pipe.fileHandleForReading : pipe.fileHandleForWriting
                parentEnds.append(handle)
            } else if let given = stream as? FileHandle {
                handle = given
            } else {
                throw HarnessError("ChildProcess: a standard stream must be a Pipe or a FileHandle")
            }
            if handle === FileHandle.nullDevice {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            } else {
                posix_spawn_file_actions_adddup2(&actions, handle.fileDescriptor, target)
            }
        }
        guard Self.addCloseFrom(&actions, 3) == 0 else { throw HarnessError("posix_spawn_file_actions_addclosefrom_np failed") }
        if let currentDirectoryURL {
            guard Self.addChdir(&actions, currentDirectoryURL.path) == 0 else { throw HarnessError("posix_spawn_file_actions_addchdir_np failed") }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = [executableURL.path] + arguments
        let environment = (self.environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var argumentPointers: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var environmentPointers: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argumentPointers { free(pointer) }
            for pointer in environmentPointers { free(pointer) }
        }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, argv[0], &actions, &attributes, &argumentPointers, &environmentPointers)
        guard spawned == 0 else { throw HarnessError("cannot run \(argv[0]): \(String(cString: strerror(spawned)))") }
        lock.lock()
        pid = child
        lock.unlock()
        // The child has its own copies; ours would keep a pipe from ever reaching its end.
        for handle in parentEnds { try? handle.close() }
    }

    /// Whether the child is still running (reaping it if it has ended).
    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return pid != 0 && reapLocked(blocking: false) == nil
    }

    /// The exit code, or the number of the signal that ended the child; -1 while it runs.
    public var terminationStatus: Int32 {
        lock.lock()
        defer { lock.unlock() }
        guard let status = reapedStatus else { return -1 }
        return Self.describe(status)
    }

    /// SIGTERM, if the child still runs.
    public func terminate() { signal(SIGTERM) }

    /// Sends `number` to the child if it has not been reaped (its id cannot have been reused).
    public func signal(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if pid != 0 && reapedStatus == nil { kill(pid, number) }
    }

    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }

    /// Waits until the child has ended and returns `terminationStatus`; nil if `timeout` passes.
    public func awaitExit(timeout: TimeInterval = 60) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
        return terminationStatus
    }

    /// SIGKILL, then its end (nil only if even that does not come within a minute).
    @discardableResult
    public func killAndAwaitExit() -> Int32? {
        signal(SIGKILL)
        return awaitExit()
    }

    private func reapLocked(blocking: Bool) -> Int32? {
        if let reapedStatus { return reapedStatus }
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
            if result == pid {
                reapedStatus = status
                return status
            }
            if result < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// WIFEXITED/WEXITSTATUS/WTERMSIG, which Swift does not import.
    private static func describe(_ status: Int32) -> Int32 {
        status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    deinit {
        // Not to leave a zombie behind; a child still running is left to its owner's kill.
        lock.lock()
        if pid != 0 { _ = reapLocked(blocking: false) }
        lock.unlock()
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later) and
    /// `posix_spawn_file_actions_addchdir_np` (2.29), which Swift's Glibc module does not
    /// import: found at run time.
    static let addCloseFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
        unsafeBitCast(glibcSymbol("posix_spawn_file_actions_addclosefrom_np", since: "2.34"),
                      to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    static let addChdir: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32 = {
        unsafeBitCast(glibcSymbol("posix_spawn_file_actions_addchdir_np", since: "2.29"),
                      to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
    }()

    private static func glibcSymbol(_ name: String, since version: String) -> UnsafeMutableRawPointer {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
            fatalError("glibc \(version) or later is needed (\(name))")
        }
        return symbol
    }
}
