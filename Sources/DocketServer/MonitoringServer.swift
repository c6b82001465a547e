import DocketTLS
import Glibc

/// The monitoring endpoint: a small HTTP/1.1 server on its own port and the same loop as the
/// protocol, so a scrape sees the state the loop sees and needs no locks.
///
/// It answers GET and HEAD of a fixed set of paths, one request per connection (the response
/// says `Connection: close`). It is written here rather than taken from libevent's evhttp so
/// that every limit is ours: request head size (431 past it), how long a connection may take to
/// send its request (closed after it), how many connections may be open (503 past it), and what
/// happens when the process runs out of file descriptors (see `AcceptBackoff`).
final class MonitoringServer {
    /// Who is asking for a document.
    enum Reader {
        /// No credentials are configured: the documents are everyone's.
        case everyone
        /// Credentials are configured and the request proves none (or it came in clear on a
        /// port that has TLS, where credentials must not travel).
        case anonymous
        /// A user, with its permissions (nil: every right).
        case user(Permissions?)
    }

    /// A document and who may read it: `body` answers nil when the reader may not (401 for an
    /// anonymous reader, 403 for a user).
    typealias Route = (contentType: String, body: (Reader) -> String?)

    /// Who an `Authorization` header value proves to be (nil: no one), told to the callback,
    /// which may come in a later pass (a password hash is checked off the loop).
    typealias Authorize = (String?, @escaping (Principal?) -> Void) -> Void

    struct Limits {
        /// Longest request head (request line and headers) read before answering 431.
        var maxHeadBytes = 8 << 10
        /// How long a connection may take to send its request head, in ms.
        var idleMilliseconds = 10_000
        /// Connections open at once; past it, 503 and close.
        var maxConnections = 256
    }

