import DocketDeflate
import DocketTLS
import DocketWire
import Glibc

/// NATS over WebSocket (nats-server's `websocket { }`): a second listener whose connections
/// carry the same protocol inside RFC 6455 frames. The layer sits where TLS does, between the
/// socket and the parser: reads turn frames back into protocol bytes in place, and a flush
/// frames the connection's output just before writing it. Everything else (limits, auth,
/// permissions, slow consumers, lame duck mode) is the TCP path's, unchanged.
extension Server {
    /// Binds the WebSocket port, when the configuration has one.
    func bindWebSocket() throws -> Listener? {
        guard let settings = config.webSocket else { return nil }
        if let tls = settings.tls {
            webSocketTLSContext = try Self.tlsContext(tls, for: "websocket TLS")
            if let warning = Self.exposedKeyWarning(tls.keyFile) { log.warn(warning) }
        }
        let host = settings.host ?? config.host
        let listener: Listener
        do {
            listener = try Listener(host: host, port: settings.port)
        } catch {
            throw ServerError("cannot listen for websocket clients on \(host):\(settings.port): \(error)")
        }
        let shown = listener.boundHost.contains(":") ? "[\(listener.boundHost)]" : listener.boundHost
        log.info("Listening for websocket clients on \(settings.tls == nil ? "ws" : "wss")://\(shown):\(listener.boundPort)")
        return listener
    }

    /// Accepts WebSocket clients on `listener` (from `bindWebSocket`).
    func startWebSocket(_ listener: Listener) {
        webSocketListener = listener
        let event = loop.makeEvent(
            fd: listener.fd, flags: EventLoop.read | EventLoop.persist, context: self, callback: webSocketAcceptCallback)
        EventLoop.add(event)
        webSocketListenEvent = event
        acceptBackoff?.register(event)
    }

    /// A new WebSocket connection: its session and handshake deadline, and TLS first for `wss`.
    /// Nothing is sent until the upgrade request is answered (INFO goes in the first frame).
    func startWebSocket(_ connection: Connection, _ settings: WebSocketSettings) {
        let session = WebSocketSession(settings: settings, maxFrameLength: limits.maxCommandSize)
        connection.webSocket = session
        let timer = loop.makeEvent(fd: -1, flags: 0, context: connection, callback: webSocketTimerCallback)
        EventLoop.add(timer, timeoutMilliseconds: settings.handshakeTimeoutMilliseconds)
        session.handshakeTimer = timer
        if let context = webSocketTLSContext, let tls = settings.tls {
            // The first bytes must be a TLS record: a plain request on a wss port fails the
            // handshake (no NATS error line a browser could not read anyway).
            connection.sawTLSRecord = true
            _ = startTLS(connection, context, tls)
        }
    }

