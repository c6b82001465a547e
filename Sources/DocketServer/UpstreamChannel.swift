import DocketWire
import Glibc

/// Where a nats-server listens for clients, and the credentials to give it.
public struct NATSAddress: Equatable, Sendable {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    /// The address without its credentials, for logs and documents.
    public var display: String { "nats://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}

/// One plain NATS client connection from docketd to a nats-server of the cluster it joins
/// (`--cluster-nats`): it connects to the first address that answers, says CONNECT, replays
/// its subscriptions, answers PINGs, and hands every MSG/HMSG to `onMessage`. When the link
/// breaks it tries the next address after a backoff (0.1 s doubling to 5 s), forever.
///
/// While it is down, what is published waits in a buffer of its own, up to `maxPending` bytes, and
/// goes first once connected again; more than that is dropped and counted, as are messages when
/// the link's output is that far behind (pub/sub is fire-and-forget; jobs never travel here).
/// What was in the socket's output when the link broke is lost with it, as with any NATS client.
/// Subscriptions are state, not output: they are sent again on every reconnect.
final class UpstreamChannel {
    typealias Address = NATSAddress

    let name: String
    private let addresses: [Address]
    private let loop: EventLoop
    private let log: Log
    private let echo: Bool
    private let maxPending: Int
    /// MSG/HMSG: the bytes, and the op's ranges in them.
    var onMessage: (UnsafeRawBufferPointer, _ subject: Range<Int>, _ sid: Int, _ reply: Range<Int>?, _ headerCount: Int?, _ message: Range<Int>) -> Void = { _, _, _, _, _, _ in }

    private var fd: Int32 = -1
    private var readEvent: OpaquePointer?
    private var writeEvent: OpaquePointer?
    private var retryTimer: OpaquePointer?
    private var pingTimer: OpaquePointer?
    private let input = ByteBuffer(capacity: 64 << 10)
    /// What goes up on the current connection.
    private let output = ByteBuffer(capacity: 64 << 10)
    /// Messages published while the link is down, sent once it is up again.
    private let held = ByteBuffer(capacity: 4 << 10)
    private var isConnecting = false
    private(set) var isConnected = false
    private var nextAddress = 0
    private var retryDelay = 100
    private var pingsOutstanding = 0
    /// The subscriptions to hold upstream, by sid.
    private var subscriptions: [Int: (subject: [UInt8], queue: [UInt8]?)] = [:]
    private var isStopped = false

    private(set) var connectedAddress: Address?
    private(set) var lastError: String?
    private(set) var reconnects = 0
    private(set) var droppedMessages = 0
    private(set) var messagesOut = 0
    private(set) var messagesIn = 0

    init(name: String, addresses: [Address], loop: EventLoop, log: Log, echo: Bool, maxPending: Int) {
        self.name = name
        self.addresses = addresses
        self.loop = loop
        self.log = log
        self.echo = echo
        self.maxPending = maxPending
    }

    func start() {
        retryTimer = loop.makeEvent(fd: -1, flags: 0, context: self, callback: upstreamRetryCallback)
        pingTimer = loop.makeEvent(fd: -1, flags: EventLoop.persist, context: self, callback: upstreamPingCallback)
        EventLoop.add(pingTimer!, timeoutMilliseconds: 5000)
        connect()
    }

    func stop() {
        isStopped = true
        if isConnected { flushOutput() }
        closeSocket()
        for event in [retryTimer, pingTimer].compactMap({ $0 }) { EventLoop.free(event) }
        retryTimer = nil
        pingTimer = nil
    }

    // MARK: What docketd asks of it

    /// Sends a message up, or keeps it for the reconnect, or drops it if too much waits.
    func publish(_ subject: UnsafeRawBufferPointer, _ reply: UnsafeRawBufferPointer?, _ headerCount: Int?, _ message: UnsafeRawBufferPointer) {
        guard !isStopped else { return }
        let buffer = isConnected ? output : held
        if buffer.readableCount + message.count + subject.count > maxPending {
            droppedMessages += 1
            return
        }
        buffer.appendPublish(subject: subject, reply: reply, headerCount: headerCount, message: message)
        messagesOut += 1
    }

    func subscribe(sid: Int, subject: [UInt8], queue: [UInt8]?) {
        subscriptions[sid] = (subject, queue)
        if isConnected { output.appendSubscribe(subject: subject, queue: queue, sid: sid) }
    }

    func unsubscribe(sid: Int) {
        guard subscriptions.removeValue(forKey: sid) != nil else { return }
        if isConnected { output.appendUnsubscribe(sid: sid) }
    }

    /// Writes what is waiting; called once per loop pass.
    func flushOutput() {
        guard isConnected, fd >= 0 else { return }
        while !output.isEmpty {
            let pending = output.readableBytes
            let written = send(fd, pending.baseAddress, pending.count, Int32(MSG_NOSIGNAL))
            if written > 0 {
                output.consume(written)
                continue
            }
            if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if let writeEvent { EventLoop.add(writeEvent) }
                return
            }
            if written < 0 && errno == EINTR { continue }
            return broken(written == 0 ? "the server closed the connection" : String(cString: strerror(errno)))
        }
        if output.allocatedCapacity > 4 << 20 { output.shrink(to: 64 << 10) }
    }

    // MARK: Connecting

    private func connect() {
        guard !isStopped, fd < 0, !addresses.isEmpty else { return }
        let address = addresses[nextAddress % addresses.count]
        nextAddress += 1
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address.host, String(address.port), &hints, &result)
        guard status == 0, let info = result else {
            return failed(address, "cannot resolve \(address.host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        let socketFD = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { return failed(address, "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(socketFD, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if Glibc.connect(socketFD, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            let why = String(cString: strerror(errno))
            Glibc.close(socketFD)
            return failed(address, why)
        }
        fd = socketFD
        connectedAddress = address
        isConnecting = true
        readEvent = loop.makeEvent(fd: fd, flags: EventLoop.read | EventLoop.persist, context: self, callback: upstreamReadCallback)
        writeEvent = loop.makeEvent(fd: fd, flags: EventLoop.write, context: self, callback: upstreamWriteCallback)
        EventLoop.add(readEvent!)
        // Connected when the socket becomes writable; 5 s at most.
        EventLoop.add(writeEvent!, timeoutMilliseconds: 5000)
    }

    fileprivate func writable(timedOut: Bool) {
        if isConnecting {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if timedOut { return broken("no connection within 5 s") }
            if error != 0 { return broken(String(cString: strerror(error))) }
            isConnecting = false
            established()
            return
        }
        flushOutput()
    }

    /// The socket is up: introduce ourselves and hold our subscriptions again. Messages kept
    /// while down go after them.
    private func established() {
        guard let address = connectedAddress else { return }
        var connect = JSONObjectWriter()
        connect.add("verbose", false)
        connect.add("pedantic", false)
        connect.add("echo", echo)
        connect.add("headers", true)
        connect.add("no_responders", false)
        connect.add("name", name)
        connect.add("lang", "swift")
        connect.add("version", Server.version)
        connect.add("protocol", 1)
        if let user = address.user { connect.add("user", user) }
        if let password = address.password { connect.add("pass", password) }
        output.clear()
        output.append(string: "CONNECT \(connect.result)\r\n")
        for (sid, subscription) in subscriptions.sorted(by: { $0.key < $1.key }) {
            output.appendSubscribe(subject: subscription.subject, queue: subscription.queue, sid: sid)
        }
        output.append(held.readableBytes)
        held.clear()
        held.shrink(to: 4 << 10)
        isConnected = true
        pingsOutstanding = 0
        retryDelay = 100
        lastError = nil
        log.info("Cluster NATS (\(name)): connected to \(address.display)")
        flushOutput()
    }

    private func failed(_ address: Address, _ why: String) {
        lastError = "\(address.display): \(why)"
        scheduleRetry()
    }

    /// Drops the socket and tries again later (the next address).
    private func broken(_ why: String) {
        let wasConnected = isConnected
        lastError = "\(connectedAddress?.display ?? "?"): \(why)"
        closeSocket()
        if wasConnected {
            reconnects += 1
            log.error("Cluster NATS (\(name)): lost \(lastError!); reconnecting (messages wait, up to \(maxPending) bytes)")
        }
        scheduleRetry()
    }

    private func scheduleRetry() {
        guard !isStopped, let retryTimer else { return }
        EventLoop.add(retryTimer, timeoutMilliseconds: retryDelay)
        retryDelay = min(retryDelay * 2, 5000)
    }

    fileprivate func retry() { connect() }

    private func closeSocket() {
        for event in [readEvent, writeEvent].compactMap({ $0 }) { EventLoop.free(event) }
        readEvent = nil
        writeEvent = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        isConnected = false
        isConnecting = false
        input.clear()
        output.clear()
    }

    // MARK: Reading

    fileprivate func readable() {
        for _ in 0..<8 {
            let space = input.writableSpace(atLeast: 64 << 10)
            let count = recv(fd, space.baseAddress, space.count, 0)
            if count > 0 {
                input.commitWrite(count)
                guard parse() else { return }
                if count < space.count { break }
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { break }
            return broken(count == 0 ? "the server closed the connection" : String(cString: strerror(errno)))
        }
        if input.isEmpty { input.shrink(to: 64 << 10) }
    }

    /// Handles every complete op in the input; false if the connection was dropped.
    private func parse() -> Bool {
        var position = 0
        let bytes = input.readableBytes
        while position < bytes.count {
            switch UpstreamParser.parse(bytes, from: position) {
            case .incomplete:
                input.consume(position)
                return true
            case .failure(let why):
                broken("protocol error: \(why)")
                return false
            case .op(let op, let next):
                switch op {
                case .message(let subject, let sid, let reply, let headerCount, let message):
                    messagesIn += 1
                    onMessage(bytes, subject, sid, reply, headerCount, message)
                case .ping:
                    output.append("PONG\r\n")
                    flushOutput()
                    if !isConnected { return false }
                case .pong:
                    pingsOutstanding = 0
                case .info(let json):
                    if let document = JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[json])),
                        document["tls_required"]?.boolValue == true
                    {
                        broken("the server requires TLS, which the cluster link does not speak")
                        return false
                    }
                case .ok:
                    break
                case .err(let text):
                    let message = String(decoding: bytes[text], as: UTF8.self)
                    log.error("Cluster NATS (\(name)): the server says: \(message)")
                    // Permission errors leave the connection up; anything else is the end of it.
                    if !message.lowercased().hasPrefix("permissions violation") {
                        broken(message)
                        return false
                    }
                }
                position = next
            }
        }
        input.consume(position)
        return true
    }

    fileprivate func pingTick() {
        guard isConnected else { return }
        if pingsOutstanding >= 3 { return broken("no PONG to three PINGs") }
        pingsOutstanding += 1
        output.append("PING\r\n")
        flushOutput()
    }
}

private func upstreamReadCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<UpstreamChannel>.fromOpaque(context!).takeUnretainedValue().readable()
}

private func upstreamWriteCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<UpstreamChannel>.fromOpaque(context!).takeUnretainedValue().writable(timedOut: Int32(what) & EventLoop.timeout != 0)
}

private func upstreamRetryCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<UpstreamChannel>.fromOpaque(context!).takeUnretainedValue().retry()
}

private func upstreamPingCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<UpstreamChannel>.fromOpaque(context!).takeUnretainedValue().pingTick()
}
