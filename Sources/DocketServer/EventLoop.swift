import CLibevent
import Glibc

/// A thin owner of a libevent base: one thread, no locks.
///
/// The server drives it one pass at a time (`runOnce`), so work that must happen once per
/// pass (flushing every connection's output, and later the group commit) runs right after
/// the callbacks of that pass, like Redis's `beforeSleep`.
final class EventLoop {
    let base: OpaquePointer

    init() throws {
        guard let base = event_base_new() else { throw ServerError("event_base_new failed") }
        self.base = base
    }

    deinit { event_base_free(base) }

    /// Waits for events and runs every callback that became active, then returns.
    func runOnce() {
        event_base_loop(base, Int32(EVLOOP_ONCE))
    }

    /// A new, not yet added event. `context` is handed to `callback` unretained: its owner keeps
    /// it alive for as long as the event exists.
    func makeEvent(
        fd: Int32, flags: Int32, context: AnyObject,
        callback: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void
    ) -> OpaquePointer {
        event_new(base, fd, Int16(flags), callback, Unmanaged.passUnretained(context).toOpaque())!
    }

    static func add(_ event: OpaquePointer, timeoutMilliseconds: Int? = nil) {
        if let timeoutMilliseconds {
            var time = timeval(
                tv_sec: timeoutMilliseconds / 1000, tv_usec: (timeoutMilliseconds % 1000) * 1000)
            event_add(event, &time)
        } else {
            event_add(event, nil)
        }
    }

    static func remove(_ event: OpaquePointer) { event_del(event) }

    static func free(_ event: OpaquePointer) { event_free(event) }

    /// Runs the event's callback in this pass as if `flags` had happened (TLS bytes already
    /// read from the socket wake nobody by themselves).
    static func activate(_ event: OpaquePointer, _ flags: Int32) { event_active(event, flags, 0) }

    static let read = Int32(EV_READ)
    static let write = Int32(EV_WRITE)
    static let timeout = Int32(EV_TIMEOUT)
    static let persist = Int32(EV_PERSIST)
    static let signal = Int32(EV_SIGNAL)
}

/// A failure that stops the server from starting, with a message fit for the log.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