    /// What a WebSocket client the server cannot take gets: on a plain port an HTTP 503 it can
    /// read; on a TLS port only the close.
    func refuseWebSocket(_ fd: Int32) {
        guard config.webSocket?.tls == nil else { return }
        let response = MonitoringServer.response(503, "Service Unavailable", "text/plain", "maximum connections exceeded\n", head: false)
        _ = response.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    /// Reads for a WebSocket connection: the upgrade request, then frames, whose data payload
    /// bytes are left at the start of `space` (their number is what was read).
    func webSocketRead(_ connection: Connection, _ session: WebSocketSession, into space: UnsafeMutableRawBufferPointer) -> TransportResult {
        if session.inflater != nil { return readCompressible(connection, session) }
        let result = socketRead(connection, into: space)
        guard case .bytes(let count) = result else {
            if case .end = result, session.decoder.isInsideFrameOrMessage {
                log.debug("\(connection.label) - WebSocket: the client closed in the middle of a frame or message")
            }
            return result
        }
        guard session.isUpgraded else { return readUpgradeRequest(connection, session, space, count) }
        return decodeFrames(connection, session, space, count)
    }

    private func readUpgradeRequest(
        _ connection: Connection, _ session: WebSocketSession, _ space: UnsafeMutableRawBufferPointer, _ count: Int
    ) -> TransportResult {
        session.requestHead += UnsafeRawBufferPointer(rebasing: space[..<count])
        let limit = session.settings.maxHeadBytes
        guard let end = HTTPHead.endOfHead(session.requestHead), end <= limit else {
            if session.requestHead.count > limit {
                let why = "request head over \(limit) bytes"
                refuseUpgrade(connection, session, MonitoringServer.response(431, "Request Header Fields Too Large", "text/plain", why + "\n", head: false), why)
            }
            return .bytes(0)
        }
        let head = Array(session.requestHead[..<end])
        // Frames the client sent right behind its request (it need not wait for the 101).
        let early = Array(session.requestHead[end...])
        switch WebSocketUpgrade.answer(head, settings: session.settings, isSecure: connection.tls != nil) {
        case .refuse(let status, let response, let why):
            refuseUpgrade(connection, session, response, "\(status) \(why)")
            return .bytes(0)
        case .accept(let response, let compression):
            do {
                try session.upgrade(response: response, compression: compression)
            } catch {
                log.error("\(connection.label) - WebSocket: \(error)")
                close(connection, reason: "WebSocket compression could not start")
                return .bytes(0)
            }
            if let timer = session.handshakeTimer { EventLoop.free(timer) }
            session.handshakeTimer = nil
            log.debug("\(connection.label) - WebSocket upgrade complete\(compression == nil ? "" : " (permessage-deflate)")")
            // The login deadline counts from the INFO, as nats-server's: the upgrade had its own.
            if !connection.isAuthenticated, let timer = connection.authTimer {
                EventLoop.add(timer, timeoutMilliseconds: config.authTimeoutMilliseconds)
            }
            sendInfo(connection)
            if session.inflater != nil {
                guard !early.isEmpty else { return .bytes(0) }
                if early.count > session.rawInput.count { session.rawInput = [UInt8](repeating: 0, count: early.count) }
                session.rawInput.replaceSubrange(0..<early.count, with: early)
                session.undecoded = 0..<early.count
                return readCompressible(connection, session)
            }
            early.withUnsafeBytes { space.copyMemory(from: $0) }
            return decodeFrames(connection, session, space, early.count)
        }
    }

    private func refuseUpgrade(_ connection: Connection, _ session: WebSocketSession, _ response: [UInt8], _ why: String) {
        warnRefusedBeforeLogin(.webSocketUpgradeRefused, "\(connection.label) - WebSocket upgrade refused: \(why)")
        session.wire.append(response)
        endAfterOwedReplies(connection, reason: "WebSocket upgrade refused")
    }

    private func decodeFrames(
        _ connection: Connection, _ session: WebSocketSession, _ space: UnsafeMutableRawBufferPointer, _ count: Int
    ) -> TransportResult {
        let dataCount: Int
        do {
            dataCount = try session.decoder.decode(space, count: count, controls: &session.controls)
        } catch {
            return failWebSocket(connection, session, error)
        }
        return afterFrames(connection, session, decodedInPlace: dataCount, appended: 0)
    }

    /// Reads for a connection that agreed to permessage-deflate: its raw bytes go to the
    /// session's own buffer, since what they decode to (longer, once decompressed) is appended
    /// to the connection's input directly; so the count returned is 0, and the data is in.
    /// Bytes left undecoded by the last read are decoded first, and the socket is not read
    /// until they are gone.
    private func readCompressible(_ connection: Connection, _ session: WebSocketSession) -> TransportResult {
        var raw = session.rawInput
        session.rawInput = []  // no copy while it is being read into
        defer { session.rawInput = raw }
        return raw.withUnsafeMutableBytes { space in
            if session.undecoded.isEmpty {
                // Over the bound already (a RESERVE waits, so nothing is taken): reading more
                // would only add to it.
                guard connection.input.readableCount <= limits.maxCommandSize else { return .bytes(0) }
                let result = socketRead(connection, into: space)
                guard case .bytes(let count) = result else { return result }
                session.undecoded = 0..<count
            }
            return decodeCompressible(connection, session, space)
        }
    }

    /// Decodes the session's undecoded raw bytes, a slice at a time, until they are done or the
    /// input holds more than one whole command: then one of its commands is complete (or fails),
    /// so that running them makes room. Without the stop, a read of 64 KiB of messages that
    /// repeat each other (the window carries across messages) came to gigabytes of input.
    private func decodeCompressible(
        _ connection: Connection, _ session: WebSocketSession, _ raw: UnsafeMutableRawBufferPointer
    ) -> TransportResult {
        guard let inflater = session.inflater else { return .bytes(0) }
        let input = connection.input
        let before = input.readableCount
        let limit = session.decoder.maxFrameLength
        let bound = limits.maxCommandSize
        do throws(WebSocketFailure) {
            while !session.undecoded.isEmpty && input.readableCount <= bound {
                let slice = session.undecoded.prefix(WebSocketSession.inflateSliceBytes)
                session.undecoded = slice.upperBound..<session.undecoded.upperBound
                try session.decoder.decode(
                    UnsafeMutableRawBufferPointer(rebasing: raw[slice]), count: slice.count, controls: &session.controls
                ) { bytes, isCompressed, endsMessage throws(WebSocketFailure) in
                    guard isCompressed else { return input.append(bytes) }
                    do throws(DeflateError) {
                        session.inflatedInMessage += try inflater.decompress(
                            bytes, endOfMessage: endsMessage, limit: limit - session.inflatedInMessage) { input.append($0) }
                    } catch {
                        guard error.isOverLimit else { throw WebSocketFailure(WebSocketCloseStatus.invalidPayload, error.description) }
                        // The inflater was given what is left of the message's bound: its own text
                        // names that remainder, which a client cannot act on.
                        throw WebSocketFailure(WebSocketCloseStatus.messageTooBig, inflatedPastReason(limit))
                    }
                    if endsMessage {
                        session.inflatedInMessage = 0
                        if session.compression?.clientNoContextTakeover == true { inflater.forgetHistory() }
                    }
                }
                if session.decoder.sawClose { session.undecoded = 0..<0 }
            }
        } catch {
            session.undecoded = 0..<0
            return failWebSocket(connection, session, error)
        }
        let appended = input.readableCount - before
        stats.bytesIn += appended
        return afterFrames(connection, session, decodedInPlace: 0, appended: appended)
    }

    /// Why a compressed message was refused, for the close frame (at most 123 bytes): the bound
    /// and the flags it comes from.
    private func inflatedPastReason(_ limit: Int) -> String {
        "a message inflates past \(limit) bytes \(boundSettings)"
    }

    /// The settings the frame bound comes from, as the close reasons of 1009 name them.
    private var boundSettings: String {
        "(--max-payload \(limits.maxPayload) + --max-control-line \(limits.maxControlLine) + 2 CRLFs)"
    }

    private func failWebSocket(_ connection: Connection, _ session: WebSocketSession, _ failure: WebSocketFailure) -> TransportResult {
        var failure = failure
        if let length = failure.frameLength {
            // The decoder's text names the bound alone, which a client cannot act on; the
            // compressed case names its settings too (`inflatedPastReason`).
            failure = WebSocketFailure(
                failure.status, "a frame of \(length) bytes is over \(session.decoder.maxFrameLength) bytes \(boundSettings)", frameLength: length)
        }
        warnRefusedBeforeLogin(.webSocketProtocolError, "\(connection.label) - WebSocket protocol error: \(failure.reason) (closing with \(failure.status))")
        session.closeStatus = failure.status
        session.closeReason = failure.reason
        endAfterOwedReplies(connection, reason: "WebSocket protocol error")
        return .bytes(0)
    }

    /// Acts on the control frames a read decoded: `decodedInPlace` data bytes wait uncommitted
    /// at the start of the read's space, `appended` were put into the input already.
    private func afterFrames(_ connection: Connection, _ session: WebSocketSession, decodedInPlace dataCount: Int, appended: Int) -> TransportResult {
        var peerClosed = false
        for control in session.controls {
            switch control {
            case .ping(let payload):
                session.pong(payload)
                queueFlush(connection)
            case .pong:
                break
            case .close(let status, _):
                // Echo the peer's status (RFC 6455 5.5.1); a close without one gets 1000.
                session.closeStatus = status ?? WebSocketCloseStatus.normal
                peerClosed = true
            }
        }
        session.controls.removeAll(keepingCapacity: true)
        guard peerClosed else { return .bytes(dataCount) }
        // The data before the close frame is the client's last word: run it, then end as on EOF.
        if dataCount > 0 {
            connection.input.commitWrite(dataCount)
            stats.bytesIn += dataCount
        }
        if dataCount > 0 || appended > 0 { processAll(connection) }
        return .end
    }

    /// The connection's bytes for the socket: its protocol output framed behind what is already
    /// waiting, and the close frame once the connection is ending and owes nothing more.
    func webSocketWire(_ connection: Connection, _ session: WebSocketSession) -> ByteBuffer {
        session.frame(connection.output)
        // Emptied into frames at every flush, it would otherwise keep a burst's size for good.
        if connection.output.allocatedCapacity > 1 << 20 { connection.output.shrink(to: 16 << 10) }
        if connection.closeReason != nil, connection.heldReplies.isEmpty { session.close() }
        return session.wire
    }

    fileprivate func webSocketHandshakeTimedOut(_ connection: Connection) {
        guard !connection.isClosed, let session = connection.webSocket, !session.isUpgraded else { return }
        session.handshakeTimer.map { EventLoop.free($0) }
        session.handshakeTimer = nil
        warnRefusedBeforeLogin(
            .webSocketHandshakeTimeout,
            "\(connection.label) - WebSocket handshake timeout after \(session.settings.handshakeTimeoutMilliseconds) ms")
        close(connection, reason: "WebSocket handshake timeout")
    }
}

private func webSocketAcceptCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let server = Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue()
    if let listener = server.webSocketListener { server.acceptReady(on: listener, webSocket: server.config.webSocket) }
}

private func webSocketTimerCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let connection = Unmanaged<Connection>.fromOpaque(context!).takeUnretainedValue()
    connection.server.webSocketHandshakeTimedOut(connection)
}
