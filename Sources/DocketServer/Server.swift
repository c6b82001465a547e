import CLibevent
import DocketEngine
import DocketStore
import DocketWire
import Glibc

/// The docketd server: one libevent loop serving every connection.
///
/// Each loop pass runs the callbacks that became ready (reads append replies and messages to
/// output buffers), then `endOfPass` writes every touched connection once. Nothing blocks the
/// loop on a client: a socket that cannot take more gets a write event, and a client that
/// falls too far behind is cut off as a slow consumer.
public final class Server {
    let config: ServerConfig
    let log: Log
    let loop: EventLoop
    let index = SubscriptionIndex()
    let serverID: String
    let limits: ParseLimits

    private var listener: Listener?
    private var listenEvent: OpaquePointer?
    private var pingTimer: OpaquePointer?
    private var signalEvents: [OpaquePointer] = []
    private var graceTimer: OpaquePointer?
    private var dataDirectory: DataDirectory?

    var connections: [UInt64: Connection] = [:]
    private var nextConnectionID: UInt64 = 1
    /// Connections with output appended during this pass.
    var flushQueue: [Connection] = []
    private var shuttingDown = false
    private var graceExpired = false

    /// Counters for the whole server.
    var stats = ServerStats()

    public static let version = "0.1.0"
    /// The NATS protocol version announced in INFO; clients expect a 2.x server.
    static let natsCompatibleVersion = "2.9.0"

    public init(config: ServerConfig) throws {
        self.config = config
        self.log = Log(level: config.logLevel)
        self.loop = try EventLoop()
        self.limits = config.parseLimits
        self.serverID = Self.makeServerID()
    }

    /// The port clients connect to, once `start` has bound it.
    public var boundPort: Int? { listener?.boundPort }

    /// Opens storage, binds the port and installs signal handlers.
    public func start() throws {
        // A supervisor (or a test harness) may start us with SIGTERM blocked; unblock it, or
        // shutdown requests would never arrive.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        sigprocmask(SIG_UNBLOCK, &signals, nil)
        // Writes go straight to sockets; a peer that vanished must give EPIPE, not kill us.
        signal(SIGPIPE, SIG_IGN)

        log.info("Starting docketd version \(Self.version)")
        log.info("Server id is \(serverID)")
        let started = monotonicMilliseconds()
        dataDirectory = try DataDirectory(path: config.dataDirectory)
        log.info("Data directory \(config.dataDirectory) opened in \(monotonicMilliseconds() - started) ms (layout version \(DataDirectory.layoutVersion))")

        let listener = try Listener(host: config.host, port: config.port)
        self.listener = listener
        let event = loop.makeEvent(
            fd: listener.fd, flags: EventLoop.read | EventLoop.persist, context: self, callback: acceptCallback)
        EventLoop.add(event)
        listenEvent = event

        let timer = loop.makeEvent(fd: -1, flags: EventLoop.persist, context: self, callback: pingCallback)
        EventLoop.add(timer, timeoutMilliseconds: config.pingIntervalMilliseconds)
        pingTimer = timer

        for signo in [SIGTERM, SIGINT] {
            let event = loop.makeEvent(
                fd: signo, flags: EventLoop.signal | EventLoop.persist, context: self, callback: signalCallback)
            EventLoop.add(event)
            signalEvents.append(event)
        }
        let host = listener.boundHost.contains(":") ? "[\(listener.boundHost)]" : listener.boundHost
        log.info("Listening for client connections on \(host):\(listener.boundPort)")
        log.info("Server is ready")
    }

    /// Serves until SIGTERM or SIGINT, then shuts down cleanly.
    public func run() {
        while true {
            loop.runOnce()
            endOfPass()
            if shuttingDown && (graceExpired || connections.values.allSatisfy { $0.output.isEmpty }) { break }
        }
        finishShutdown()
    }

    /// Work done once per loop pass, after every callback of the pass has run.
    func endOfPass() {
        guard !flushQueue.isEmpty else { return }
        let queue = flushQueue
        flushQueue.removeAll(keepingCapacity: true)
        for connection in queue {
            connection.isQueuedForFlush = false
            if !connection.isClosed { flush(connection) }
        }
    }

    // MARK: Accepting

