import Glibc

/// Sockets the server has said its last word on (`-ERR 'maximum connections exceeded'`,
/// `'Authorization Violation'`, a WebSocket 503), kept open a moment so that the word is read.
///
/// Closing a socket whose client has sent bytes the server has not read makes the kernel answer
/// with a reset, and a client that is still writing (nats.py sends CONNECT and PING right after
/// INFO, before it reads again) then fails its write with "connection reset" and never reads the
/// error waiting in its buffer. So the write side is shut (the client reads the error, then the
/// end), and what the client still sends is read and dropped until it closes, `milliseconds`
/// pass or `maxBytes` have been dropped. At most `maxSockets` linger at once: past that the
/// oldest is closed, so a flood of refused connections costs a bounded number of descriptors.
final class RefusedSockets {
    struct Limits {
        /// How long a refused socket may stay open for its client to read the refusal; 0 closes
        /// at once.
        var milliseconds = 2_000
        /// Bytes read and dropped from one socket before it is closed anyway.
        var maxBytes = 64 << 10
        /// Sockets lingering at once.
        var maxSockets = 1_024
    }

    /// One lingering socket; the context of its event.
    fileprivate final class Entry {
        let fd: Int32
        var event: OpaquePointer?
        var bytesLeft: Int
        /// When it is closed whatever its client does (monotonic ms).
        let deadline: Int
        unowned let owner: RefusedSockets

        init(fd: Int32, bytesLeft: Int, deadline: Int, owner: RefusedSockets) {
            self.fd = fd
            self.bytesLeft = bytesLeft
            self.deadline = deadline
            self.owner = owner
        }
    }

    private let loop: EventLoop
    let limits: Limits
    /// Oldest first; closed entries leave their place at once (the list is at most `maxSockets`).
    private var lingering: [Entry] = []

    init(loop: EventLoop, limits: Limits) {
        self.loop = loop
        self.limits = limits
    }

    deinit {
        for entry in lingering { release(entry) }
    }

    /// How many sockets linger now.
    var count: Int { lingering.count }

    /// Takes `fd` (its last word already written) and closes it once its client has read it.
    func linger(_ fd: Int32) {
        guard limits.milliseconds > 0, limits.maxSockets > 0 else {
            Glibc.close(fd)
            return
        }
        if lingering.count >= limits.maxSockets { release(lingering.removeFirst()) }
        Glibc.shutdown(fd, Int32(SHUT_WR))
        let entry = Entry(fd: fd, bytesLeft: limits.maxBytes, deadline: monotonicMilliseconds() + limits.milliseconds, owner: self)
        let event = loop.makeEvent(
            fd: fd, flags: EventLoop.read | EventLoop.persist, context: entry, callback: refusedSocketCallback)
        entry.event = event
        EventLoop.add(event, timeoutMilliseconds: limits.milliseconds)
        lingering.append(entry)
    }

    fileprivate func ready(_ entry: Entry, _ what: Int32) {
        // libevent restarts the timeout at each read: the deadline is checked here too, so a
        // byte now and then does not keep the socket open.
        guard what & EventLoop.timeout == 0, monotonicMilliseconds() < entry.deadline else { return finish(entry) }
        var scratch = [UInt8](repeating: 0, count: 4096)
        let count = scratch.withUnsafeMutableBytes { Glibc.read(entry.fd, $0.baseAddress, $0.count) }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
        entry.bytesLeft -= max(count, 0)
        if count <= 0 || entry.bytesLeft <= 0 { finish(entry) }
    }

    private func finish(_ entry: Entry) {
        guard let index = lingering.firstIndex(where: { $0 === entry }) else { return }
        lingering.remove(at: index)
        release(entry)
    }

    private func release(_ entry: Entry) {
        if let event = entry.event { EventLoop.free(event) }
        entry.event = nil
        Glibc.close(entry.fd)
    }
}

private func refusedSocketCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let entry = Unmanaged<RefusedSockets.Entry>.fromOpaque(context!).takeUnretainedValue()
    entry.owner.ready(entry, Int32(what))
}
