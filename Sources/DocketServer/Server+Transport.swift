import DocketTLS
import DocketWire
import Glibc

/// What a read or a write on a connection's socket came to.
enum TransportResult {
    case bytes(Int)
    /// Nothing now; the loop says when to try again.
    case wouldBlock
    /// The peer closed (EOF, or TLS close_notify).
    case end
    case failed(String)
}

/// Bytes on and off a connection's socket: plain TCP, or TLS (OpenSSL, behind `DocketTLS`),
/// with WebSocket framing above either (`Server+WebSocket.swift`). The plain path stays a bare
/// read/write, so TLS and WebSocket cost connections without them one test each.
extension Server {
    @inline(__always)
    func transportRead(_ connection: Connection, into space: UnsafeMutableRawBufferPointer) -> TransportResult {
        if let webSocket = connection.webSocket { return webSocketRead(connection, webSocket, into: space) }
        return socketRead(connection, into: space)
    }

    /// Bytes from the socket, through TLS when the connection has it.
    @inline(__always)
    func socketRead(_ connection: Connection, into space: UnsafeMutableRawBufferPointer) -> TransportResult {
        if let tls = connection.tls {
            switch tls.read(into: space) {
            case .done(let count): return .bytes(count)
            case .wantRead, .wantWrite: return .wouldBlock
            case .closed: return .end
            case .failed(let why): return .failed(why)
            }
        }
        while true {
            let count = Glibc.read(connection.fd, space.baseAddress, space.count)
            if count > 0 { return .bytes(count) }
            if count == 0 { return .end }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            return .failed(String(cString: strerror(errno)))
        }
    }