    fileprivate func acceptReady() {
        guard let listener else { return }
        while let fd = listener.accept() {
            let (host, port) = Listener.address(of: fd, peer: true) ?? ("?", 0)
            if connections.count >= config.maxConnections {
                let line = ProtocolError(.maxConnections).line
                _ = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                Glibc.close(fd)
                stats.refusedConnections += 1
                log.warn("\(host):\(port) - Refused connection: maximum connections (\(config.maxConnections)) reached")
                continue
            }
            let connection = Connection(
                server: self, id: nextConnectionID, fd: fd, remoteHost: host, remotePort: port, now: monotonicMilliseconds())
            nextConnectionID += 1
            connections[connection.id] = connection
            stats.totalConnections += 1
            let readEvent = loop.makeEvent(
                fd: fd, flags: EventLoop.read | EventLoop.persist, context: connection, callback: connectionCallback)
            connection.readEvent = readEvent
            connection.writeEvent = loop.makeEvent(
                fd: fd, flags: EventLoop.write | EventLoop.persist, context: connection, callback: connectionCallback)
            EventLoop.add(readEvent)
            log.debug("\(connection.label) - Client connection created")
            connection.output.append("INFO ")
            connection.output.append(string: infoJSON(for: connection))
            connection.output.append("\r\n")
            queueFlush(connection)
        }
    }

    func infoJSON(for connection: Connection) -> String {
        var info = JSONObjectWriter()
        info.add("server_id", serverID)
        info.add("server_name", config.serverName.isEmpty ? serverID : config.serverName)
        info.add("version", Self.natsCompatibleVersion)
        info.add("docket_version", Self.version)
        info.add("proto", 1)
        info.add("host", listener?.boundHost ?? config.host)
        info.add("port", listener?.boundPort ?? config.port)
        info.add("headers", true)
        info.add("max_payload", config.maxPayload)
        info.add("client_id", Int(connection.id))
        info.add("client_ip", connection.remoteHost)
        return info.result
    }

    // MARK: Reading

    fileprivate func connectionEvent(_ connection: Connection, _ what: Int16) {
        let events = Int32(what)
        if events & EventLoop.timeout != 0 {
            // Only the write event has a timeout: the socket took nothing for a whole deadline.
            slowConsumer(connection, reason: "write deadline of \(config.writeDeadlineMilliseconds) ms exceeded")
            return
        }
        if events & EventLoop.write != 0 { flush(connection) }
        if events & EventLoop.read != 0 && !connection.isClosed { readReady(connection) }
    }

    private func readReady(_ connection: Connection) {
        // Read until the socket is empty, but at most a few buffers per wake-up so that one
        // firehose client cannot starve the others of loop passes.
        for _ in 0..<8 {
            let space = connection.input.writableSpace(atLeast: 16 << 10)
            let count = Glibc.read(connection.fd, space.baseAddress, space.count)
            if count > 0 {
                connection.input.commitWrite(count)
                stats.bytesIn += count
                connection.bytesIn += count
                process(connection)
                if connection.isClosed || count < space.count { break }
            } else if count == 0 {
                close(connection, reason: "Client Closed")
                return
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                break
            } else {
                close(connection, reason: "Read Error: \(String(cString: strerror(errno)))")
                return
            }
        }
        if !connection.isClosed && connection.input.isEmpty {
            // Give back the memory of a burst (a large payload) once it is handled.
            connection.input.shrink(to: 64 << 10)
        }
    }

    /// Parses and runs every complete command in the connection's input.
    private func process(_ connection: Connection) {
        let bytes = connection.input.readableBytes
        var position = 0
        parsing: while true {
            switch ClientParser.parse(bytes, from: position, limits: limits) {
            case .op(let op, let next):
                execute(op, bytes, connection)
                position = next
                if connection.isClosed { return }
            case .skip(let next):
                position = next
            case .incomplete:
                break parsing
            case .failure(let error):
                let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
                log.error("\(connection.label) - Parser error: \(error.text): proto=\(Log.snippet(rest))")
                protocolError(connection, error)
                return
            }
        }
        connection.input.consume(position)
    }

    // MARK: Writing

    /// Schedules a connection's output to be written at the end of this pass.
    @inline(__always) func queueFlush(_ connection: Connection) {
        if !connection.isQueuedForFlush {
            connection.isQueuedForFlush = true
            flushQueue.append(connection)
        }
    }

    /// Writes as much pending output as the socket takes; waits for writability for the rest.
    func flush(_ connection: Connection) {
        let output = connection.output
        while !output.isEmpty {
            let pending = output.readableBytes
            let written = Glibc.write(connection.fd, pending.baseAddress, pending.count)
            if written > 0 {
                output.consume(written)
                stats.bytesOut += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if !connection.isWaitingToWrite, let event = connection.writeEvent {
                    connection.isWaitingToWrite = true
                    // The timeout restarts whenever the socket takes bytes, so it measures how
                    // long the client has taken nothing: the write deadline.
                    EventLoop.add(event, timeoutMilliseconds: config.writeDeadlineMilliseconds)
                }
                return
            } else {
                close(connection, reason: "Write Error: \(String(cString: strerror(errno)))")
                return
            }
        }
        if connection.isWaitingToWrite, let event = connection.writeEvent {
            connection.isWaitingToWrite = false
            EventLoop.remove(event)
        }
        if output.allocatedCapacity > 1 << 20 { output.shrink(to: 16 << 10) }
    }

