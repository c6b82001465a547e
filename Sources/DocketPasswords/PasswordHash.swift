import CCrypt
import Glibc

/// Password hashes as nats-server accepts them in its configuration (bcrypt, `$2a$…`), checked
/// with the system's libcrypt (libxcrypt on Debian): the one module that sees it.
public enum PasswordHash {
    /// Whether a configured password is a bcrypt hash rather than the password itself.
    public static func isHash(_ text: String) -> Bool {
        let prefixes = ["$2a$", "$2b$", "$2y$"]
        return prefixes.contains { text.hasPrefix($0) } && text.utf8.count == 60
    }

    /// Whether `password` hashes to `hash`. Deliberately slow (that is bcrypt's point: its cost
    /// factor makes each check take tens to hundreds of milliseconds), so callers run it off
    /// any thread that serves others (`PasswordChecker`). The final comparison takes the same
    /// time wherever the two differ.
    public static func verify(_ password: String, against hash: String) -> Bool {
        // libcrypt reads the password as C text, which ends at a NUL: "pw\0anything" would pass
        // for "pw". No hash is made of a password with a NUL, so none matches one.
        guard !password.utf8.contains(0) else { return false }
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_r(password, hash, data) else { return false }
        let computed = Array(String(cString: result).utf8)
        let expected = Array(hash.utf8)
        // libxcrypt answers failures with a string starting with '*', never equal to a hash.
        guard computed.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<computed.count { difference |= computed[index] ^ expected[index] }
        return difference == 0
    }

    /// A bcrypt hash of `password` with `cost` (4-31), for tests and for operators making one.
    public static func make(_ password: String, cost: Int = 11) -> String? {
        guard !password.utf8.contains(0) else { return nil }  // bcrypt would end it there (see `verify`)
        // The reentrant form: crypt_gensalt's own buffer is shared by every thread.
        var setting = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        guard crypt_gensalt_rn("$2b$", UInt(cost), nil, 0, &setting, Int32(setting.count)) != nil else { return nil }
        let salt = String(decoding: setting.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_r(password, salt, data) else { return nil }
        let text = String(cString: result)
        return isHash(text) ? text : nil
    }
}

/// Runs password hash checks on threads of their own, so that a slow bcrypt never stalls the
/// event loop, and several at once, so that one slow check does not hold up every other login.
/// Results come back through `readDescriptor`: when it is readable, the owner calls
/// `takeResults()` on its own thread.
public final class PasswordChecker: @unchecked Sendable {
    public struct Result: Sendable {
        public let id: UInt64
        public let matches: Bool
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [(id: UInt64, source: String, password: String, hash: String)] = []
    /// Checks started for each source since the checker was last idle (none queued, none
    /// running): the next check is one of the source that has had the fewest, so that a flood
    /// of bad logins from one host delays another host's login by a check, not by the whole
    /// flood (with one thread and a cost of 11, twenty bad logins held a good one past the 2 s
    /// auth timeout).
    private var startedBySource: [String: Int] = [:]
    private var running = 0
    private var results: [Result] = []
    private var stopping = false
    private var threads: [pthread_t] = []
    private let pipeRead: Int32
    private let pipeWrite: Int32
    /// Checks queued or running at most; past it `submit` refuses (a flood of bad logins must not
    /// grow memory or delay good ones without bound).
    public let capacity: Int

    public var readDescriptor: Int32 { pipeRead }

    /// `threads` checks run at once (bcrypt is all CPU: more than the cores would only slow each).
    public init(capacity: Int = 256, threads: Int = PasswordChecker.defaultThreads) throws(PasswordCheckerError) {
        self.capacity = capacity
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw PasswordCheckerError("pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        pipeRead = fds[0]
        pipeWrite = fds[1]
        mutex.initialize(to: pthread_mutex_t())
        wake.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for _ in 0..<max(1, threads) {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            guard pthread_create(&thread, nil, { context in
                let checker = Unmanaged<PasswordChecker>.fromOpaque(context!).takeRetainedValue()
                checker.run()
                return nil
            }, context) == 0 else {
                Unmanaged<PasswordChecker>.fromOpaque(context).release()
                if self.threads.isEmpty { throw PasswordCheckerError("cannot start a password check thread") }
                break
            }
            self.threads.append(thread)
        }
    }

    /// Half the cores, at least one and at most four: logins get their share of the machine,
    /// and a flood of bad ones cannot take all of it from the event loop.
    public static var defaultThreads: Int { min(4, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) / 2)) }

    deinit {
        close(pipeRead)
        close(pipeWrite)
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Queues a check for `source` (the host that asks); false when `capacity` checks are
    /// already waiting. Sources take turns (see `startedBySource`).
    public func submit(id: UInt64, password: String, hash: String, source: String = "") -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard queue.count < capacity else { return false }
        queue.append((id, source, password, hash))
        pthread_cond_signal(wake)
        return true
    }

    /// Drops a check that has not started (its connection went away); a running one finishes
    /// and its result comes back as usual.
    public func cancel(id: UInt64) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        queue.removeAll { $0.id == id }
    }

    /// Results finished since the last call, oldest first.
    public func takeResults() -> [Result] {
        var sink = [UInt8](repeating: 0, count: 256)
        while sink.withUnsafeMutableBytes({ read(pipeRead, $0.baseAddress, $0.count) }) > 0 {}
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let taken = results
        results.removeAll()
        return taken
    }

    /// Stops the thread after the check in progress; queued ones are dropped.
    public func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        queue.removeAll()
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
    }

    /// The queued check to start next: the oldest of the source that has had the fewest started.
    /// The queue is at most `capacity` long, and each check costs a bcrypt: a scan is nothing.
    private func nextCheck() -> Int {
        var best = 0
        var fewest = Int.max
        for (index, check) in queue.enumerated() {
            let started = startedBySource[check.source, default: 0]
            if started < fewest {
                fewest = started
                best = index
                if started == 0 { break }
            }
        }
        return best
    }

    private func run() {
        pthread_mutex_lock(mutex)
        while true {
            while queue.isEmpty && !stopping { pthread_cond_wait(wake, mutex) }
            if stopping { break }
            let check = queue.remove(at: nextCheck())
            startedBySource[check.source, default: 0] += 1
            running += 1
            pthread_mutex_unlock(mutex)
            let matches = PasswordHash.verify(check.password, against: check.hash)
            pthread_mutex_lock(mutex)
            running -= 1
            if queue.isEmpty && running == 0 { startedBySource.removeAll() }
            results.append(Result(id: check.id, matches: matches))
            var byte: UInt8 = 1
            _ = write(pipeWrite, &byte, 1)
        }
        pthread_mutex_unlock(mutex)
    }
}

public struct PasswordCheckerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
