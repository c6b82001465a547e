import DocketTLS
import DocketWire
import Glibc

/// Where a nats-server listens for clients, and the credentials to give it.
public struct NATSAddress: Equatable, Sendable {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    /// `tls://`: the connection must be TLS (`nats://` upgrades when the server requires it).
    public var requiresTLS = false
    /// The address without its credentials, for logs and documents.
    public var display: String { "\(requiresTLS ? "tls" : "nats")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}

/// TLS on the cluster link: the CA file that nats-server certificates must chain to (the
/// system's store when nil), and a client certificate for servers that verify clients.
/// Given at all, every connection of the link is TLS.
public struct ClusterTLSSettings: Sendable, Equatable {
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}

/// One plain NATS client connection from docketd to a nats-server of the cluster it joins
/// (`--cluster-nats`): it connects to the first address that answers, waits for INFO, upgrades
/// to TLS when the address, the settings or the server ask for it, says CONNECT, replays its
/// subscriptions, answers PINGs, and hands every MSG/HMSG to `onMessage`. When the link breaks
/// it tries the next address after a backoff (0.1 s doubling to 5 s), forever. Host names are
/// resolved on the loop (`EventLoop.resolve`), never by a blocking call.
///
/// While it is down, what is published waits in a buffer of its own, up to `maxPending` bytes, and
/// goes first once connected again; more than that is dropped and counted, as are messages when
/// the link's output is that far behind (pub/sub is fire-and-forget; jobs never travel here).
/// What was in the socket's output when the link broke is lost with it, as with any NATS client.
/// Subscriptions are state, not output: they are sent again on every reconnect.
///
/// A message larger than the server's `max_payload` (from its INFO, read again on every
/// connection) never goes up: nats-server answers one with `-ERR 'Maximum Payload Violation'`
/// and closes the connection, which would drop everything in flight with it and, the publisher
/// publishing again, the link again. It is counted and logged instead (as nats.go refuses such a
/// publish before it is sent); what was held for a server with a larger limit is checked again
/// against the one it reconnects to.
final class UpstreamChannel {
    typealias Address = NATSAddress

    let name: String
    private let addresses: [Address]
    private let loop: EventLoop
    private let log: Log
    private let echo: Bool
    private let maxPending: Int
    /// The link's TLS context: made at start-up from the settings, or with the system's CAs
    /// the first time a server requires TLS that the settings did not ask for.
    private var tlsContext: TLSContext?
    private let alwaysTLS: Bool
    /// MSG/HMSG: the bytes, and the op's ranges in them.
    var onMessage: (UnsafeRawBufferPointer, _ subject: Range<Int>, _ sid: Int, _ reply: Range<Int>?, _ headerCount: Int?, _ message: Range<Int>) -> Void = { _, _, _, _, _, _ in }

    /// Where the current connection is: resolving the name, connecting, waiting for the
    /// server's INFO, in the TLS handshake, or up (CONNECT sent).
    private enum Phase { case idle, resolving, connecting, awaitingInfo, handshaking, connected }
    private var phase = Phase.idle {
        didSet { if (oldValue == .connected) != isConnected { stateChangedAt = monotonicMilliseconds() } }
    }
    /// When the channel last went up or down (monotonic ms); down from its start.
    private(set) var stateChangedAt = monotonicMilliseconds()
    /// When the current phase began (ms): one that takes more than 5 s ends the attempt.
    private var phaseStarted = 0
    private var fd: Int32 = -1
    private var tls: TLSSession?
    private var readEvent: OpaquePointer?
    private var writeEvent: OpaquePointer?
    private var retryTimer: OpaquePointer?
    private var pingTimer: OpaquePointer?
    private let input = ByteBuffer(capacity: 64 << 10)
    /// What goes up on the current connection.
    private let output = ByteBuffer(capacity: 64 << 10)
    /// Messages published while the link is down, sent once it is up again.
    private let held = ByteBuffer(capacity: 4 << 10)
    /// Each held message's bytes in `held` and its size as the server counts it (headers and
    /// payload), so that those over the limit of the server reconnected to can be left out.
    private var heldMessages: [(wireCount: Int, size: Int)] = []
    /// The server's `max_payload` from its INFO; nil before the first or when it gives none.
    private(set) var serverMaxPayload: Int?
    private var oversizedLog = LogThrottle()
    var isConnected: Bool { phase == .connected }
    /// Bytes waiting to go up: held while the link is down, or not yet taken by the socket.
    /// At most `maxPending` each: past it messages are dropped (and counted).
    var pendingBytes: Int { held.readableCount + output.readableCount }
    private var nextAddress = 0
    private var retryDelay = 100
    private var pingsOutstanding = 0
    /// `--cluster-ping-interval`, and when the last PING went out (ms).
    private let pingIntervalMilliseconds: Int
    private var lastPingAt = 0
    /// The ping timer's period: the interval cut into equal ticks of at most 5 s, because the
    /// same timer ends a connection attempt stuck for 5 s.
    private var tickMilliseconds: Int { pingIntervalMilliseconds / ((pingIntervalMilliseconds + 4_999) / 5_000) }
    /// The subscriptions to hold upstream, by sid.
    private var subscriptions: [Int: (subject: [UInt8], queue: [UInt8]?)] = [:]
    private var isStopped = false

    private(set) var connectedAddress: Address?
    private(set) var lastError: String?
    private(set) var reconnects = 0
    private(set) var droppedMessages = 0
    /// Messages not sent because they were larger than the server's `max_payload`.
    private(set) var oversizedMessages = 0
    private(set) var messagesOut = 0
    private(set) var messagesIn = 0

    init(
        name: String, addresses: [Address], loop: EventLoop, log: Log, echo: Bool, maxPending: Int, pingIntervalMilliseconds: Int,
        tlsContext: TLSContext?
    ) {
        self.name = name
        self.pingIntervalMilliseconds = pingIntervalMilliseconds
        self.addresses = addresses
        self.loop = loop
        self.log = log
        self.echo = echo
        self.maxPending = maxPending
        self.tlsContext = tlsContext
        alwaysTLS = tlsContext != nil
    }

    /// New certificates from a reload: the next connection's handshake uses them, the one up
    /// (if any) keeps its session.
    func useTLSContext(_ context: TLSContext) {
        tlsContext = context
    }

    func start() {
        retryTimer = loop.makeEvent(fd: -1, flags: 0, context: self, callback: upstreamRetryCallback)
        pingTimer = loop.makeEvent(fd: -1, flags: EventLoop.persist, context: self, callback: upstreamPingCallback)
        EventLoop.add(pingTimer!, timeoutMilliseconds: tickMilliseconds)
        connect()
    }

    func stop() {
        isStopped = true
        if isConnected {
            flushOutput()
            tls?.shutdown()
        }
        closeSocket()
        for event in [retryTimer, pingTimer].compactMap({ $0 }) { EventLoop.free(event) }
        retryTimer = nil
        pingTimer = nil
    }

    // MARK: What docketd asks of it

    /// Sends a message up, or keeps it for the reconnect, or drops it if too much waits.
    func publish(_ subject: UnsafeRawBufferPointer, _ reply: UnsafeRawBufferPointer?, _ headerCount: Int?, _ message: UnsafeRawBufferPointer) {
        guard !isStopped else { return }
        // While down it is held whatever its size: the server reconnected to may take more.
        if isConnected, let limit = serverMaxPayload, message.count > limit {
            return refuseOversized(size: message.count, limit: limit, what: "on \(String(decoding: subject, as: UTF8.self))")
        }
        let buffer = isConnected ? output : held
        if buffer.readableCount + message.count + subject.count > maxPending {
            droppedMessages += 1
            return
        }
        let before = buffer.readableCount
        buffer.appendPublish(subject: subject, reply: reply, headerCount: headerCount, message: message)
        // A held message is counted when it goes up (`releaseHeld`): out_msgs never falls.
        if buffer === held { heldMessages.append((held.readableCount - before, message.count)) } else { messagesOut += 1 }
    }

    /// Counts a message too large for the server, and says so in the log (throttled: a
    /// publisher can send one per message).
    private func refuseOversized(size: Int, limit: Int, what: String) {
        oversizedMessages += 1
        guard let count = oversizedLog.occurred(at: monotonicMilliseconds()) else { return }
        let others = count > 1 ? " (\(count - 1) more since the last such line)" : ""
        log.warn(
            "Cluster NATS (\(name)): a message of \(size) bytes \(what) is over the server's max_payload of \(limit): "
                + "this node's subscribers had it, the cluster's do not\(others)")
    }

    /// Moves what was held while down to the output, but for messages over the server's limit.
    private func releaseHeld() {
        defer {
            held.clear()
            held.shrink(to: 4 << 10)
            heldMessages.removeAll(keepingCapacity: false)
        }
        guard let limit = serverMaxPayload, let largest = heldMessages.map(\.size).max(), largest > limit else {
            messagesOut += heldMessages.count
            return output.append(held.readableBytes)
        }
        let bytes = held.readableBytes
        var start = 0
        for message in heldMessages {
            if message.size > limit {
                refuseOversized(size: message.size, limit: limit, what: "held while the link was down")
            } else {
                output.append(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + message.wireCount)]))
                messagesOut += 1
            }
            start += message.wireCount
        }
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
            if let tls {
                switch tls.write(pending) {
                case .done(let written): output.consume(written)
                case .wantWrite:
                    if let writeEvent { EventLoop.add(writeEvent) }
                    return
                case .wantRead: return  // `readable` flushes again
                case .closed: return broken("the server closed the connection")
                case .failed(let why): return broken(why)
                }
                continue
            }
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
        guard !isStopped, fd < 0, phase == .idle, !addresses.isEmpty else { return }
        let address = addresses[nextAddress % addresses.count]
        nextAddress += 1
        connectedAddress = address
        enter(.resolving)
        loop.resolve(address.host, port: address.port) { [weak self] result in
            guard let self, !self.isStopped, self.phase == .resolving else { return }
            switch result {
            case .success(let found): self.open(address, at: found[0])
            case .failure(let error):
                self.phase = .idle
                self.failed(address, "cannot resolve \(address.host): \(error)")
            }
        }
    }

    /// Starts a non-blocking connect to the resolved address.
    private func open(_ address: Address, at socketAddress: SocketAddress) {
        switch socketAddress.startConnect() {
        case .failure(let why):
            phase = .idle
            return failed(address, why.description)
        case .success(let socketFD): fd = socketFD
        }
        enter(.connecting)
        readEvent = loop.makeEvent(fd: fd, flags: EventLoop.read | EventLoop.persist, context: self, callback: upstreamReadCallback)
        writeEvent = loop.makeEvent(fd: fd, flags: EventLoop.write, context: self, callback: upstreamWriteCallback)
        EventLoop.add(readEvent!)
        // Connected when the socket becomes writable; 5 s at most.
        EventLoop.add(writeEvent!, timeoutMilliseconds: 5000)
    }

    private func enter(_ next: Phase) {
        phase = next
        phaseStarted = monotonicMilliseconds()
    }

    fileprivate func writable(timedOut: Bool) {
        switch phase {
        case .connecting:
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if timedOut { return broken("no connection within 5 s") }
            if error != 0 { return broken(String(cString: strerror(error))) }
            // The server speaks first: its INFO says whether TLS comes next.
            enter(.awaitingInfo)
        case .handshaking:
            handshake()
        case .connected:
            flushOutput()
            // A TLS read that wanted to write (a key update's answer) goes on now.
            if tls != nil && isConnected { readable() }
        case .idle, .resolving, .awaitingInfo:
            break
        }
    }

    /// The server's first INFO: go on in plain text or start TLS.
    private func greeted(tlsRequired: Bool, tlsAvailable: Bool) {
        guard let address = connectedAddress else { return }
        let wantsTLS = alwaysTLS || address.requiresTLS
        guard wantsTLS || tlsRequired else { return established() }
        guard tlsRequired || tlsAvailable else { return broken("the server does not offer TLS, which this link requires") }
        if tlsContext == nil {
            do {
                tlsContext = try TLSContext.client(caFile: nil, certificate: nil, key: nil)
            } catch {
                return broken("TLS: \(error)")
            }
        }
        do {
            tls = try tlsContext!.session(fd: fd, serverName: address.host)
        } catch {
            return broken("TLS: \(error)")
        }
        input.clear()
        enter(.handshaking)
        handshake()
    }

    private func handshake() {
        guard let tls else { return }
        switch tls.handshake() {
        case .done:
            established()
        case .wantRead:
            break  // the read event is always on
        case .wantWrite:
            if let writeEvent { EventLoop.add(writeEvent) }
        case .closed:
            broken("the server closed the connection during the TLS handshake")
        case .failed(let why):
            broken(why)
        }
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
        connect.add("tls_required", tls != nil)
        if let user = address.user { connect.add("user", user) }
        if let password = address.password { connect.add("pass", password) }
        output.clear()
        output.append(string: "CONNECT \(connect.result)\r\n")
        for (sid, subscription) in subscriptions.sorted(by: { $0.key < $1.key }) {
            output.appendSubscribe(subject: subscription.subject, queue: subscription.queue, sid: sid)
        }
        releaseHeld()
        enter(.connected)
        pingsOutstanding = 0
        lastPingAt = monotonicMilliseconds()
        retryDelay = 100
        lastError = nil
        let limit = serverMaxPayload.map { ", max_payload \($0)" } ?? ""
        log.info("Cluster NATS (\(name)): connected to \(address.display)\(tls.map { " (\($0.version))" } ?? "")\(limit)")
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
        tls = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        phase = .idle
        input.clear()
        output.clear()
    }

    // MARK: Reading

    fileprivate func readable() {
        switch phase {
        case .handshaking: return handshake()
        case .awaitingInfo, .connected: break
        case .idle, .resolving, .connecting: return
        }
        if let tls { return readTLS(tls) }
        for _ in 0..<8 {
            let space = input.writableSpace(atLeast: 64 << 10)
            let count = recv(fd, space.baseAddress, space.count, 0)
            if count > 0 {
                input.commitWrite(count)
                guard parse() else { return }
                if count < space.count || tls != nil { break }
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { break }
            return broken(count == 0 ? "the server closed the connection" : String(cString: strerror(errno)))
        }
        if input.isEmpty { input.shrink(to: 64 << 10) }
    }

    /// Reads TLS records until OpenSSL wants the socket again. A record already taken from the
    /// socket wakes nobody, so a pass that stops early comes back for the rest.
    private func readTLS(_ session: TLSSession) {
        for _ in 0..<64 {
            let space = input.writableSpace(atLeast: 64 << 10)
            switch session.read(into: space) {
            case .done(let count):
                input.commitWrite(count)
                guard parse() else { return }
            case .wantRead:
                if !output.isEmpty { flushOutput() }  // a write may have waited for this read
                if input.isEmpty { input.shrink(to: 64 << 10) }
                return
            case .wantWrite:
                if let writeEvent { EventLoop.add(writeEvent) }
                return
            case .closed:
                return broken("the server closed the connection")
            case .failed(let why):
                return broken(why)
            }
        }
        if session.bufferedBytes > 0, let readEvent { EventLoop.activate(readEvent, EventLoop.read) }
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
                    guard phase == .connected else { break }
                    messagesIn += 1
                    onMessage(bytes, subject, sid, reply, headerCount, message)
                case .ping:
                    output.append("PONG\r\n")
                    flushOutput()
                    if !isConnected { return false }
                case .pong:
                    pingsOutstanding = 0
                case .info(let json):
                    let document = JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[json]))
                    // A connection's first INFO sets the limit (another server may have another);
                    // a later one that names it changes it (a server reloaded with a new one).
                    let limit = document?["max_payload"]?.intValue.flatMap { $0 > 0 ? $0 : nil }
                    if phase == .awaitingInfo || limit != nil { serverMaxPayload = limit }
                    // Later INFOs (cluster changes, lame duck) change nothing else here.
                    guard phase == .awaitingInfo else { break }
                    greeted(
                        tlsRequired: document?["tls_required"]?.boolValue == true,
                        tlsAvailable: document?["tls_available"]?.boolValue == true)
                    if tls != nil { return fd >= 0 }  // the rest is TLS; `greeted` emptied the input
                    guard isConnected else { return false }
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
        let now = monotonicMilliseconds()
        if phase == .awaitingInfo || phase == .handshaking, now - phaseStarted > 5000 {
            return broken(phase == .awaitingInfo ? "no INFO within 5 s" : "no TLS handshake within 5 s")
        }
        // Half a tick's slack: a tick may come a few milliseconds early, and a PING must not
        // then wait a whole further tick.
        guard isConnected, now - lastPingAt >= pingIntervalMilliseconds - tickMilliseconds / 2 else { return }
        if pingsOutstanding >= 3 { return broken("no PONG to three PINGs") }
        lastPingAt = now
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
