#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Small POSIX building blocks, so the client needs no Foundation: a mutex, a condition
// variable on the monotonic clock, threads, and the clock itself.

/// A pthread mutex on the heap (a Swift struct member would move, and a mutex must not).
final class PosixLock: @unchecked Sendable {
    let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }
    /// Takes the lock if it is free; false (and not taken) if another thread holds it.
    @inline(__always) func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

    /// Takes the lock, waiting at most until `deadline` (nil: for ever); false (and not taken)
    /// once it has passed. For a lock that may be held by a thread stuck in a write.
    func lock(until deadline: Deadline?) -> Bool {
        guard let deadline else {
            lock()
            return true
        }
        if tryLock() { return true }
        #if canImport(Darwin)
        // No timed mutex wait: poll, every millisecond.
        while !deadline.hasPassed {
            Clock.sleep(milliseconds: 1)
            if tryLock() { return true }
        }
        return false
        #else
        // pthread_mutex_timedlock reads CLOCK_REALTIME: the monotonic time left, from now.
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let remaining = deadline.nanoseconds &- min(deadline.nanoseconds, Clock.nanoseconds())
        let total = UInt64(now.tv_nsec) + remaining % 1_000_000_000
        var absolute = timespec(
            tv_sec: now.tv_sec + Int(remaining / 1_000_000_000) + Int(total / 1_000_000_000), tv_nsec: Int(total % 1_000_000_000))
        while true {
            let status = pthread_mutex_timedlock(mutex, &absolute)
            if status == 0 { return true }
            if status != EINTR { return false }
        }
        #endif
    }

    @inline(__always) func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A condition variable whose timed waits use the monotonic clock (wall-clock jumps must not
/// stretch or cut a timeout).
final class PosixCondition: @unchecked Sendable {
    let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if !canImport(Darwin)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Waits (the lock held) until signalled.
    func wait(_ lock: PosixLock) { pthread_cond_wait(condition, lock.mutex) }

    /// Waits (the lock held) until signalled or `deadline` passes; false once it has passed.
    /// A nil deadline waits forever.
    @discardableResult
    func wait(_ lock: PosixLock, until deadline: Deadline?) -> Bool {
        guard let deadline else {
            pthread_cond_wait(condition, lock.mutex)
            return true
        }
        let now = Clock.nanoseconds()
        if now >= deadline.nanoseconds { return false }
        #if canImport(Darwin)
        let remaining = deadline.nanoseconds - now
        var relative = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
        return pthread_cond_timedwait_relative_np(condition, lock.mutex, &relative) == 0 || Clock.nanoseconds() < deadline.nanoseconds
        #else
        var absolute = timespec(
            tv_sec: Int(deadline.nanoseconds / 1_000_000_000), tv_nsec: Int(deadline.nanoseconds % 1_000_000_000))
        pthread_cond_timedwait(condition, lock.mutex, &absolute)
        return Clock.nanoseconds() < deadline.nanoseconds
        #endif
    }

    func signal() { pthread_cond_signal(condition) }
    func broadcast() { pthread_cond_broadcast(condition) }
}

/// The monotonic clock.
enum Clock {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func milliseconds() -> Int64 { Int64(nanoseconds() / 1_000_000) }

    /// Unix time in milliseconds (wall clock).
    static func unixMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// Sleeps for `milliseconds` (restarting after signals).
    static func sleep(milliseconds: Int) {
        guard milliseconds > 0 else { return }
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// A point on the monotonic clock.
struct Deadline: Sendable, Comparable {
    let nanoseconds: UInt64

    static func after(milliseconds: Int) -> Deadline {
        Deadline(nanoseconds: Clock.nanoseconds() &+ UInt64(max(0, milliseconds)) * 1_000_000)
    }

    /// A deadline `milliseconds` from now, or nil (forever) for nil.
    static func within(_ milliseconds: Int?) -> Deadline? { milliseconds.map { after(milliseconds: $0) } }

    var hasPassed: Bool { Clock.nanoseconds() >= nanoseconds }

    var remainingMilliseconds: Int {
        let now = Clock.nanoseconds()
        return now >= nanoseconds ? 0 : Int((nanoseconds - now) / 1_000_000)
    }

    static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
}

/// A joinable POSIX thread running a closure.
final class PosixThread: @unchecked Sendable {
    #if canImport(Darwin)
    private var handle: pthread_t?
    #else
    private var handle = pthread_t()
    #endif
    private let body: () -> Void
    private var joined = false

    private init(_ body: @escaping () -> Void) { self.body = body }

    /// Starts `body` on a new thread.
    static func start(_ body: @escaping @Sendable () -> Void) -> PosixThread {
        let thread = PosixThread(body)
        let context = Unmanaged.passRetained(thread).toOpaque()
        let status = pthread_create(
            &thread.handle, nil,
            { raw in
                #if canImport(Darwin)
                let thread = Unmanaged<PosixThread>.fromOpaque(raw).takeRetainedValue()
                #else
                let thread = Unmanaged<PosixThread>.fromOpaque(raw!).takeRetainedValue()
                #endif
                thread.body()
                return nil
            }, context)
        precondition(status == 0, "pthread_create failed: \(status)")
        return thread
    }

    private let joinLock = PosixLock()

    /// Waits for the thread to end (any number of callers; never from the thread itself).
    func join() {
        joinLock.withLock {
            guard !joined else { return }
            joined = true
            #if canImport(Darwin)
            if let handle { pthread_join(handle, nil) }
            #else
            pthread_join(handle, nil)
            #endif
        }
    }

    /// Whether the calling thread is this thread.
    var isCurrent: Bool {
        #if canImport(Darwin)
        guard let handle else { return false }
        return pthread_equal(pthread_self(), handle) != 0
        #else
        return pthread_equal(pthread_self(), handle) != 0
        #endif
    }

    /// Lets the thread end on its own without being joined.
    func detach() {
        joinLock.lock()
        defer { joinLock.unlock() }
        guard !joined else { return }
        joined = true
        #if canImport(Darwin)
        if let handle { pthread_detach(handle) }
        #else
        pthread_detach(handle)
        #endif
    }
}

/// A random hex string, for inbox subjects.
func randomToken(_ bytes: Int = 11) -> String {
    var generator = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
    return String(decoding: (0..<bytes * 2).map { _ in digits[Int(generator.next() % UInt64(digits.count))] }, as: UTF8.self)
}

/// `parse` of a small file holding a secret (a seed, a `.creds` file); `what` names the file in
/// the errors, which never quote its contents.
func parseSecretFile<Parsed>(_ path: String, what: String, _ parse: (String) throws(DocketError) -> Parsed) throws(DocketError) -> Parsed {
    let text = try readSecretFile(path, what: what)
    do {
        return try parse(text)
    } catch {
        throw .badArgument("\(what) \(path): \(error.badArgumentText)")
    }
}

private func readSecretFile(_ path: String, what: String, limit: Int = 1 << 20) throws(DocketError) -> String {
    guard let file = fopen(path, "rb") else { throw .badArgument("\(what) \(path): \(String(cString: strerror(errno)))") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        bytes += chunk[..<count]
        if bytes.count > limit { throw .badArgument("\(what) \(path) is over \(limit) bytes: not a \(what)") }
        if count < chunk.count {
            if ferror(file) != 0 { throw .badArgument("\(what) \(path): \(String(cString: strerror(errno)))") }
            break
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
