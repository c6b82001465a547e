import Glibc

/// Turns a crash while reading the data directory at start-up into one clear line and exit 1.
///
/// LMDB trusts its file: B-tree pages garbled on disk can make it read through a wild pointer
/// (SIGSEGV) or past the end of its mapping (SIGBUS). Neither can be caught as an error, and a
/// backtrace tells an operator nothing. Only start-up is guarded (opening, replaying the log,
/// loading every job): that is when damaged pages are read first; later, a fault is a bug and
/// must crash as one.
enum StartupFaultGuard {
    /// The message the handler writes, prepared beforehand: a signal handler may only call
    /// async-signal-safe functions (write, _exit), so nothing is formatted there.
    nonisolated(unsafe) private static var message: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var messageLength = 0

    static func install(dataDirectory: String) {
        let text = "docketd: the data directory \(dataDirectory) is damaged: reading it at start-up faulted (its data.mdb is garbled). Restore it from a backup; nothing was changed\n"
        let bytes = Array(text.utf8CString)
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        buffer.initialize(from: bytes, count: bytes.count)
        message = buffer
        messageLength = bytes.count - 1
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            if let message = StartupFaultGuard.message {
                _ = Glibc.write(2, message, StartupFaultGuard.messageLength)
            }
            _exit(1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        // A Swift trap (SIGILL, SIGTRAP) while decoding garbage is the same damage, and so is
        // LMDB's own assertion on an impossible page, which calls abort() (SIGABRT).
        for signo in Self.signals { sigaction(signo, &action, nil) }
    }

    private static let signals = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT]

    static func remove() {
        for signo in signals { signal(signo, SIG_DFL) }
        message?.deallocate()
        message = nil
    }
}
