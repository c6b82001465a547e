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
    /// A document and who may read it: `body` gets the reader's permissions (nil: every
    /// right) and answers nil when they do not reach it (403).
    typealias Route = (contentType: String, body: (Permissions?) -> String?)

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
                if let tlsContext {
                    guard let session = try? tlsContext.session(fd: fd) else {
                        Glibc.close(fd)
                        continue
                    }
                    connection.tls = session
                }
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
        guard let authorize, let path = Self.path(of: head), path != "/healthz" else {
            return finish(response(to: head, principal: nil, authorized: authorize == nil))
        }
        authorize(Self.header("authorization", in: head)) { [weak self] principal in
            guard let self else { return }
            finish(self.response(to: head, principal: principal, authorized: principal != nil))
        }
    }

    /// The request target's path, when the request line has one.
    private static func path(of head: [UInt8]) -> String? {
        let requestLine = head.prefix { $0 != 0x0D && $0 != 0x0A }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: true)
        guard parts.count == 3 else { return nil }
        return String(String(decoding: parts[1], as: UTF8.self).prefix { $0 != "?" })
    }

    /// The response to one request head, for a reader proved to be `principal` (or not proved,
    /// when `authorized` is false and credentials are required).
    private func response(to head: [UInt8], principal: Principal?, authorized: Bool) -> [UInt8] {
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
        var permissions: Permissions?
        if authorize != nil, path != "/healthz" {
            guard authorized, let principal else {
                return Self.response(
                    401, "Unauthorized", "text/plain", "credentials required\n", head: method == "HEAD",
                    extra: "WWW-Authenticate: Basic realm=\"docketd\"\r\n")
            }
            permissions = principal.permissions
        }
        guard let route = routes[path] else {
            let body = "not found; try " + routes.keys.sorted().joined(separator: " ") + "\n"
            return Self.response(404, "Not Found", "text/plain; charset=utf-8", body, head: method == "HEAD")
        }
        guard let body = route.body(permissions) else {
            return Self.response(403, "Forbidden", "text/plain", "this user may not read \(path)\n", head: method == "HEAD")
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
