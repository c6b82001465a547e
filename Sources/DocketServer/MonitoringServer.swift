import DocketTLS
import Glibc

/// The monitoring endpoint: a small HTTP/1.1 server on its own port and the same loop as the
/// protocol, so a scrape sees the state the loop sees and needs no locks.
///
/// It answers GET and HEAD of a fixed set of paths, and hands anything else to `pages` (the
/// dashboard: its page, its JSON API with POSTs, and server-sent event streams), one request
/// per connection (the response says `Connection: close`). It is written here rather than taken
/// from libevent's evhttp so that every limit is ours: request head size (431 past it), body
/// size (413), how long a connection may take to send its request (closed after it), how many
/// connections may be open (503 past it), how much a stream may have unread (closed past it),
/// and what happens when the process runs out of file descriptors (see `AcceptBackoff`).
final class MonitoringServer {
    /// Who is asking for a document.
    enum Reader {
        /// No credentials are configured: the documents are everyone's.
        case everyone
        /// Credentials are configured and the request proves none (or it came in clear on a
        /// port that has TLS, where credentials must not travel).
        case anonymous
        /// A user, with its permissions (nil: every right).
        case user(Principal)

        /// The user's permissions; nil for every right (`everyone`, or a user with them all).
        var permissions: Permissions? {
            if case .user(let principal) = self { return principal.permissions }
            return nil
        }
    }

    /// One request, as `pages` sees it.
    struct Request {
        let method: String
        let path: String
        /// The query string's parameters, percent-decoded (the first of a repeated name counts,
        /// as nats-server's; a request with a broken escape is refused before it gets here).
        let query: [String: String]
        let head: [UInt8]
        let body: [UInt8]
        /// Whether it came over TLS (its origin is then `https://…`).
        var isSecure = false
        /// Whether it came in clear to a port that has TLS (credentials are then not asked for).
        var isPlainOnTLSPort = false

        func header(_ name: String) -> String? { HTTPHead.header(name, in: head) }
    }

    /// What `pages` answers: a whole response, or a stream the page keeps writing to.
    enum Answer {
        case response(status: Int, contentType: String, body: String, extra: String = "")
        /// `text/event-stream`: the headers go out now, `start` gets the stream to write to.
        case stream(start: (HTTPStream) -> Void)
        /// Not a path `pages` serves.
        case notMine
    }

    /// The dashboard: answers a request for `reader`, once (perhaps in a later loop pass).
    typealias Pages = (Request, Reader, @escaping (Answer) -> Void) -> Void

    /// A document and who may read it: `body` answers nil when the reader may not (401 for an
    /// anonymous reader, 403 for a user), and throws `BadQuery` for a query it cannot answer.
    typealias Route = (contentType: String, body: (Reader, _ query: [String: String]) throws(BadQuery) -> String?)

    /// A document written a slice at a time (see `SlicedDocument`), and who may read it: `start`
    /// answers nil when the reader may not, as a `Route`'s body does.
    typealias SlicedRoute = (contentType: String, start: (Reader) -> SlicedDocument?)

    /// A query a route cannot answer (`/connz?sort=bogus`): `400` with this text, as nats-server.
    struct BadQuery: Error {
        let message: String
    }

    /// Who an `Authorization` header value proves to be (nil: no one), told to the callback,
    /// which may come in a later pass (a password hash is checked off the loop); returns what
    /// withdraws the question if the connection goes first. The second argument names the
    /// client (`host:port`), for the log.
    typealias Authorize = (String?, String, @escaping (Principal?) -> Void) -> (() -> Void)?

    struct Limits {
        /// Longest request head (request line and headers) read before answering 431.
        var maxHeadBytes = 8 << 10
        /// How long a connection may take to send its whole request, from accept, in ms (a
        /// deadline, however its bytes trickle in); also how long a response may wait for a
        /// reader that does not read.
        var idleMilliseconds = 10_000
        /// Connections open at once; past it, the oldest one still sending its request makes
        /// room, else 503 and close. Event streams may hold at most half of them.
        var maxConnections = 256
        /// Longest request body (a dashboard POST) read before answering 413.
        var maxBodyBytes = 64 << 10
        /// Bytes a stream may have written but not yet sent (a reader that stopped reading);
        /// past it the stream is closed.
        var maxStreamBacklog = 1 << 20
    }

