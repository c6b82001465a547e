import Glibc

/// What the listeners do when the process runs out of file descriptors.
///
/// `accept` then fails with EMFILE or ENFILE and leaves the connection in the backlog, so the
/// listening socket stays readable: retried at once, it spins the loop at 100% CPU while new
/// clients hang without a word (and libevent's evhttp logged each failure, 22 MB/s). Instead,
/// one descriptor is kept in reserve: on EMFILE it is given up for a moment to accept the
/// waiting client, tell it why (an `-ERR` or a 503) and close it, and every listener pauses
/// for `pauseMilliseconds` so that descriptors can come back. One log line per interval.
final class AcceptBackoff {
    static let pauseMilliseconds = 100
    static let logIntervalMilliseconds = 10_000

    private let loop: EventLoop
    private let log: Log
    private var spare: Int32
    private var listenEvents: [OpaquePointer] = []
    private var resumeTimer: OpaquePointer?
    private var paused = false
    private var logThrottle = LogThrottle(intervalMilliseconds: logIntervalMilliseconds)
    /// Clients refused for want of descriptors since start.
    private(set) var refused = 0

    init(loop: EventLoop, log: Log) {
        self.loop = loop
        self.log = log
        spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    deinit {
        if let resumeTimer { EventLoop.free(resumeTimer) }
        if spare >= 0 { Glibc.close(spare) }
    }

    func register(_ event: OpaquePointer) { listenEvents.append(event) }
    func unregister(_ event: OpaquePointer) { listenEvents.removeAll { $0 == event } }

    /// Raises the soft limit on open descriptors to the hard one: the default soft limit (1024
    /// on many systems) is far below what a server with many clients needs.
    static func raiseDescriptorLimit() -> (from: Int, to: Int)? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return nil }
        let from = Int(limit.rlim_cur)
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return (from, Int(limit.rlim_max))
    }

    /// The soft limit on open descriptors; nil when there is none.
    static func descriptorLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }

    /// `listener` could not accept for want of descriptors: refuse one waiting client with
    /// `refusal`, and pause accepting for a moment.
    func outOfDescriptors(listener: Listener, refusal: [UInt8]) {
        refused += 1
        if spare >= 0 {
            Glibc.close(spare)
            spare = -1
            let client = Glibc.accept(listener.fd, nil, nil)
            if client >= 0 {
                _ = refusal.withUnsafeBytes { Glibc.write(client, $0.baseAddress, $0.count) }
                Glibc.close(client)
            }
            spare = open("/dev/null", O_RDONLY | O_CLOEXEC)
        }
        if let refusedSinceLog = logThrottle.occurred(at: monotonicMilliseconds()) {
            log.warn("Out of file descriptors: refused \(refusedSinceLog) connection(s); accepting pauses for \(Self.pauseMilliseconds) ms at a time until descriptors are free")
        }
        guard !paused else { return }
        paused = true
        for event in listenEvents { EventLoop.remove(event) }
        if resumeTimer == nil { resumeTimer = loop.makeEvent(fd: -1, flags: 0, context: self, callback: acceptResumeCallback) }
        EventLoop.add(resumeTimer!, timeoutMilliseconds: Self.pauseMilliseconds)
    }

    fileprivate func resume() {
        paused = false
        for event in listenEvents { EventLoop.add(event) }
    }
}

private func acceptResumeCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<AcceptBackoff>.fromOpaque(context!).takeUnretainedValue().resume()
}