    let boundPort: Int
    private let loop: EventLoop
    private let listener: Listener
    private var listenEvent: OpaquePointer?
    private let routes: [String: Route]
    private let limits: Limits
    private let backoff: AcceptBackoff
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]

    /// Who may see anything; nil: no check.
    private let authorize: Authorize?
    /// HTTPS with the client port's certificate when it has TLS; nil: plain HTTP.
    private let tlsContext: TLSContext?

    init(
        loop: EventLoop, host: String, port: Int, limits: Limits, backoff: AcceptBackoff,
        authorize: Authorize?, tlsContext: TLSContext?, routes: [String: Route]
    ) throws {
        self.authorize = authorize
        self.tlsContext = tlsContext
        do {
            listener = try Listener(host: host, port: port)
        } catch {
            throw ServerError("cannot listen for monitoring on \(host):\(port): \(error)")
        }
        self.loop = loop
        self.routes = routes
        self.limits = limits
        self.backoff = backoff
        boundPort = listener.boundPort
        let event = loop.makeEvent(
            fd: listener.fd, flags: EventLoop.read | EventLoop.persist, context: self, callback: monitoringAcceptCallback)
        EventLoop.add(event)
        listenEvent = event
        backoff.register(event)
    }

    deinit {
        for connection in Array(connections.values) { close(connection) }
        if let listenEvent {
            backoff.unregister(listenEvent)
            EventLoop.free(listenEvent)
        }
        listener.close()
    }

    fileprivate func acceptReady() {
        while true {
            switch listener.acceptOne() {
            case .none:
                return
            case .outOfDescriptors:
                backoff.outOfDescriptors(listener: listener, refusal: Self.response(503, "Service Unavailable", "text/plain", "out of file descriptors\n", head: false))
                return
            case .accepted(let fd):
                guard connections.count < limits.maxConnections else {
                    let refusal = Self.response(503, "Service Unavailable", "text/plain", "too many monitoring connections\n", head: false)
                    _ = refusal.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                    Glibc.close(fd)
                    continue
                }
                let connection = HTTPConnection(server: self, fd: fd)
                // With TLS, the first byte says which: a TLS handshake, or a plain request (as
                // nats-server's monitoring port speaks, and NATS test harnesses poll /varz).
                connection.awaitsFirstByte = tlsContext != nil
                connection.readEvent = loop.makeEvent(
                    fd: fd, flags: EventLoop.read | EventLoop.persist, context: connection, callback: httpConnectionCallback)
                connection.writeEvent = loop.makeEvent(
                    fd: fd, flags: EventLoop.write | EventLoop.persist, context: connection, callback: httpConnectionCallback)
                connections[ObjectIdentifier(connection)] = connection
                // The read event's timeout is the idle limit: no request head in time, no connection.
                EventLoop.add(connection.readEvent!, timeoutMilliseconds: limits.idleMilliseconds)
            }
        }
    }

    fileprivate func event(_ connection: HTTPConnection, _ what: Int32) {
        if what & EventLoop.timeout != 0 { return close(connection) }
        if connection.awaitsFirstByte, let tlsContext {
            var first: UInt8 = 0
            let count = recv(connection.fd, &first, 1, Int32(MSG_PEEK))
            if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
            guard count > 0 else { return close(connection) }
            connection.awaitsFirstByte = false
            if first == Self.tlsHandshakeRecord {
                guard let session = try? tlsContext.session(fd: connection.fd) else { return close(connection) }
                connection.tls = session
            } else {
                connection.isPlainOnTLSPort = true
            }
        }
        if let tls = connection.tls, !tls.isEstablished {
            switch tls.handshake() {
            case .done: break
            case .wantRead:
                if connection.waitingToWrite, let event = connection.writeEvent {
                    connection.waitingToWrite = false
                    EventLoop.remove(event)
                }
                return
            case .wantWrite:
                if !connection.waitingToWrite, let event = connection.writeEvent {
                    connection.waitingToWrite = true
                    EventLoop.add(event, timeoutMilliseconds: limits.idleMilliseconds)
                }
                return
            case .closed, .failed:
                return close(connection)
            }
            if connection.waitingToWrite, let event = connection.writeEvent {
                connection.waitingToWrite = false
                EventLoop.remove(event)
            }
        } else if what & EventLoop.write != 0 {
            return flush(connection)
        }
        guard !connection.answered else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let count: Int
        if let tls = connection.tls {
            // Take every decrypted byte OpenSSL holds: the socket will not announce them again.
            var total = 0
            reading: repeat {
                switch chunk.withUnsafeMutableBytes({ tls.read(into: $0) }) {
                case .done(let read):
                    connection.input += chunk[..<read]
                    total += read
                case .wantRead, .wantWrite: break reading
                case .closed, .failed: return close(connection)
                }
            } while tls.bufferedBytes > 0 && connection.input.count <= limits.maxHeadBytes
            guard total > 0 else { return }
            count = 0
        } else {
            count = chunk.withUnsafeMutableBytes { Glibc.read(connection.fd, $0.baseAddress, $0.count) }
            if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
            guard count > 0 else { return close(connection) }
        }
        connection.input += chunk[..<count]
        guard let headEnd = Self.endOfHead(connection.input) else {
            if connection.input.count > limits.maxHeadBytes {
                answer(connection, Self.response(431, "Request Header Fields Too Large", "text/plain", "request head over \(limits.maxHeadBytes) bytes\n", head: false))
            }
            return
        }
        guard headEnd <= limits.maxHeadBytes else {
            return answer(connection, Self.response(431, "Request Header Fields Too Large", "text/plain", "request head over \(limits.maxHeadBytes) bytes\n", head: false))
        }
        respond(to: Array(connection.input[..<headEnd]), on: connection)
    }

    /// Answers one request head, once its credentials are settled.
    private func respond(to head: [UInt8], on connection: HTTPConnection) {
        connection.answered = true  // reads nothing more, while its credentials are checked too
        if let event = connection.readEvent { EventLoop.remove(event) }
        let key = ObjectIdentifier(connection)
        let finish = { [weak self] (response: [UInt8]) in
            guard let self, self.connections[key] != nil else { return }  // closed meanwhile
            self.answer(connection, response)
        }
        guard let authorize else { return finish(response(to: head, reader: .everyone, on: connection)) }
        // The health check answers anyone, whatever credentials come with it.
        if Self.path(of: head) == "/healthz" { return finish(response(to: head, reader: .anonymous, on: connection)) }
        // Credentials sent in clear to a port that has TLS are not looked at.
        guard !connection.isPlainOnTLSPort, let header = Self.header("authorization", in: head) else {
            return finish(response(to: head, reader: .anonymous, on: connection))
        }
        authorize(header) { [weak self] principal in
            guard let self else { return }
            guard let principal else {
                return finish(Self.response(
                    401, "Unauthorized", "text/plain", "the credentials are wrong\n", head: Self.isHead(head),
                    extra: "WWW-Authenticate: Basic realm=\"docketd\"\r\n"))
            }
            finish(self.response(to: head, reader: .user(principal.permissions), on: connection))
        }
    }

    /// The first byte of every TLS handshake record.
    static let tlsHandshakeRecord: UInt8 = 0x16

    private static func isHead(_ head: [UInt8]) -> Bool { head.starts(with: Array("HEAD ".utf8)) }

    /// The request target's path, when the request line has one.
    private static func path(of head: [UInt8]) -> String? {
        let requestLine = head.prefix { $0 != 0x0D && $0 != 0x0A }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: true)
        guard parts.count == 3 else { return nil }
        return String(String(decoding: parts[1], as: UTF8.self).prefix { $0 != "?" })
    }

    /// The response to one request head, for `reader`.
    private func response(to head: [UInt8], reader: Reader, on connection: HTTPConnection) -> [UInt8] {
        let requestLine = head.prefix { $0 != 0x0D && $0 != 0x0A }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].starts(with: Array("HTTP/1.".utf8)) else {
            return Self.response(400, "Bad Request", "text/plain", "not an HTTP/1 request line\n", head: false)
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        guard method == "GET" || method == "HEAD" else {
            return Self.response(405, "Method Not Allowed", "text/plain", "only GET and HEAD\n", head: false, extra: "Allow: GET, HEAD\r\n")
        }
        let target = String(decoding: parts[1], as: UTF8.self)
        let path = String(target.prefix { $0 != "?" })
        // With credentials required, everything but the health check needs them too: the
        // documents name queues, clients and counts an outsider has no business seeing.
        guard let route = routes[path] else {
            let body = "not found; try " + routes.keys.sorted().joined(separator: " ") + "\n"
            return Self.response(404, "Not Found", "text/plain; charset=utf-8", body, head: method == "HEAD")
        }
        guard let body = route.body(reader) else {
            if case .user = reader {
                return Self.response(403, "Forbidden", "text/plain", "this user may not read \(path)\n", head: method == "HEAD")
            }
            if connection.isPlainOnTLSPort {
                return Self.response(403, "Forbidden", "text/plain", "\(path) needs credentials: ask over https://\n", head: method == "HEAD")
            }
            return Self.response(
                401, "Unauthorized", "text/plain", "credentials required\n", head: method == "HEAD",
                extra: "WWW-Authenticate: Basic realm=\"docketd\"\r\n")
        }
        return Self.response(200, "OK", route.contentType, body, head: method == "HEAD", extra: "Cache-Control: no-store\r\n")
    }

    private func answer(_ connection: HTTPConnection, _ response: [UInt8]) {
        connection.answered = true
        connection.output = response
        if let event = connection.readEvent { EventLoop.remove(event) }
        flush(connection)
    }

    private func flush(_ connection: HTTPConnection) {
        while connection.written < connection.output.count {
            var count: Int
            if let tls = connection.tls {
                switch connection.output[connection.written...].withUnsafeBytes({ tls.write($0) }) {
                case .done(let written): count = written
                case .wantRead, .wantWrite:
                    count = -1
                    errno = EAGAIN
                case .closed, .failed:
                    count = -1
                    errno = EPIPE
                }
            } else {
                count = connection.output[connection.written...].withUnsafeBytes { Glibc.write(connection.fd, $0.baseAddress, $0.count) }
            }
            if count > 0 {
                connection.written += count
            } else if count < 0 && errno == EINTR {
                continue
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if let event = connection.writeEvent, !connection.waitingToWrite {
                    connection.waitingToWrite = true
                    EventLoop.add(event, timeoutMilliseconds: limits.idleMilliseconds)
                }
                return
            } else {
                return close(connection)
            }
        }
        close(connection)
    }

    private func close(_ connection: HTTPConnection) {
        guard connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
        if let event = connection.readEvent { EventLoop.free(event) }
        if let event = connection.writeEvent { EventLoop.free(event) }
        connection.readEvent = nil
        connection.writeEvent = nil
        connection.tls?.shutdown()
        Glibc.close(connection.fd)
    }

    /// The value of header `name` (lower case) in a request head, without surrounding blanks.
    static func header(_ name: String, in head: [UInt8]) -> String? {
        let text = String(decoding: head, as: UTF8.self)
        for line in text.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" }).dropFirst() {
            guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name else { continue }
            let value = line[line.index(after: colon)...]
            return String(value.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        }
        return nil
    }

    /// Where the request head ends (after its blank line), or nil if it has not ended yet.
    static func endOfHead(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0A {
                if index + 1 < bytes.count && bytes[index + 1] == 0x0A { return index + 2 }
                if index + 2 < bytes.count && bytes[index + 1] == 0x0D && bytes[index + 2] == 0x0A { return index + 3 }
            }
            index += 1
        }
        return nil
    }

    static func response(_ status: Int, _ reason: String, _ contentType: String, _ body: String, head: Bool, extra: String = "") -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n"
        text += extra + "Connection: close\r\n\r\n"
        if !head { text += body }
        return Array(text.utf8)
    }
}

/// One monitoring connection: a request head coming in, a response going out.
final class HTTPConnection {
    unowned let server: MonitoringServer
    let fd: Int32
    var readEvent: OpaquePointer?
    var writeEvent: OpaquePointer?
    var input: [UInt8] = []
    var output: [UInt8] = []
    var written = 0
    var answered = false
    var waitingToWrite = false
    var tls: TLSSession?
    /// On a port with TLS: its first byte has not been seen yet.
    var awaitsFirstByte = false
    /// On a port with TLS, it spoke plain HTTP: it gets only what needs no credentials.
    var isPlainOnTLSPort = false

    init(server: MonitoringServer, fd: Int32) {
        self.server = server
        self.fd = fd
    }
}

private func monitoringAcceptCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<MonitoringServer>.fromOpaque(context!).takeUnretainedValue().acceptReady()
}

private func httpConnectionCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let connection = Unmanaged<HTTPConnection>.fromOpaque(context!).takeUnretainedValue()
    connection.server.event(connection, Int32(what))
}