    let boundPort: Int
    private let loop: EventLoop
    private let listener: Listener
    private var listenEvent: OpaquePointer?
    private let routes: [String: Route]
    private let slicedRoutes: [String: SlicedRoute]
    /// Everything but `routes`: the dashboard's page, API and streams.
    var pages: Pages?
    /// Whether the server cannot do its job now as a `/healthz` query asks (its job store is
    /// unreachable; with `cluster=true`, a peer too): `/healthz` then answers 503, so load
    /// balancers and supervisors can tell.
    var isUnavailable: (_ query: [String: String]) -> Bool = { _ in false }
    private let limits: Limits
    private let backoff: AcceptBackoff
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    /// Connections open now, each a descriptor.
    var openConnections: Int { connections.count }
    /// Response bytes made since the server's loop pass began. Documents are built on the loop
    /// that serves every client: 50 requests for /queues at once (2000 queues) held it, and a
    /// NATS client's PING, for 7 s. Past `answersPerPass`, requests wait for a later pass.
    private var answeredThisPass = 0
    static let answersPerPass = 1 << 20
    /// About how much of a sliced document one turn writes: a slice takes about 0.5 ms to make
    /// in a release build (27 MB in 0.10-0.12 s), and the connection asks for the next one only
    /// once this one is in the socket, so a reader that does not read holds one slice, not the
    /// whole document. Slices count against `answersPerPass` as whole answers do.
    static let sliceBytes = 128 << 10
    /// What reading one row's values for a sliced document counts against `answersPerPass`.
    static let bytesPerRowRead = 8
    /// Whole requests, and sliced answers whose last slice is sent, waiting for their turn,
    /// oldest first, and the event that takes them.
    private var waitingForTurn: [HTTPConnection] = []
    private var turnEvent: OpaquePointer?

    /// Who may see anything; nil: no check. A reload gives it the new users (SIGHUP changes who
    /// may log in on both ports at once).
    var authorize: Authorize?
    /// HTTPS with the client port's certificate when it has TLS; nil: plain HTTP. A reload
    /// gives it the client port's new context; HTTP or HTTPS stays as it started.
    var tlsContext: TLSContext?

    /// Binds the monitoring port; the server serves it from `init` on.
    static func bind(host: String, port: Int) throws -> Listener {
        do {
            return try Listener(host: host, port: port)
        } catch {
            throw ServerError("the monitoring port: \(error)")
        }
    }

    /// Serves `listener` (from `bind`) on `loop`.
    init(
        loop: EventLoop, listener: Listener, limits: Limits, backoff: AcceptBackoff,
        authorize: Authorize?, tlsContext: TLSContext?, routes: [String: Route], slicedRoutes: [String: SlicedRoute] = [:]
    ) {
        self.authorize = authorize
        self.tlsContext = tlsContext
        self.listener = listener
        self.loop = loop
        self.routes = routes
        self.slicedRoutes = slicedRoutes
        self.limits = limits
        self.backoff = backoff
        boundPort = listener.boundPort
        let event = loop.makeEvent(
            fd: listener.fd, flags: EventLoop.read | EventLoop.persist, context: self, callback: monitoringAcceptCallback)
        EventLoop.add(event)
        listenEvent = event
        backoff.register(event)
        turnEvent = loop.makeEvent(fd: -1, flags: 0, context: self, callback: monitoringTurnCallback)
    }