    /// Sends a protocol error; fatal ones are written at once and the connection closed.
    func protocolError(_ connection: Connection, _ error: ProtocolError) {
        connection.output.appendError(error)
        if error.isFatal {
            flush(connection)
            close(connection, reason: error.text)
        } else {
            queueFlush(connection)
        }
    }

    /// Cuts off a client that cannot keep up, without a word: it would not read it anyway.
    func slowConsumer(_ connection: Connection, reason: String) {
        guard !connection.isClosed else { return }
        stats.slowConsumers += 1
        log.warn("\(connection.label) - Slow Consumer Detected: \(reason)")
        connection.output.clear()
        close(connection, reason: "Slow Consumer")
    }

    // MARK: Closing

    func close(_ connection: Connection, reason: String) {
        guard !connection.isClosed else { return }
        connection.markClosed()
        for subscription in connection.subscriptions.values { index.remove(subscription) }
        connection.subscriptions.removeAll()
        if let event = connection.readEvent { EventLoop.free(event) }
        if let event = connection.writeEvent { EventLoop.free(event) }
        connection.readEvent = nil
        connection.writeEvent = nil
        Glibc.close(connection.fd)
        connections[connection.id] = nil
        log.debug("\(connection.label) - Client connection closed: \(reason)")
    }

    // MARK: Pings

    fileprivate func pingTick() {
        let now = monotonicMilliseconds()
        for connection in Array(connections.values) {
            guard connection.sentConnect || now - connection.openedAt >= config.pingIntervalMilliseconds else { continue }
            if connection.pingsOutstanding >= config.maxPingsOutstanding {
                log.debug("\(connection.label) - Stale Client Connection - Closing")
                protocolError(connection, ProtocolError(.staleConnection))
                continue
            }
            connection.pingsOutstanding += 1
            connection.output.append("PING\r\n")
            queueFlush(connection)
        }
    }

    // MARK: Shutdown

    fileprivate func signalReceived(_ signo: Int32) {
        guard !shuttingDown else {
            log.warn("Second signal \(signo): exiting at once")
            graceExpired = true
            return
        }
        log.info("Received signal \(signo == SIGTERM ? "SIGTERM" : "SIGINT"), shutting down")
        shuttingDown = true
        // Stop taking new work: no new connections, no new commands. What clients are already
        // owed is still written, for up to the grace period.
        if let listenEvent { EventLoop.free(listenEvent) }
        listenEvent = nil
        listener?.close()
        listener = nil
        for connection in connections.values {
            if let event = connection.readEvent { EventLoop.remove(event) }
        }
        let timer = loop.makeEvent(fd: -1, flags: 0, context: self, callback: graceCallback)
        EventLoop.add(timer, timeoutMilliseconds: config.shutdownGraceMilliseconds)
        graceTimer = timer
    }

    fileprivate func graceEnded() {
        log.warn("Shutdown grace of \(config.shutdownGraceMilliseconds) ms over; closing remaining clients")
        graceExpired = true
    }

    private func finishShutdown() {
        let open = connections.count
        for connection in Array(connections.values) { close(connection, reason: "Server Shutdown") }
        for event in signalEvents { EventLoop.free(event) }
        signalEvents.removeAll()
        if let pingTimer { EventLoop.free(pingTimer) }
        pingTimer = nil
        if let graceTimer { EventLoop.free(graceTimer) }
        graceTimer = nil
        dataDirectory?.close()
        dataDirectory = nil
        log.info("Closed \(open) client connections and the data directory; server exiting")
    }

    private static func makeServerID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var generator = SystemRandomNumberGenerator()
        return "N" + String((0..<55).map { _ in alphabet[Int(generator.next() % 32)] })
    }
}

/// Counters for the whole server since start.
struct ServerStats {
    var totalConnections = 0
    var refusedConnections = 0
    var slowConsumers = 0
    var messagesIn = 0
    var messagesOut = 0
    var bytesIn = 0
    var bytesOut = 0
}

// libevent calls these with the object registered as the event's context.

private func acceptCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().acceptReady()
}

private func connectionCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let connection = Unmanaged<Connection>.fromOpaque(context!).takeUnretainedValue()
    connection.server.connectionEvent(connection, what)
}

private func pingCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().pingTick()
}

private func signalCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().signalReceived(fd)
}

private func graceCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().graceEnded()
}
