import Glibc

/// Turns a crash while reading the data directory into one clear line and exit 1.
///
/// LMDB trusts its file: B-tree pages garbled on disk can make it read through a wild pointer
/// (SIGSEGV) or past the end of its mapping (SIGBUS). Neither can be caught as an error, and a
/// backtrace tells an operator nothing. Guarded: start-up (opening, replaying the log, loading
/// every job), when most damaged pages are read first, and every later read of a payload,
/// since payloads are first read when their jobs are delivered. Outside those, a fault is a
/// bug and crashes as one: the handler gives the signal back to whoever handled it before.
enum StoreFaultGuard {
    /// What is being read: nothing (a fault is not ours), the start-up, or a job's payload.
    private enum Reading: Int32 { case nothing = 0, startup = 1, payload = 2 }

    // Read by the signal handler, which may only call async-signal-safe functions (write,
    // _exit, sigaction): so the messages are prepared beforehand and the id is written digit
    // by digit into a buffer of its own.
    nonisolated(unsafe) private static var reading = Reading.nothing.rawValue
    nonisolated(unsafe) private static var payloadID: UInt64 = 0
    nonisolated(unsafe) private static var startupMessage: [CChar] = []
    nonisolated(unsafe) private static var payloadMessage: [CChar] = []
    nonisolated(unsafe) private static var endMessage: [CChar] = []
    /// The actions the signals had before, by signal number (a plain buffer: the handler reads it).
    nonisolated(unsafe) private static let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
    nonisolated(unsafe) private static var installed = false

    private static let signals = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT]

    /// Installs the handler and guards the start-up, until `startupDone`.
    static func install(dataDirectory: String) {
        startupMessage = Array(
            "docketd: the data directory \(dataDirectory) is damaged: reading it at start-up faulted (its data.mdb is garbled). Restore it from a backup; nothing was changed\n"
                .utf8CString.dropLast())
        payloadMessage = Array("docketd: the data directory \(dataDirectory) is damaged: reading the payload of job ".utf8CString.dropLast())
        endMessage = Array(" from its data.mdb faulted (its pages are garbled). Restore it from a backup\n".utf8CString.dropLast())
        reading = Reading.startup.rawValue
        guard !installed else { return }
        installed = true
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signo in StoreFaultGuard.handle(signo) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        // A Swift trap (SIGILL, SIGTRAP) while decoding garbage is the same damage, and so is
        // LMDB's own assertion on an impossible page, which calls abort() (SIGABRT).
        for signo in signals { sigaction(signo, &action, previous + Int(signo)) }
    }

    static func startupDone() { reading = Reading.nothing.rawValue }

    /// Runs `body`, which reads job `id`'s payload from the store, under the guard.
    @inline(__always)
    static func readingPayload<T>(of id: UInt64, _ body: () throws -> T) rethrows -> T {
        let before = reading
        payloadID = id
        reading = Reading.payload.rawValue
        defer { reading = before }
        return try body()
    }

    private static func handle(_ signo: Int32) {
        switch Reading(rawValue: reading) {
        case .startup?:
            startupMessage.withUnsafeBufferPointer { _ = Glibc.write(2, $0.baseAddress, $0.count) }
            _exit(1)
        case .payload?:
            payloadMessage.withUnsafeBufferPointer { _ = Glibc.write(2, $0.baseAddress, $0.count) }
            var digits = (CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0),
                CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0), CChar(0))
            withUnsafeMutableBytes(of: &digits) { buffer in
                var value = payloadID
                var start = buffer.count
                repeat {
                    start -= 1
                    buffer[start] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                } while value > 0 && start > 0
                _ = Glibc.write(2, buffer.baseAddress! + start, buffer.count - start)
            }
            endMessage.withUnsafeBufferPointer { _ = Glibc.write(2, $0.baseAddress, $0.count) }
            _exit(1)
        default:
            // Not a read of the store: the fault is a bug. Whoever handled the signal before
            // (the Swift runtime's backtracer, or the default action) handles it now: a faulting
            // instruction faults again when this handler returns; abort() is raised again.
            sigaction(signo, previous + Int(signo), nil)
            if signo == SIGABRT { raise(signo) }
        }
    }
}