    deinit {
        for connection in Array(connections.values) { close(connection) }
        if let turnEvent { EventLoop.free(turnEvent) }
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
                // Clients that trickle their request in must not keep everyone else out. As many
                // go as it takes: the refused ones waiting for their client's close count too, and
                // a burst of idle connections past the limit (each refused, each counted) would
                // otherwise keep every request out until their deadline.
                while connections.count >= limits.maxConnections, let laggard = connectionToMakeRoom() {
                    close(laggard)
                }
                let refused = connections.count >= limits.maxConnections
                // A TLS client could not read a plain answer, and refusals that wait for their
                // reader are bounded too: past that, just closed.
                guard !refused || (tlsContext == nil && connections.count < 2 * limits.maxConnections) else {
                    Glibc.close(fd)
                    continue
                }
                let connection = HTTPConnection(server: self, fd: fd)
                connection.acceptedAt = monotonicMilliseconds()
                connection.sequence = nextSequence
                nextSequence += 1
                // With TLS, the first byte says which: a TLS handshake, or a plain request (as
                // nats-server's monitoring port speaks, and NATS test harnesses poll /varz).
                connection.awaitsFirstByte = tlsContext != nil
                connection.readEvent = loop.makeEvent(
                    fd: fd, flags: EventLoop.read | EventLoop.persist, context: connection, callback: httpConnectionCallback)
                connection.writeEvent = loop.makeEvent(
                    fd: fd, flags: EventLoop.write | EventLoop.persist, context: connection, callback: httpConnectionCallback)
                connections[ObjectIdentifier(connection)] = connection
                EventLoop.add(connection.readEvent!)
                // No whole request by the deadline, no connection: counted from accept, so a
                // byte now and then does not keep it open.
                let deadline = loop.makeEvent(fd: -1, flags: 0, context: connection, callback: httpDeadlineCallback)
                connection.deadlineEvent = deadline
                EventLoop.add(deadline, timeoutMilliseconds: limits.idleMilliseconds)
                if refused {
                    // Its request may be on its way: answered like any request refused early.
                    refuse(connection, Self.response(503, "Service Unavailable", "text/plain", "too many monitoring connections\n", head: false))
                }
            }
        }
    }

    /// How long a connection must have been open without a whole request before it may be closed
    /// to make room: one accepted a moment ago (in the same burst) has not been read yet, and is
    /// not trickling anything.
    static let laggardMilliseconds = 50

    /// What to close for a new connection when every place is taken: an answered connection
    /// waiting for its client to go, else the one that has waited longest without sending a whole
    /// request, if it has been open `laggardMilliseconds`; nil if none.
    private func connectionToMakeRoom() -> HTTPConnection? {
        if let done = connections.values.filter({ $0.isLingering }).min(by: { $0.sequence < $1.sequence }) { return done }
        let now = monotonicMilliseconds()
        return connections.values.filter { !$0.answered && !$0.awaitsTurn && $0.stream == nil && now - $0.acceptedAt >= Self.laggardMilliseconds }
            .min { $0.sequence < $1.sequence }
    }

    fileprivate func deadlinePassed(_ connection: HTTPConnection) {
        if (!connection.answered && connection.stream == nil) || connection.isLingering || connection.lingers { close(connection) }
    }

    private var nextSequence: UInt64 = 0

    fileprivate func event(_ connection: HTTPConnection, _ what: Int32) {
        if what & EventLoop.timeout != 0 { return close(connection) }
        if connection.isLingering { return drainLingering(connection) }
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
        if connection.stream != nil { return drainStreamInput(connection) }
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
                // Up to a whole request (head and body): with less, a body longer than the head
                // limit stays in OpenSSL's buffer, which no socket event announces again.
            } while tls.bufferedBytes > 0 && connection.input.count <= limits.maxHeadBytes + limits.maxBodyBytes
            guard total > 0 else { return }
            count = 0
        } else {
            count = chunk.withUnsafeMutableBytes { Glibc.read(connection.fd, $0.baseAddress, $0.count) }
            if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
            guard count > 0 else { return close(connection) }
        }
        connection.input += chunk[..<count]
        handleInput(connection, hasTurn: false)
    }

    /// The server's loop pass is over: the next one has a fresh allowance of answers.
    func passEnded() { answeredThisPass = 0 }

    /// Answers requests that waited for their turn, as many as this pass allows.
    fileprivate func takeTurns() {
        while let next = waitingForTurn.first, answeredThisPass <= Self.answersPerPass {
            waitingForTurn.removeFirst()
            next.awaitsTurn = false
            guard connections[ObjectIdentifier(next)] != nil else { continue }
            if next.slices != nil { writeSlice(next) } else { handleInput(next, hasTurn: true) }
        }
        if !waitingForTurn.isEmpty, let turnEvent { EventLoop.add(turnEvent, timeoutMilliseconds: 0) }
    }

    /// Acts on what a connection has sent: a refusal, a wait for more, or the answer.
    /// `hasTurn`: it waited for its turn, and has it now.
    private func handleInput(_ connection: HTTPConnection, hasTurn: Bool) {
        guard let headEnd = HTTPHead.endOfHead(connection.input) else {
            if connection.input.count > limits.maxHeadBytes {
                refuse(connection, Self.response(431, "Request Header Fields Too Large", "text/plain", "request head over \(limits.maxHeadBytes) bytes\n", head: false))
            }
            return
        }
        guard headEnd <= limits.maxHeadBytes else {
            return refuse(connection, Self.response(431, "Request Header Fields Too Large", "text/plain", "request head over \(limits.maxHeadBytes) bytes\n", head: false))
        }
        let head = Array(connection.input[..<headEnd])
        guard HTTPHead.hasWellFormedFields(head) else {
            // A blank before the colon or a folded line is read differently by different
            // parsers (RFC 9112 5.1, 5.2): refused rather than guessed at.
            return refuse(connection, Self.response(400, "Bad Request", "text/plain", "malformed header field\n", head: false))
        }
        if let problem = HTTPHead.hostProblem(head) {
            // The dashboard decides on the Host (DNS rebinding, the Origin of a change): a
            // request must not name two, nor hide one, for it to guess between.
            return refuse(connection, Self.response(400, "Bad Request", "text/plain", problem + "\n", head: false))
        }
        var bodyLength = 0
        let lengths = HTTPHead.headers("content-length", in: head)
        if HTTPHead.header("transfer-encoding", in: head) != nil {
            // With a Content-Length too, the two could frame the body differently (RFC 9112 6.1).
            guard lengths.isEmpty else {
                return refuse(connection, Self.response(400, "Bad Request", "text/plain", "Content-Length and Transfer-Encoding together\n", head: false))
            }
            return refuse(connection, Self.response(411, "Length Required", "text/plain", "send a Content-Length\n", head: false))
        }
        if let length = lengths.first {
            // Digits only (RFC 9110 8.6): Swift's Int would also take "+5", which a proxy in front
            // may read otherwise.
            guard !length.isEmpty, length.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = Int(length),
                lengths.allSatisfy({ $0 == length })
            else {
                return refuse(connection, Self.response(400, "Bad Request", "text/plain", "Content-Length is not one number\n", head: false))
            }
            bodyLength = value
        }
        guard bodyLength <= limits.maxBodyBytes else {
            return refuse(connection, Self.response(413, "Content Too Large", "text/plain", "request body over \(limits.maxBodyBytes) bytes\n", head: false))
        }
        guard connection.input.count >= headEnd + bodyLength else {
            if !connection.toldToContinue, HTTPHead.header("expect", in: head)?.lowercased() == "100-continue" {
                // The client waits for this before it sends the body (curl: for a second).
                connection.toldToContinue = true
                sendInterim(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), on: connection)
            }
            return
        }
        guard hasTurn || (waitingForTurn.isEmpty && answeredThisPass <= Self.answersPerPass) else {
            // Read nothing more meanwhile: the request is whole, so the deadline for sending it
            // is met, and the connection is not one to close to make room.
            if let event = connection.readEvent { EventLoop.remove(event) }
            if let event = connection.deadlineEvent { EventLoop.remove(event) }
            connection.awaitsTurn = true
            waitingForTurn.append(connection)
            if waitingForTurn.count == 1, let turnEvent { EventLoop.add(turnEvent, timeoutMilliseconds: 0) }
            return
        }
        respond(to: head, body: Array(connection.input[headEnd..<(headEnd + bodyLength)]), on: connection)
    }

    /// A short interim response (`100 Continue`), written at once: the socket's buffer is empty
    /// at this point, and a client that misses it sends its body after its own wait anyway.
    private func sendInterim(_ bytes: [UInt8], on connection: HTTPConnection) {
        if let tls = connection.tls {
            _ = bytes.withUnsafeBytes { tls.write($0) }
        } else {
            _ = bytes.withUnsafeBytes { Glibc.write(connection.fd, $0.baseAddress, $0.count) }
        }
    }

    /// A stream's client sends nothing more: reading tells only that it went away.
    private func drainStreamInput(_ connection: HTTPConnection) {
        var chunk = [UInt8](repeating: 0, count: 512)
        let count: Int
        if let tls = connection.tls {
            switch chunk.withUnsafeMutableBytes({ tls.read(into: $0) }) {
            case .done(let read): count = read
            case .wantRead, .wantWrite: return
            case .closed, .failed: count = 0
            }
        } else {
            count = chunk.withUnsafeMutableBytes { Glibc.read(connection.fd, $0.baseAddress, $0.count) }
            if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
        }
        if count <= 0 { close(connection) }
    }

    /// Answers one request, once its credentials are settled.
    private func respond(to head: [UInt8], body: [UInt8], on connection: HTTPConnection) {
        connection.answered = true  // reads nothing more, while its credentials are checked too
        if let event = connection.readEvent { EventLoop.remove(event) }
        let key = ObjectIdentifier(connection)
        let serve = { [weak self] (reader: Reader) in
            guard let self, self.connections[key] != nil else { return }  // closed meanwhile
            self.serve(head, body, reader: reader, on: connection)
        }
        guard let authorize else { return serve(.everyone) }
        // The health check answers anyone, whatever credentials come with it.
        if Self.path(of: head) == "/healthz" { return serve(.anonymous) }
        // Credentials sent in clear to a port that has TLS are not looked at.
        guard !connection.isPlainOnTLSPort, let header = HTTPHead.header("authorization", in: head) else {
            return serve(.anonymous)
        }
        let peer = Listener.address(of: connection.fd, peer: true).map { "\($0.0):\($0.1)" } ?? "?"
        connection.withdrawAuthorization = authorize(header, peer) { [weak self] principal in
            connection.withdrawAuthorization = nil
            guard let self, self.connections[key] != nil else { return }
            guard let principal else {
                return self.answer(connection, Self.response(
                    401, "Unauthorized", "text/plain", "the credentials are wrong\n", head: Self.isHead(head),
                    extra: "WWW-Authenticate: Basic realm=\"docketd\"\r\n"))
            }
            serve(.user(principal))
        }
    }

    /// A fixed document when `routes` has the path; otherwise whatever `pages` makes of it.
    private func serve(_ head: [UInt8], _ body: [UInt8], reader: Reader, on connection: HTTPConnection) {
        if let broken = Self.brokenQueryParameter(head) {
            return answer(connection, Self.response(
                400, "Bad Request", "text/plain; charset=utf-8", "the query parameter \(broken) is not percent-encoded UTF-8\n",
                head: Self.isHead(head), extra: "Cache-Control: no-store\r\n"))
        }
        if let path = Self.path(of: head), let route = slicedRoutes[path] { return answerSliced(route, path, head, reader, on: connection) }
        guard let pages, let path = Self.path(of: head), routes[path] == nil, var request = Self.request(head, body) else {
            return answer(connection, response(to: head, reader: reader, on: connection))
        }
        request.isSecure = connection.tls != nil
        request.isPlainOnTLSPort = connection.isPlainOnTLSPort
        let key = ObjectIdentifier(connection)
        let isHead = request.method == "HEAD"
        pages(request, reader) { [weak self] answer in
            guard let self, self.connections[key] != nil else { return }
            switch answer {
            case .notMine:
                self.answer(connection, self.response(to: head, reader: reader, on: connection))
            case .response(let status, let contentType, let text, let extra):
                self.answer(connection, Self.response(
                    status, Self.reason(status), contentType, text, head: isHead, extra: "Cache-Control: no-store\r\n" + extra))
            case .stream(let start):
                if isHead {
                    // A HEAD gets the stream's headers and no stream.
                    return self.answer(connection, Array(Self.streamHead.utf8))
                }
                let streams = self.connections.values.filter { $0.stream != nil }.count
                guard streams < max(1, self.limits.maxConnections / 2) else {
                    return self.answer(connection, Self.response(
                        503, "Service Unavailable", "text/plain", "too many event streams: they may hold half of --http-max-connections\n", head: false))
                }
                self.startStream(on: connection, start)
            }
        }
    }

    /// Sends a stream's headers and keeps the connection open for what `start`'s stream writes.
    private func startStream(on connection: HTTPConnection, _ start: (HTTPStream) -> Void) {
        let stream = HTTPStream(server: self, connection: connection)
        connection.stream = stream
        connection.output = Array(Self.streamHead.utf8)
        connection.written = 0
        // Read only to notice the client going away; no deadline on a stream.
        if let event = connection.deadlineEvent { EventLoop.remove(event) }
        if let event = connection.readEvent { EventLoop.add(event) }
        flush(connection)
        if connections[ObjectIdentifier(connection)] != nil { start(stream) }
    }

    /// Appends to a stream's output and sends what the socket takes; closes a stream whose
    /// reader fell `maxStreamBacklog` behind.
    fileprivate func write(_ bytes: [UInt8], to connection: HTTPConnection) {
        guard connections[ObjectIdentifier(connection)] != nil else { return }
        if connection.written > 0 && connection.written == connection.output.count {
            connection.output.removeAll(keepingCapacity: true)
            connection.written = 0
        }
        guard connection.output.count - connection.written + bytes.count <= limits.maxStreamBacklog else { return close(connection) }
        connection.output += bytes
        if !connection.waitingToWrite { flush(connection) }
    }

    fileprivate func closeStream(_ connection: HTTPConnection) { close(connection) }

    /// The request line and query of a head; nil when it is not an HTTP/1 request.
    static func request(_ head: [UInt8], _ body: [UInt8]) -> Request? {
        guard let (parts, target) = requestLine(head), HTTPHead.isHTTP1(parts[2]) else { return nil }
        let path = String(target.prefix { $0 != "?" })
        var query: [String: String] = [:]
        for parameter in queryParameters(target) {
            guard let name = percentDecoded(parameter.name), query[name] == nil else { continue }
            query[name] = parameter.value.map { percentDecoded($0) ?? "" } ?? ""
        }
        return Request(method: String(decoding: parts[0], as: UTF8.self), path: path, query: query, head: head, body: body)
    }

    /// The first query parameter of a request head whose name or value is not percent-encoded
    /// UTF-8 (`%C0%80`, `%G1`, a lone `%`), as the client sent it; nil when every one is.
    /// Such a parameter is refused rather than read as empty: an empty `queue=` means "every
    /// queue", so a filter lost in decoding would answer more than was asked for.
    static func brokenQueryParameter(_ head: [UInt8]) -> String? {
        guard let (_, target) = requestLine(head) else { return nil }
        let broken = queryParameters(target).first { parameter in
            percentDecoded(parameter.name) == nil || parameter.value.map { percentDecoded($0) == nil } == true
        }
        return broken.map { String($0.whole.prefix(64)) }
    }

    /// A request line's three parts and its target in origin form; nil without three parts.
    private static func requestLine(_ head: [UInt8]) -> (parts: [ArraySlice<UInt8>], target: String)? {
        let line = head.prefix { $0 != 0x0D && $0 != 0x0A }
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: true)
        guard parts.count == 3 else { return nil }
        return (parts, originForm(String(decoding: parts[1], as: UTF8.self)))
    }

    /// The `name=value` pieces of a target's query, split but not decoded (`value` nil without `=`).
    private static func queryParameters(_ target: String) -> [(whole: Substring, name: Substring, value: Substring?)] {
        guard let mark = target.firstIndex(of: "?") else { return [] }
        return target[target.index(after: mark)...].split(separator: "&").map { pair in
            let halves = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (pair, halves[0], halves.count == 2 ? halves[1] : nil)
        }
    }

    /// The path and query of a request target: an absolute-form one (`http://host/varz`, which
    /// servers must accept, RFC 9112 3.2.2) loses its scheme and authority.
    static func originForm(_ target: String) -> String {
        let lowered = target.prefix(8).lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else { return target }
        let afterScheme = target[target.index(target.startIndex, offsetBy: lowered.hasPrefix("http://") ? 7 : 8)...]
        guard let slash = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        let rest = String(afterScheme[slash...])
        return rest.hasPrefix("?") ? "/" + rest : rest
    }

    /// `%XX` escapes and `+` for a blank, as forms and `URLSearchParams` write them; nil for a
    /// broken escape or bytes that are not UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                // Two hex digits exactly: `UInt8(_:radix:)` would also take `%+1` or `%-0`, which
                // a proxy in front passes on as they are.
                let first = utf8.index(after: index)
                guard first < utf8.endIndex, utf8.index(after: first) < utf8.endIndex,
                    let high = hexDigit(utf8[first]), let low = hexDigit(utf8[utf8.index(after: first)])
                else { return nil }
                bytes.append(high << 4 | low)
                index = utf8.index(first, offsetBy: 2)
                continue
            }
            bytes.append(byte == UInt8(ascii: "+") ? 0x20 : byte)
            index = utf8.index(after: index)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The value of an ASCII hex digit; nil for any other byte.
    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 429: return "Too Many Requests"
        case 503: return "Service Unavailable"
        default: return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error"
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
        return String(originForm(String(decoding: parts[1], as: UTF8.self)).prefix { $0 != "?" })
    }

    /// The response to one request head, for `reader`.
    private func response(to head: [UInt8], reader: Reader, on connection: HTTPConnection) -> [UInt8] {
        let requestLine = head.prefix { $0 != 0x0D && $0 != 0x0A }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: true)
        guard parts.count == 3, HTTPHead.isHTTP1(parts[2]) else {
            return Self.response(400, "Bad Request", "text/plain", "not an HTTP/1 request line\n", head: false)
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        guard method == "GET" || method == "HEAD" else {
            return Self.response(405, "Method Not Allowed", "text/plain", "only GET and HEAD\n", head: false, extra: "Allow: GET, HEAD\r\n")
        }
        let target = Self.originForm(String(decoding: parts[1], as: UTF8.self))
        let path = String(target.prefix { $0 != "?" })
        // With credentials required, everything but the health check needs them too: the
        // documents name queues, clients and counts an outsider has no business seeing.
        guard let route = routes[path] else {
            let body = "not found; try " + (Array(routes.keys) + slicedRoutes.keys).sorted().joined(separator: " ") + (pages == nil ? "" : ", or the dashboard at /") + "\n"
            return Self.response(404, "Not Found", "text/plain; charset=utf-8", body, head: method == "HEAD", extra: "Cache-Control: no-store\r\n")
        }
        let answered: String?
        let query = Self.request(head, [])?.query ?? [:]
        do {
            answered = try route.body(reader, query)
        } catch {
            return Self.response(
                400, "Bad Request", "text/plain; charset=utf-8", error.message + "\n", head: method == "HEAD", extra: "Cache-Control: no-store\r\n")
        }
        guard let body = answered else { return refusal(path, reader: reader, on: connection, head: method == "HEAD") }
        if path == "/healthz" && isUnavailable(query) {
            return Self.response(503, "Service Unavailable", route.contentType, body, head: method == "HEAD", extra: "Cache-Control: no-store\r\n")
        }
        return Self.response(200, "OK", route.contentType, body, head: method == "HEAD", extra: "Cache-Control: no-store\r\n")
    }

    /// The answer to a reader who may not read `path`.
    private func refusal(_ path: String, reader: Reader, on connection: HTTPConnection, head: Bool) -> [UInt8] {
        if case .user = reader {
            return Self.response(403, "Forbidden", "text/plain", "this user may not read \(path)\n", head: head)
        }
        if connection.isPlainOnTLSPort {
            return Self.response(403, "Forbidden", "text/plain", "\(path) needs credentials: ask over https://\n", head: head)
        }
        return Self.response(
            401, "Unauthorized", "text/plain", "credentials required\n", head: head, extra: "WWW-Authenticate: Basic realm=\"docketd\"\r\n")
    }

    /// Answers with a sliced document: its head now, in chunked transfer coding (its length is
    /// not known until it is all written), and each slice as a chunk in a later turn. An
    /// HTTP/1.0 client cannot take chunks (RFC 9112 6.1: no Transfer-Encoding to one): it gets
    /// the slices as they are, the body ended by the close that ends every answer here.
    private func answerSliced(_ route: SlicedRoute, _ path: String, _ head: [UInt8], _ reader: Reader, on connection: HTTPConnection) {
        let requestLine = head.prefix { $0 != 0x0D && $0 != 0x0A }.split(separator: 0x20, omittingEmptySubsequences: true)
        // What is not a GET or HEAD gets the answer any route gives it.
        guard requestLine.count == 3, HTTPHead.isHTTP1(requestLine[2]), ["GET", "HEAD"].contains(String(decoding: requestLine[0], as: UTF8.self)) else {
            return answer(connection, response(to: head, reader: reader, on: connection))
        }
        let isHead = Self.isHead(head)
        guard let document = route.start(reader) else { return answer(connection, refusal(path, reader: reader, on: connection, head: isHead)) }
        // Making it read every row's values, and its head is small: 32 scrapes of 10,000
        // queues started in one pass held it 136 ms (release). Counted by the rows read, about
        // one such start fits a pass (12 rows a queue: some 960 KB of `answersPerPass`).
        answeredThisPass += document.rows * Self.bytesPerRowRead
        let chunked = requestLine[2].last != UInt8(ascii: "0")
        if !isHead {
            connection.slices = document
            connection.slicesChunked = chunked
        }
        // A HEAD gets the head its GET would (RFC 9110 9.3.2), with no body, chunked or not.
        let framing = chunked ? "Transfer-Encoding: chunked\r\n" : ""
        answer(connection, Array(Self.head(200, "OK", route.contentType, framing: framing, extra: "Cache-Control: no-store\r\n").utf8))
    }

    /// Writes a sliced answer's next slice as a chunk, or its last chunk once it is all written.
    private func writeSlice(_ connection: HTTPConnection) {
        guard let document = connection.slices else { return }
        var chunk: [UInt8]
        if let slice = document.nextSlice(bytes: Self.sliceBytes) {
            guard connection.slicesChunked else { return writeOut(connection, slice) }
            chunk = Array((String(slice.count, radix: 16) + "\r\n").utf8)
            chunk += slice
            chunk += [0x0D, 0x0A]
        } else {
            connection.slices = nil
            // Unchunked, the close that follows ends the body.
            chunk = connection.slicesChunked ? Array("0\r\n\r\n".utf8) : []
        }
        writeOut(connection, chunk)
    }

    /// Starts writing the next piece of a sliced answer.
    private func writeOut(_ connection: HTTPConnection, _ chunk: [UInt8]) {
        answeredThisPass += chunk.count
        connection.output = chunk
        connection.written = 0
        flush(connection)
    }

    /// Answers a request refused before all of it was read (a head or body too large, framing
    /// refused, no room): its client may still be sending, and closing with its bytes unread
    /// would reset the connection, which many clients (urllib, requests) report instead of the
    /// answer. So once the answer is out, this side is shut and whatever the client still sends
    /// is read and dropped until it closes, or the connection's deadline passes.
    private func refuse(_ connection: HTTPConnection, _ response: [UInt8]) {
        connection.lingers = true
        answer(connection, response)
    }

    /// The answer is out: shut this side, and wait for the client's end (see `refuse`).
    private func startLingering(_ connection: HTTPConnection) {
        connection.lingers = false
        connection.isLingering = true
        if let tls = connection.tls {
            // close_notify; anything after it is dropped unread.
            tls.shutdown()
            connection.tls = nil
        }
        Glibc.shutdown(connection.fd, Int32(SHUT_WR))
        if let event = connection.readEvent { EventLoop.add(event) }
    }

    /// Reads and drops what a refused client still sends; closes at its end.
    private func drainLingering(_ connection: HTTPConnection) {
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        let count = chunk.withUnsafeMutableBytes { Glibc.read(connection.fd, $0.baseAddress, $0.count) }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if count <= 0 { close(connection) }
    }

    private func answer(_ connection: HTTPConnection, _ response: [UInt8]) {
        answeredThisPass += response.count
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
        if connection.waitingToWrite, let event = connection.writeEvent {
            connection.waitingToWrite = false
            EventLoop.remove(event)
        }
        if connection.slices != nil {
            // The next slice in a later turn (`sliceBytes`).
            connection.awaitsTurn = true
            waitingForTurn.append(connection)
            if waitingForTurn.count == 1, let turnEvent { EventLoop.add(turnEvent, timeoutMilliseconds: 0) }
            return
        }
        if connection.stream == nil { connection.lingers ? startLingering(connection) : close(connection) }
    }

    private func close(_ connection: HTTPConnection) {
        guard connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
        if let withdraw = connection.withdrawAuthorization {
            connection.withdrawAuthorization = nil
            withdraw()
        }
        if let stream = connection.stream {
            connection.stream = nil
            stream.closed()
        }
        if let event = connection.readEvent { EventLoop.free(event) }
        if let event = connection.writeEvent { EventLoop.free(event) }
        if let event = connection.deadlineEvent { EventLoop.free(event) }
        connection.readEvent = nil
        connection.writeEvent = nil
        connection.deadlineEvent = nil
        connection.tls?.shutdown()
        Glibc.close(connection.fd)
    }

    /// On every answer: no content sniffing.
    static let hardening = "X-Content-Type-Options: nosniff\r\n"

    /// The head of an event stream's response (the whole answer to a HEAD of one).
    static let streamHead =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nX-Accel-Buffering: no\r\n\(hardening)Connection: close\r\n\r\n"

    static func response(_ status: Int, _ reason: String, _ contentType: String, _ body: String, head: Bool, extra: String = "") -> [UInt8] {
        var text = Self.head(status, reason, contentType, framing: "Content-Length: \(body.utf8.count)\r\n", extra: extra)
        if !head { text += body }
        return Array(text.utf8)
    }

    /// A response's head; `framing` says how its body ends (`Content-Length` or chunked).
    static func head(_ status: Int, _ reason: String, _ contentType: String, framing: String, extra: String) -> String {
        var text = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\n" + framing
        text += extra + hardening
        // The page (HTML) brings its own policy; nothing else is meant to be rendered or framed.
        if !contentType.hasPrefix("text/html") { text += "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n" }
        text += "Connection: close\r\n\r\n"
        return text
    }
}