    @inline(__always)
    func transportWrite(_ connection: Connection, _ bytes: UnsafeRawBufferPointer) -> TransportResult {
        if let tls = connection.tls, tls.isEstablished {
            switch tls.write(bytes) {
            case .done(let count): return .bytes(count)
            // A write that needs the peer's bytes first (a key update) waits like a full socket.
            case .wantRead, .wantWrite: return .wouldBlock
            case .closed: return .end
            case .failed(let why): return .failed(why)
            }
        }
        // Plain TCP, or the plain INFO before a client upgrades.
        while true {
            let count = Glibc.write(connection.fd, bytes.baseAddress, bytes.count)
            if count >= 0 { return .bytes(count) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            return .failed(String(cString: strerror(errno)))
        }
    }

    // MARK: TLS handshake

    /// A server context for `settings`; `what` names the port in the error.
    static func tlsContext(_ settings: TLSSettings, for what: String) throws -> TLSContext {
        do {
            return try TLSContext.server(
                certificate: settings.certificateFile, key: settings.keyFile, caFile: settings.caFile, verifyClients: settings.verifyClients)
        } catch {
            throw ServerError("\(what): \(error)")
        }
    }

    /// The TLS settings a connection came in under: the WebSocket block's own, the routes'
    /// (`cluster { tls }`), or the client port's.
    func tlsSettings(of connection: Connection) -> TLSSettings? {
        if let webSocket = connection.webSocket { return webSocket.settings.tls }
        if connection.route != nil { return config.routeTLS }
        return config.tls
    }

    /// Gives a new connection its TLS session and handshake deadline; false if it was closed.
    /// `serverName`: this side is the client (a route it makes), checking the peer's name.
    func startTLS(_ connection: Connection, _ context: TLSContext, _ settings: TLSSettings, serverName: String? = nil) -> Bool {
        do {
            connection.tls = try context.session(fd: connection.fd, serverName: serverName)
        } catch {
            log.error("\(connection.label) - TLS: \(error)")
            close(connection, reason: "TLS setup failed")
            return false
        }
        let timer = loop.makeEvent(fd: -1, flags: 0, context: connection, callback: tlsTimerCallback)
        EventLoop.add(timer, timeoutMilliseconds: settings.timeoutMilliseconds)
        connection.tlsTimer = timer
        return true
    }

    /// Moves a connection's handshake on when its socket is ready.
    func advanceHandshake(_ connection: Connection) {
        guard let tls = connection.tls, !connection.isClosed else { return }
        if !connection.sawTLSRecord {
            // After a plain INFO, a client that does not speak TLS sends its CONNECT in clear:
            // tell it why it is being closed, in words, rather than with a handshake error.
            var first: UInt8 = 0
            let count = recv(connection.fd, &first, 1, Int32(MSG_PEEK))
            if count == 0 { return close(connection, reason: "Client Closed before the TLS handshake") }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
                return close(connection, reason: "Read Error: \(String(cString: strerror(errno)))")
            }
            if first != Self.tlsHandshakeRecord, tlsSettings(of: connection)?.allowsPlainText == true {
                // allow_non_tls: the client chose plain text; it is served as on a plain port.
                log.debug("\(connection.label) - TLS available, the client chose plain text")
                connection.tls = nil
                endHandshakeDeadline(connection)
                return readReady(connection)
            }
            guard first == Self.tlsHandshakeRecord else {
                warnRefusedBeforeLogin(.plainTextOnTLS, "\(connection.label) - Secure Connection - TLS Required: the client sent plain text")
                connection.tls = nil  // the error goes out in clear, where the client can read it
                // Take what it sent, so that the close is a FIN the client reads the error before,
                // not a reset for unread bytes.
                var sink = [UInt8](repeating: 0, count: 4096)
                for _ in 0..<16 {
                    if sink.withUnsafeMutableBytes({ Glibc.read(connection.fd, $0.baseAddress, $0.count) }) <= 0 { break }
                }
                return protocolError(connection, ProtocolError(.tlsRequired))
            }
            connection.sawTLSRecord = true
        }
        switch tls.handshake() {
        case .done:
            endHandshakeDeadline(connection)
            if connection.isWaitingToWrite, let event = connection.writeEvent {
                connection.isWaitingToWrite = false
                EventLoop.remove(event)
            }
            log.debug("\(connection.label) - TLS handshake complete (\(tls.version)\(tls.peerSubject.map { ", peer \($0)" } ?? ""))")
            if connection.route != nil {
                routeReady(connection)
                return readReady(connection)
            }
            if tlsSettings(of: connection)?.mapsUsers == true { connection.certificateIdentities = tls.peerIdentities }
            // Over WebSocket, INFO waits for the upgrade request, which comes next.
            if tlsSettings(of: connection)?.handshakeFirst == true, connection.webSocket == nil { sendInfo(connection) }
            // The client may have sent its CONNECT with the last handshake bytes.
            readReady(connection)
        case .wantRead:
            if connection.isWaitingToWrite, let event = connection.writeEvent {
                connection.isWaitingToWrite = false
                EventLoop.remove(event)
            }
        case .wantWrite:
            if !connection.isWaitingToWrite, let event = connection.writeEvent {
                connection.isWaitingToWrite = true
                EventLoop.add(event)
            }
        case .closed:
            close(connection, reason: "Client Closed during the TLS handshake")
        case .failed(let why):
            warnRefusedBeforeLogin(.handshakeFailed, "\(connection.label) - TLS handshake error: \(why)")
            close(connection, reason: "TLS handshake error")
        }
    }

    private func endHandshakeDeadline(_ connection: Connection) {
        if let timer = connection.tlsTimer { EventLoop.free(timer) }
        connection.tlsTimer = nil
    }

    /// The first byte of every TLS handshake record.
    static let tlsHandshakeRecord: UInt8 = 0x16

    /// What to tell the operator when a private key file is readable by every user of the
    /// machine (whoever reads it can pose as this server); nil when it is not. Readable by its
    /// group is left alone: that is how Debian's `ssl-cert` group shares keys with services.
    static func exposedKeyWarning(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IROTH != 0 else { return nil }
        let mode = String(status.st_mode & 0o777, radix: 8)
        return "TLS: the key file \(path) can be read by every user of this machine (mode \(mode)); chmod o-r it"
    }

    fileprivate func tlsTimedOut(_ connection: Connection) {
        guard !connection.isClosed, connection.tls?.isEstablished == false else { return }
        warnRefusedBeforeLogin(.handshakeTimeout, "\(connection.label) - TLS handshake timeout after \(tlsSettings(of: connection)?.timeoutMilliseconds ?? 0) ms")
        close(connection, reason: "TLS handshake timeout")
    }
}

private func tlsTimerCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let connection = Unmanaged<Connection>.fromOpaque(context!).takeUnretainedValue()
    connection.server.tlsTimedOut(connection)
}
