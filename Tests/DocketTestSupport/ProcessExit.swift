import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension Process {
    /// Waits until the process has ended and returns its status as `terminationStatus` would
    /// (the exit code, or the number of the signal that ended it); nil if `timeout` passes first.
    ///
    /// Foundation learns that a child ended when a dispatch queue of its own reaps it; on a busy
    /// machine, with many threads of the test run blocked, that took long enough for a CI run to
    /// hang in `isRunning` and `waitUntilExit` on a nats-server already killed (a zombie). The
    /// child's end is read here with `waitid(…, WNOWAIT)`, which leaves it for Foundation to reap.
    public func awaitExit(timeout: TimeInterval = 60) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if !isRunning { return terminationStatus }
            var info = siginfo_t()
            if waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOWAIT | WNOHANG) == 0,
                info._sifields._sigchld.si_pid == processIdentifier
            {
                return info._sifields._sigchld.si_status
            }
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// SIGKILL, then its end (nil only if even that does not come within a minute).
    @discardableResult
    public func killAndAwaitExit() -> Int32? {
        if isRunning { kill(processIdentifier, SIGKILL) }
        return awaitExit()
    }
}