/// One monitoring connection: a request head coming in, a response going out.
final class HTTPConnection {
    unowned let server: MonitoringServer
    let fd: Int32
    var readEvent: OpaquePointer?
    var writeEvent: OpaquePointer?
    /// Closes it if its request is not whole by then.
    var deadlineEvent: OpaquePointer?
    /// Its place in the order of accepts (the oldest unfinished request makes room first).
    var sequence: UInt64 = 0
    /// When it was accepted (monotonic ms).
    var acceptedAt = 0
    /// Its answer refuses a request perhaps not all read: once sent, it lingers.
    var lingers = false
    /// Answered, this side shut: what the client still sends is dropped until it closes.
    var isLingering = false
    /// Whether `100 Continue` went out.
    var toldToContinue = false
    /// Withdraws its credentials' check (a password hash still queued) when it closes first.
    var withdrawAuthorization: (() -> Void)?
    var input: [UInt8] = []
    var output: [UInt8] = []
    var written = 0
    var answered = false
    /// Its whole request waits for its turn (`MonitoringServer.answersPerPass`).
    var awaitsTurn = false
    var waitingToWrite = false
    var tls: TLSSession?
    /// On a port with TLS: its first byte has not been seen yet.
    var awaitsFirstByte = false
    /// On a port with TLS, it spoke plain HTTP: it gets only what needs no credentials.
    var isPlainOnTLSPort = false
    /// A server-sent event stream: the connection stays open for what it writes.
    var stream: HTTPStream?
    /// A document answered a slice at a time, until its last slice has gone out.
    var slices: SlicedDocument?
    /// Its slices go out as chunks (HTTP/1.1), or as they are (HTTP/1.0: the close ends them).
    var slicesChunked = true

    init(server: MonitoringServer, fd: Int32) {
        self.server = server
        self.fd = fd
    }
}

/// A response the dashboard keeps writing to (server-sent events). Writes after the reader went
/// away are dropped; `onClose` tells the writer to stop.
final class HTTPStream {
    private weak var server: MonitoringServer?
    private weak var connection: HTTPConnection?
    var onClose: (() -> Void)?
    private(set) var isClosed = false

    fileprivate init(server: MonitoringServer, connection: HTTPConnection) {
        self.server = server
        self.connection = connection
    }

    func send(_ bytes: [UInt8]) {
        guard !isClosed, let server, let connection else { return }
        server.write(bytes, to: connection)
    }

    func close() {
        guard !isClosed, let server, let connection else { return }
        server.closeStream(connection)
    }

    fileprivate func closed() {
        guard !isClosed else { return }
        isClosed = true
        onClose?()
        onClose = nil
    }
}

private func monitoringAcceptCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<MonitoringServer>.fromOpaque(context!).takeUnretainedValue().acceptReady()
}

private func monitoringTurnCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<MonitoringServer>.fromOpaque(context!).takeUnretainedValue().takeTurns()
}

private func httpDeadlineCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let connection = Unmanaged<HTTPConnection>.fromOpaque(context!).takeUnretainedValue()
    connection.server.deadlinePassed(connection)
}

private func httpConnectionCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    let connection = Unmanaged<HTTPConnection>.fromOpaque(context!).takeUnretainedValue()
    connection.server.event(connection, Int32(what))
}
