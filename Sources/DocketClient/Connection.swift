#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DocketTLS
import DocketWire

/// One connection to docketd: the event channel (publish, subscribe, request/reply) and the
/// job queue (enqueue, reserve, ack, fail, …), thread-safe and pipelined.
///
/// **Replies.** The connection is opened with `CONNECT {"verbose":false,…}`, so PUB, HPUB,
/// SUB and UNSUB get no reply and every other command (PING and the job verbs) gets exactly
/// one, in order. A FIFO of the commands awaiting a reply therefore matches each reply to its
/// command by order alone; adding a command to the FIFO and writing its bytes happen under one
/// lock, so FIFO order is wire order. Any number of threads may call at once: their commands
/// are pipelined, and each caller blocks until its own reply.
///
/// **Blocking commands.** While a RESERVE or WAIT waits on the server, the server reads no
/// further commands of the connection, so everything sent after it waits too. Give a worker
/// its own connection (``Worker`` does: one per slot).
///
/// **Swift concurrency.** Every call here blocks its thread until the reply; from async code
/// use ``AsyncDocketConnection`` (the same calls, awaited without holding a thread), which can
/// also wrap this connection.
///
/// **Threads.** A reader thread parses everything the server sends (on raw bytes), answers the
/// server's PINGs, completes replies and hands messages to subscriptions; a subscription with
/// a handler has a thread of its own, so a handler may make requests on the same connection.
/// After a lost connection the reader also reconnects.
///
/// **Reconnecting.** When the socket breaks (the server restarted, or the network dropped),
/// every command waiting for its reply fails with `connectionLost`: it may or may not have been
/// carried out (an ENQ with a `key` is safe to repeat; it answers `duplicate`). Jobs the
/// connection held go back to their queue ("worker lost"); an ACK for one afterwards is refused
/// with `NOT_HELD`. The reader then reconnects, waiting `reconnectWait` before the first
/// attempt and doubling the wait up to `reconnectMaxWait` (a connection lost within
/// `reconnectMaxWait` of its handshake goes on from the last wait instead of starting over, so a
/// server that lets clients in and drops them is not hammered), each wait with up to
/// `reconnectJitter` more at random. Once the new connection has answered
/// CONNECT and PING, every live subscription is sent again with its sid (and what is left of
/// its message limit), then the publishes made meanwhile; subscriptions keep delivering.
/// Commands that await a reply and are issued while disconnected are held back until the new
/// connection is up, within their own timeout (then they throw `connectionLost`, unsent).
/// By default it keeps trying for as long as it takes. After `reconnectTimeout` (when one is
/// set) without success, or at once with `reconnect` off, the connection closes for good: waiting and later calls throw `connectionClosed`, subscriptions end.
///
/// **TLS**, as NATS clients do it. A `tls://` address or `Options.tls` asks for TLS: the
/// client reads the server's INFO in clear, and when it says `tls_required` upgrades the same
/// socket (the server's certificate must verify against `TLSOptions.caFile`, or the system's
/// CA store, and be for the host connected to), then sends CONNECT inside TLS. If INFO does not
/// say `tls_required`, the connection fails with `tlsNotOffered` before anything is sent.
/// Without either, a server whose INFO says `tls_required` still gets TLS, verified against the
/// system's CA store (what nats.go and nats.js do; a server with a private CA then fails with
/// `tlsFailed`, which names the option to set). With `TLSOptions.handshakeFirst` (for a server
/// started with `--tls-handshake-first`) the handshake starts as soon as the socket connects
/// and INFO comes inside TLS. Every reconnect does the same again. Handshake and certificate
/// failures throw `tlsFailed`; files that cannot be used throw `tlsConfiguration`.
public final class DocketConnection: @unchecked Sendable {
    /// This client's version, sent in CONNECT.
    public static let version = "0.1.0"

    /// TLS settings (see the class's **TLS** section). Giving them asks for TLS: a server that
    /// does not offer it is refused.
    public struct TLSOptions: Sendable, Equatable {
        /// CA certificates (PEM) the server's certificate must chain to; nil: the system's store.
        public var caFile: String?
        /// This client's certificate chain (PEM), for servers that verify clients (`--tlsverify`).
        public var certificateFile: String?
        /// The key of `certificateFile` (PEM); nil: the certificate file holds the key too.
        public var keyFile: String?
        /// Start TLS at once, before the server's INFO: for a server started with
        /// `--tls-handshake-first` (nats-server's `handshake_first`).
        public var handshakeFirst: Bool
        /// The name the server's certificate must hold, and the SNI sent; nil: the host
        /// connected to (an IP address is then matched against the certificate's IP entries).
        public var serverName: String?

        public init(
            caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, handshakeFirst: Bool = false,
            serverName: String? = nil
        ) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.handshakeFirst = handshakeFirst
            self.serverName = serverName
        }
    }

    /// Connection settings.
    public struct Options: Sendable {
        /// A name for the server's logs.
        public var name: String?
        /// How long connecting and the handshake may take.
        public var connectTimeout: DocketDuration
        /// How long a command the server answers at once may go unanswered before the call
        /// throws `timeout` (nil: forever). RESERVE and WAIT add their own timeout to it, and
        /// wait forever without one. Time spent waiting for a reconnect counts. Writing the
        /// command counts too: a write the server does not read within it drops the connection
        /// (and `close()`'s flush gives up after 2 s), so a server that stops reading cannot
        /// hold a caller for ever. Publishes are not bounded by it.
        public var requestTimeout: DocketDuration?
        /// Deliver this connection's own publishes to its own subscriptions.
        public var echo: Bool
        /// Messages a subscription may hold unread before newer ones are dropped (counted in
        /// `Subscription.dropped`).
        public var pendingMessageLimit: Int
        /// Called (on the reader thread) with every `-ERR` that answers no command, such as
        /// `'Invalid Subject'` or `'Stale Connection'`.
        public var onServerError: (@Sendable (String) -> Void)?
        /// Reconnect after the connection breaks (off: it closes for good at once).
        public var reconnect: Bool
        /// The wait before the first reconnect attempt; it doubles after each failed attempt.
        public var reconnectWait: DocketDuration
        /// The longest wait between reconnect attempts.
        public var reconnectMaxWait: DocketDuration
        /// Up to this much more, at random, on each reconnect wait (100 ms, as NATS clients), so
        /// the clients a restarted server lost all at once do not come back in lockstep.
        public var reconnectJitter: DocketDuration
        /// How long to keep trying to reconnect before closing for good (nil, the default:
        /// for as long as it takes, as the Python and Node clients, so that a restart or an
        /// upgrade of the server, or a long log replay, is outlasted; nats.go gives up after
        /// 60 tries 2 s apart).
        public var reconnectTimeout: DocketDuration?
        /// Bytes of publishes held while disconnected, sent after the reconnect; a publish
        /// beyond it throws `connectionLost`.
        public var reconnectBufferSize: Int
        /// Called (on the reader thread) when the connection is lost and a reconnect begins.
        /// It must return quickly and not wait for a reply on this connection.
        public var onDisconnect: (@Sendable (DocketError) -> Void)?
        /// Called (on the reader thread) once a reconnect has succeeded and the subscriptions
        /// were sent again. It must return quickly and not wait for a reply on this connection.
        public var onReconnect: (@Sendable () -> Void)?
        /// What to prove when the server requires it (INFO `auth_required`). Nil: the address's
        /// `user:pass@` or `token@`, else `DOCKET_USER`/`DOCKET_PASS`, `DOCKET_TOKEN`,
        /// `DOCKET_NKEY_SEED_FILE` or `DOCKET_CREDS`. An NKEY seed or `.creds` file signs the
        /// nonce of every connection's INFO, reconnects included.
        public var credentials: Credentials?
        /// TLS: nil upgrades only when the server's INFO requires it (system CA store);
        /// settings ask for TLS (a `tls://` address does too, with default settings).
        public var tls: TLSOptions?

        public init(
            name: String? = nil, connectTimeout: DocketDuration = 5, requestTimeout: DocketDuration? = 30,
            echo: Bool = true, pendingMessageLimit: Int = 65_536, onServerError: (@Sendable (String) -> Void)? = nil,
            reconnect: Bool = true, reconnectWait: DocketDuration = .milliseconds(50), reconnectMaxWait: DocketDuration = 2,
            reconnectJitter: DocketDuration = .milliseconds(100),
            reconnectTimeout: DocketDuration? = nil, reconnectBufferSize: Int = 8 << 20,
            onDisconnect: (@Sendable (DocketError) -> Void)? = nil, onReconnect: (@Sendable () -> Void)? = nil,
            credentials: Credentials? = nil, tls: TLSOptions? = nil
        ) {
            self.credentials = credentials
            self.tls = tls
            self.name = name
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.echo = echo
            self.pendingMessageLimit = pendingMessageLimit
            self.onServerError = onServerError
            self.reconnect = reconnect
            self.reconnectWait = reconnectWait
            self.reconnectMaxWait = reconnectMaxWait
            self.reconnectJitter = reconnectJitter
            self.reconnectTimeout = reconnectTimeout
            self.reconnectBufferSize = reconnectBufferSize
            self.onDisconnect = onDisconnect
            self.onReconnect = onReconnect
        }
    }

    /// A command waiting for its reply.
    final class Pending: @unchecked Sendable {  // guarded by the state lock
        let kind: CommandKind
        /// The reply (or why none will come), set by the reader under the state lock.
        var result: Result<Reply, DocketError>?
        /// An async caller's wake-up (nil for a blocking caller, who waits on `replyArrived`).
        let wakeup: Wakeup<Reply>?
        /// A blocking caller stopped waiting (its deadline passed): a JOB that still comes is
        /// held by this connection for nobody, so the reader gives it back. (An async caller's
        /// resolved wake-up says the same.)
        var abandoned = false
        init(_ kind: CommandKind, wakeup: Wakeup<Reply>? = nil) {
            self.kind = kind
            self.wakeup = wakeup
        }

        /// Records the reply (the state lock held); returns what wakes an async caller, to run
        /// once the lock is released.
        func complete(_ result: Result<Reply, DocketError>) -> (() -> Void)? {
            self.result = result
            return wakeup?.resolve(result)
        }
    }

    /// Where the connection is.
    enum Phase {
        /// A socket is up and handshaken: commands go out at once.
        case connected
        /// The socket broke; the reader is (about to be) reconnecting.
        case disconnected
        /// Closed for good (by `close()`, or the reconnects gave up).
        case closed
    }

    /// What a send does while disconnected.
    enum WhenDisconnected {
        /// Wait for the reconnect until the deadline (nil: for ever), then throw `connectionLost`.
        case wait(Deadline?)
        /// Hold the bytes (a publish) for the new connection; the waiter of a request learns
        /// which connection carried it.
        case hold(RequestWaiter?)
        /// Drop them (a PONG for a connection that is gone).
        case drop
        /// Send nothing and return nil (an async caller then waits for the reconnect on a
        /// thread of its own).
        case giveUp
    }

    public let host: String
    public let port: Int
    public let options: Options

    /// Serializes writes, and with them the order of the FIFO. Taken before `state`; the
    /// current link is replaced or closed only with both held.
    private let writeLock = PosixLock()
    /// The TLS context of `options.tls` (nil without them), made once: every reconnect uses it.
    private let tlsContext: TLSContext?
    /// Guards everything below.
    private let state = PosixLock()
    /// Broadcast when a reply arrives and when the phase changes.
    private let replyArrived = PosixCondition()
    private var phase = Phase.connected
    /// The current connection's socket, plain or TLS (nil: none).
    private var link: Link?
    /// Counts connections: 1 for the first, one more per reconnect.
    private var generation: UInt64 = 1
    /// A link being handshaken by a reconnect attempt (nil: none), so `close` can break it off.
    private var attemptLink: Link?
    private var fifo: [Pending] = []
    private var fifoHead = 0
    private var subscriptions: [String: Subscription] = [:]
    private var nextSid: UInt64 = 1
    private var closeReason: DocketError?
    private var lastServerError: String?
    private var serverInfo: JSONValue
    private var reader: PosixThread?
    /// Publishes made while disconnected.
    private var outbox: [(bytes: [UInt8], waiter: RequestWaiter?)] = []
    private var outboxBytes = 0
    private var reconnectCount = 0
    /// When the current connection's handshake ended (monotonic ms), and the wait a reconnect
    /// after it starts from if it turns out brief. The reader thread's alone once it runs.
    private var handshakeEndedAt = Clock.milliseconds()
    private var carriedReconnectWait = 0
    // Request/reply.
    private var inboxPrefix: String?
    private var nextRequest: UInt64 = 1
    private var requests: [String: RequestWaiter] = [:]

    /// The server's INFO document (of the current connection).
    public var info: JSONValue { state.withLock { serverInfo } }

    /// The largest payload the server takes (INFO `max_payload`; 1 MiB, nats-server's default,
    /// when INFO has none, or one that is no positive integer, which would refuse every payload).
    public var maxPayload: Int {
        state.withLock {
            guard let value = serverInfo["max_payload"]?.intValue, value > 0 else { return 1 << 20 }
            return value
        }
    }

    /// Whether a connection is up now (false while reconnecting, and once closed).
    public var isConnected: Bool { state.withLock { phase == .connected } }

    /// Whether the connection is closed for good (by `close()`, or the reconnects gave up).
    public var isClosed: Bool { state.withLock { phase == .closed } }

    /// How many times the connection was re-established.
    public var reconnects: Int { state.withLock { reconnectCount } }

    /// The TLS version of the current connection (`TLSv1.3`); nil over plain TCP, and while
    /// disconnected.
    public var tlsVersion: String? { state.withLock { link }?.tlsVersion }

    /// Connects to `address` (`host:port`, or `host` for port 4222) and completes the
    /// handshake: INFO, [TLS,] CONNECT, then a PING answered PONG.
    /// The address may carry credentials, `user:pass@host:port` or `token@host:port` (with or
    /// without `nats://`); `options.credentials` wins over them, and they over the environment.
    /// `tls://host:port` asks for TLS (with `options.tls`, or default settings without).
    public convenience init(_ address: String = "127.0.0.1:4222", options: Options = Options()) throws(DocketError) {
        let (host, port, credentials, tls) = try Self.parseURL(address)
        var options = options
        if options.credentials == nil {
            if let credentials {
                options.credentials = credentials
            } else {
                options.credentials = try Credentials.fromEnvironment()
            }
        }
        if tls, options.tls == nil { options.tls = TLSOptions() }
        try self.init(host: host, port: port, options: options)
    }

    /// Splits `[nats://|tls://][user:pass@|token@]host[:port]`; `tls` is whether the scheme
    /// is `tls://`.
    public static func parseURL(_ address: String) throws(DocketError)
        -> (host: String, port: Int, credentials: Credentials?, tls: Bool)
    {
        var text = address
        let tls = text.lowercased().hasPrefix("tls://")
        for scheme in Self.schemes where text.lowercased().hasPrefix(scheme) { text.removeFirst(scheme.count) }
        var credentials: Credentials? = nil
        if let at = text.lastIndex(of: "@") {
            let userinfo = String(text[..<at])
            text = String(text[text.index(after: at)...])
            if let colon = userinfo.firstIndex(of: ":") {
                credentials = .user(
                    String(userinfo[..<colon]).removingPercentEncoding, password: String(userinfo[userinfo.index(after: colon)...]).removingPercentEncoding)
            } else if !userinfo.isEmpty {
                credentials = .token(userinfo.removingPercentEncoding)
            }
        }
        let (host, port) = try parseAddress(text)
        return (host, port, credentials, tls)
    }

    /// The schemes an address may start with.
    static let schemes = ["nats://", "docket://", "tcp://", "tls://"]

    /// Connects to `host:port` and completes the handshake. Failing to connect the first time
    /// throws `connectFailed` at once (reconnecting starts only once connected).
    /// TLS settings that cannot be used throw `tlsConfiguration`, before connecting; options
    /// that cannot work (a duration that is none, a limit below its range) throw `badArgument`.
    public init(host: String, port: Int, options: Options = Options()) throws(DocketError) {
        try options.check()
        self.host = host
        self.port = port
        self.options = options
        if let settings = options.tls {
            tlsContext = try Self.makeTLSContext(settings)
        } else {
            tlsContext = nil
        }
        let connectMilliseconds = options.connectTimeout.milliseconds ?? 5000
        let deadline = Deadline.after(milliseconds: connectMilliseconds)
        let link = try Self.connectLink(host: host, port: port, timeoutMilliseconds: connectMilliseconds)
        let (info, input): (JSONValue, ByteBuffer)
        do throws(DocketError) {
            (info, input) = try Self.handshake(link, host: host, port: port, options: options, tlsContext: tlsContext, deadline: deadline)
        } catch {
            link.close()
            throw error
        }
        serverInfo = info
        self.link = link
        let handoff = Handoff((link, input))
        reader = PosixThread.start { [self] in run(handoff.value.0, handoff.value.1) }
    }

    deinit {
        // The reader holds a reference until it ends, and closes every socket it used before
        // it does, so this only runs once the connection is closed.
        link?.close()
    }

    /// Splits `host:port` (the port defaults to 4222).
    public static func parseAddress(_ address: String) throws(DocketError) -> (String, Int) {
        var text = address
        for scheme in Self.schemes where text.lowercased().hasPrefix(scheme) { text.removeFirst(scheme.count) }
        guard let colon = text.lastIndex(of: ":") else { return (text.isEmpty ? "127.0.0.1" : text, 4222) }
        let host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw .badArgument("\"\(address)\" is not host:port")
        }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    // MARK: Connecting

    /// The TLS context for `settings`; files that cannot be used throw `tlsConfiguration`.
    static func makeTLSContext(_ settings: TLSOptions) throws(DocketError) -> TLSContext {
        if settings.keyFile != nil, settings.certificateFile == nil {
            throw .tlsConfiguration("a key file (\(settings.keyFile!)) without its certificate file")
        }
        do {
            return try TLSContext.client(caFile: settings.caFile, certificate: settings.certificateFile, key: settings.keyFile)
        } catch {
            throw .tlsConfiguration(error.description)
        }
    }

    /// For a server that requires TLS of a client given no TLS settings: the system's CA
    /// store, no client certificate. Made once, shared.
    private static let systemTLSContext: Result<TLSContext, DocketError> = {
        do {
            return .success(try TLSContext.client(caFile: nil, certificate: nil, key: nil))
        } catch {
            return .failure(.tlsConfiguration("the system's CA store: \(error)"))
        }
    }()

    /// Connects a socket to `host:port`; its link is not secured yet.
    static func connectLink(host: String, port: Int, timeoutMilliseconds: Int) throws(DocketError) -> Link {
        Link(try Socket.connect(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds))
    }

    /// The handshake on a freshly connected link: INFO (or an `-ERR` when the server is full),
    /// the TLS upgrade when INFO requires it or the options ask for it (TLS comes before INFO
    /// with `handshakeFirst`), then CONNECT and a PING answered PONG. Returns the INFO and
    /// whatever was read after the PONG. The caller closes the link if it throws.
    static func handshake(
        _ link: Link, host: String, port: Int, options: Options, tlsContext: TLSContext?, deadline: Deadline
    ) throws(DocketError) -> (JSONValue, ByteBuffer) {
        var info: JSONValue? = nil
        func secure(_ context: TLSContext) throws(DocketError) {
            if let why = link.startTLS(context, serverName: options.tls?.serverName ?? host, deadline: deadline) {
                throw tlsFailure(why, "the TLS handshake with \(host):\(port) failed", host: host, options: options, info: info)
            }
        }
        if let context = tlsContext, options.tls?.handshakeFirst == true { try secure(context) }
        let input = ByteBuffer(capacity: 64 * 1024)
        func nextOp(_ what: String) throws(DocketError) -> ServerOp {
            while true {
                // Reads wait only until the deadline, but a server that keeps sending (PINGs,
                // which are answered) must not stretch the handshake past it either.
                if deadline.hasPassed { throw .connectFailed("no \(what) from \(host):\(port) in time") }
                switch ServerParser.parse(input.readableBytes, from: 0) {
                case .op(let op, let next):
                    input.consume(next)
                    return op
                case .failure(let why):
                    throw .connectFailed("the server's \(what) breaks the protocol: \(why)")
                case .incomplete:
                    let result = link.read(into: input, deadline: deadline)
                    if case .data = result { continue }
                    // A server that wanted a client certificate (TLS 1.3 says so only after the
                    // handshake) ends the session with an alert, or just closes.
                    if link.isSecure, info == nil || info?["tls_verify"]?.boolValue == true {
                        var why = "the connection was closed"
                        if case .failed(let reason) = result { why = reason }
                        if case .timeout = result { why = "timed out" }
                        throw tlsFailure(
                            why, "\(host):\(port) ended the TLS session before \(what)", host: host, options: options, info: info,
                            suspectClientCertificate: true)
                    }
                    // A plain client waiting for INFO from a server that waits for TLS first.
                    let hint =
                        what == "INFO" && !link.isSecure
                        ? " (a server started with --tls-handshake-first sends nothing until the client starts TLS: TLSOptions.handshakeFirst)"
                        : ""
                    switch result {
                    case .data: continue
                    case .closed: throw .connectFailed("\(host):\(port) closed the connection before \(what)\(hint)")
                    case .timeout: throw .connectFailed("no \(what) from \(host):\(port) in time\(hint)")
                    case .failed(let why):
                        if link.isSecure {
                            throw tlsFailure(why, "\(host):\(port) ended the TLS session before \(what)", host: host, options: options, info: info)
                        }
                        throw .connectFailed("reading from \(host):\(port) failed: \(why)")
                    }
                }
            }
        }
        func send(_ bytes: [UInt8]) throws(DocketError) {
            guard var why = link.send(bytes, deadline: deadline) else { return }
            guard link.isSecure else { throw .connectFailed("handshake with \(host):\(port) failed: \(why)") }
            // A server that refused the client's certificate (TLS 1.3 tells after the
            // handshake) sent an alert before it closed: its reason beats "connection reset".
            if case .failed(let alert) = link.read(into: input, deadline: Deadline.after(milliseconds: 100)), alert.contains("alert") {
                why = alert
            }
            throw tlsFailure(
                why, "\(host):\(port) ended the TLS session", host: host, options: options, info: info,
                suspectClientCertificate: info?["tls_verify"]?.boolValue == true)
        }
        switch try nextOp("INFO") {
        case .info(let json):
            info = json
        case .err(let text):
            throw .connectFailed("\(host):\(port) refused the connection: \(text)")
        default:
            throw .connectFailed("\(host):\(port) did not start with INFO; is it a Docket or NATS server?")
        }
        if !link.isSecure {
            if info?["tls_required"]?.boolValue == true {
                // The server sends nothing more until the client's handshake begins.
                guard input.isEmpty else { throw .connectFailed("\(host):\(port) sent more than INFO before the TLS handshake") }
                switch tlsContext.map(Result.success) ?? Self.systemTLSContext {
                case .success(let context): try secure(context)
                case .failure(let error): throw error
                }
            } else if options.tls != nil {
                throw .tlsNotOffered(
                    "\(host):\(port) does not offer TLS (its INFO has no tls_required); nothing was sent, credentials included")
            }
        }
        let nonce = info?["nonce"]?.stringValue
        if let signer = options.credentials?.nonceSigner, nonce == nil {
            throw .notAuthorized(
                "\(host):\(port) sent no nonce in its INFO, so it takes no NKEY or JWT logins (it has no NKEY users and is "
                    + "not in operator mode); nothing was signed or sent for \(signer.publicKey)")
        }
        let hello = try Wire.connect(name: options.name, echo: options.echo, noResponders: true, credentials: options.credentials, nonce: nonce)
            + Wire.ping()
        try send(hello)
        while true {
            switch try nextOp("PONG") {
            case .pong:
                try checkNoReplyCameWithPong(input, host: host, port: port)
                return (info!, input)
            case .ping:
                try send(Wire.pong())
            case .info(let json):
                info = json
            case .err(let text):
                if text == "Authorization Violation" || text == "Authentication Timeout" {
                    throw .notAuthorized("\(host):\(port) refused the credentials: \(text)")
                }
                if text.hasPrefix("Secure Connection") {
                    throw .tlsFailed("\(host):\(port) requires TLS: \(text)")
                }
                throw .connectFailed("handshake with \(host):\(port) failed: the server refused CONNECT: \(text)")
            default:
                throw .connectFailed("handshake with \(host):\(port) failed: an unexpected reply before PONG")
            }
        }
    }

    /// What came with the handshake's PONG is read by the reader once the caller may already
    /// have sent a command: a reply there (to no command: none was sent yet) would pass for
    /// that command's. So the complete ops among those bytes are checked now, and left in place.
    static func checkNoReplyCameWithPong(_ input: ByteBuffer, host: String, port: Int) throws(DocketError) {
        let bytes = input.readableBytes
        var offset = 0
        while case .op(let op, let next) = ServerParser.parse(bytes, from: offset) {
            if case .failure(let error) = Replies.route(op, waiting: nil) {
                throw .connectFailed("handshake with \(host):\(port) failed: \(error)")
            }
            offset = next
        }
    }

    /// A TLS failure in words: where, OpenSSL's reason, and what to change when the reason
    /// says. `suspectClientCertificate`: the server ended the session without saying why, at a
    /// point where a missing or refused client certificate is the likely cause.
    static func tlsFailure(
        _ why: String, _ context: String, host: String, options: Options, info: JSONValue?, suspectClientCertificate: Bool = false
    ) -> DocketError {
        let text = why.lowercased()
        let settings = options.tls
        let certificate = settings?.certificateFile
        var hint: String? = nil
        if text.contains("certificate verify failed") {
            if text.contains("hostname mismatch") || text.contains("ip address mismatch") {
                hint = "the server's certificate is not for \(settings?.serverName ?? host): connect by a name or address it holds, "
                    + "or name the one it holds (TLSOptions.serverName)"
            } else if let ca = settings?.caFile {
                hint = "the server's certificate does not verify against the CA file \(ca)"
            } else {
                hint = (settings == nil ? "the server requires TLS, and its" : "the server's")
                    + " certificate does not verify against the system's CA store: give the CA it chains to "
                    + "(TLSOptions.caFile, docket --tls-ca)"
            }
        } else if text.contains("wrong version number") || text.contains("packet length too long") || text.contains("unknown protocol")
            || text.contains("record layer failure")
        {
            hint =
                settings?.handshakeFirst == true
                ? "the server did not answer in TLS: handshake first needs a server started with --tls-handshake-first"
                : "the server did not answer in TLS"
        } else if text.contains("certificate required") || text.contains("unknown ca") || text.contains("bad certificate")
            || text.contains("certificate unknown") || text.contains("unsupported certificate") || text.contains("certificate expired")
            || text.contains("certificate revoked") || text.contains("access denied") || text.contains("handshake failure")
            || suspectClientCertificate
        {
            if let certificate {
                hint = "the server may have refused the client certificate \(certificate): it must be signed by a CA the server trusts (its --tlscacert)"
            } else {
                let known = info?["tls_verify"]?.boolValue == true || text.contains("certificate required")
                hint = "the server \(known ? "requires" : "may require") a client certificate: give one "
                    + "(TLSOptions.certificateFile and keyFile, docket --tls-cert and --tls-key)"
            }
        }
        return .tlsFailed("\(context): \(why)" + (hint.map { "; \($0)" } ?? ""))
    }

    // MARK: Closing

    /// Closes the connection. With `flush` (the default), first waits (briefly) until the
    /// server has handled everything sent, so nothing published is lost. Jobs still held go
    /// back to their queues as "worker lost"; blocked calls throw `connectionClosed`; a
    /// reconnect under way stops.
    public func close(flush: Bool = true) {
        if flush, isConnected { try? self.flush(timeout: 2) }
        // TLS: say goodbye (close_notify), unless a write is in progress (it may be stuck).
        if writeLock.tryLock() {
            state.withLock { phase == .connected ? link : nil }?.sayGoodbye()
            writeLock.unlock()
        }
        state.withLock {
            if phase != .closed {
                phase = .closed
                closeReason = .connectionClosed("closed by the client")
            }
            // The reader closes these, under this lock: until then their descriptors are ours.
            link?.shutdown()
            attemptLink?.shutdown()
            replyArrived.broadcast()
        }
        // The reader ends everything that waits, and closes its socket, before it ends.
        if let reader, !reader.isCurrent { reader.join() }
    }

    /// Waits until the server has handled everything sent before (a PING answered PONG).
    public func flush(timeout: DocketDuration? = 10) throws(DocketError) {
        let deadline = Deadline.within(try timeout?.callTimeoutMilliseconds())
        let pending = try sendBytes(Wire.ping(), expecting: .ping, whenDisconnected: .wait(deadline))!
        _ = try wait(pending, deadline: deadline)
    }

    // MARK: Event channel

    /// Publishes `payload` on `subject` (optionally with a reply subject and headers). While
    /// disconnected, the message is held (up to `reconnectBufferSize`) and sent after the
    /// reconnect (dropped if the connection closes for good instead).
    public func publish(_ subject: String, _ payload: [UInt8], reply: String? = nil, headers: [Header]? = nil)
        throws(DocketError)
    {
        try publish(subject, payload, reply: reply, headers: headers, waiter: nil)
    }

    public func publish(_ subject: String, _ text: String, reply: String? = nil, headers: [Header]? = nil) throws(DocketError) {
        try publish(subject, Array(text.utf8), reply: reply, headers: headers)
    }

    private func publish(_ subject: String, _ payload: [UInt8], reply: String?, headers: [Header]?, waiter: RequestWaiter?)
        throws(DocketError)
    {
        let bytes = try Wire.publish(subject: subject, payload: payload, reply: reply, headers: headers)
        try checkPayload(payload.count + (headers?.isEmpty == false ? bytes.count : 0))
        _ = try sendBytes(bytes, expecting: nil, whenDisconnected: .hold(waiter))
    }

    /// Subscribes to `subject` (wildcards allowed). Read messages from the returned
    /// subscription with `next(timeout:)` or by iterating it. A subscription outlives
    /// reconnects: it is sent again on each new connection.
    public func subscribe(_ subject: String, queue: String? = nil) throws(DocketError) -> Subscription {
        try subscribe(subject, queue: queue, mode: .queued)
    }

    /// Subscribes to `subject` and calls `handler` for each message, in order, on a thread of
    /// the subscription's own (so the handler may use this connection).
    @discardableResult
    public func subscribe(_ subject: String, queue: String? = nil, handler: @escaping @Sendable (Message) -> Void)
        throws(DocketError) -> Subscription
    {
        try subscribe(subject, queue: queue, mode: .handler(handler))
    }

    /// Follows a queue's lifecycle events (`$JOB.<queue>.>`); `"*"` follows every queue.
    public func subscribeEvents(queue: String) throws(DocketError) -> Subscription {
        if queue != "*" { try Wire.checkQueue(queue) }
        return try subscribe("$JOB.\(queue).>")
    }

    /// A queue's lifecycle events as typed `JobEvent`s (`"*"`: every queue the connection may
    /// read), all of them or only `event` (`completed`, `dead`, …). Events are published only
    /// after the change is on disk; the server sends none from before the subscription, so
    /// `flush()` after it before starting what you want to follow.
    public func events(queue: String = "*", event: String = "*") throws(DocketError) -> JobEvents {
        if queue != "*" { try Wire.checkQueue(queue) }
        guard event == "*" || (Wire.isToken(event) && event.utf8.allSatisfy({ (0x61...0x7A).contains($0) })) else {
            throw .badArgument("an event name is a lower-case word such as completed, or *")
        }
        return JobEvents(try subscribe("$JOB.\(queue).\(event == "*" ? ">" : event)"))
    }

    func subscribe(_ subject: String, queue: String?, mode: Subscription.Mode) throws(DocketError) -> Subscription {
        let sid = state.withLock { () -> String in
            defer { nextSid += 1 }
            return String(nextSid)
        }
        let bytes = try Wire.subscribe(subject: subject, sid: sid, queue: queue)
        let subscription = Subscription(
            connection: self, sid: sid, subject: subject, queue: queue, mode: mode, limit: options.pendingMessageLimit)
        // Registering and sending happen under the write lock, so a reconnect sends the SUB
        // either with the other subscriptions or not at all.
        writeLock.lock()
        defer { writeLock.unlock() }
        let target: (link: Link, generation: UInt64)?
        do {
            target = try state.withLock { () throws(DocketError) -> (Link, UInt64)? in
                if phase == .closed { throw closeReason! }
                subscriptions[sid] = subscription
                return phase == .connected ? (link!, generation) : nil
            }
        } catch {
            subscription.finish()
            throw error
        }
        if let target, target.link.send(bytes) != nil {
            socketFailed(target.link, generation: target.generation)
            if !options.reconnect {
                _ = state.withLock { subscriptions.removeValue(forKey: sid) }
                subscription.finish()
                throw .connectionLost("writing to \(host):\(port) failed")
            }
            // Otherwise it is sent again with the others after the reconnect.
        }
        return subscription
    }

    func unsubscribe(_ subscription: Subscription, after max: Int?) throws(DocketError) {
        let bytes = try Wire.unsubscribe(sid: subscription.sid, max: max)
        writeLock.lock()
        defer { writeLock.unlock() }
        var ended = max == nil
        if let max, subscription.limitDelivered(to: max) { ended = true }  // Already delivered that many.
        let target = state.withLock { () -> (link: Link, generation: UInt64)? in
            if ended { subscriptions.removeValue(forKey: subscription.sid) }
            // While disconnected nothing need be sent: the reconnect sends only live
            // subscriptions, each with what is left of its limit.
            return phase == .connected ? (link!, generation) : nil
        }
        if ended { subscription.finish() }
        if let target, target.link.send(bytes) != nil { socketFailed(target.link, generation: target.generation) }
    }

    /// Sends a request and waits for the first reply (request/reply over a private inbox).
    /// Throws `noResponders` when no subscriber got the request, `timeout` when no reply came,
    /// `connectionLost` when the connection that carried it broke first. A request made while
    /// disconnected goes out after the reconnect (within its timeout).
    public func request(_ subject: String, _ payload: [UInt8], headers: [Header]? = nil, timeout: DocketDuration = 5)
        throws(DocketError) -> Message
    {
        try request(subject, payload, headers: headers, timeout: timeout, accept: nil)
    }

    /// Publishes a message that routes turn into jobs, and returns the ids of those jobs once
    /// they are on disk: the server publishes `{"jobs":[...]}` to the message's reply subject
    /// after the commit (answers that subscribers send there are skipped). Subscribers still
    /// get the message. `[]` when neither a route nor a subscriber took it; `.server` with
    /// `STORE_FULL` when the store refused the routed jobs (none was made); `timeout` when no
    /// route matched but a subscriber did not answer either.
    public func publishRouted(_ subject: String, _ payload: [UInt8], headers: [Header]? = nil, timeout: DocketDuration = 5)
        throws(DocketError) -> [UInt64]
    {
        do {
            return try Commands.routedJobs(request(subject, payload, headers: headers, timeout: timeout, accept: Commands.isRoutedJobs))
        } catch .noResponders {
            return []
        }
    }

    public func publishRouted(_ subject: String, _ text: String, headers: [Header]? = nil, timeout: DocketDuration = 5)
        throws(DocketError) -> [UInt64]
    {
        try publishRouted(subject, Array(text.utf8), headers: headers, timeout: timeout)
    }

    /// Registers a request's waiter under a fresh token and publishes the request; returns the
    /// token (the caller removes it when done).
    func sendRequest(_ subject: String, _ payload: [UInt8], headers: [Header]?, waiter: RequestWaiter) throws(DocketError) -> String {
        let prefix = try ensureInbox()
        let token = state.withLock { () -> String in
            defer { nextRequest += 1 }
            let token = String(nextRequest)
            requests[token] = waiter
            return token
        }
        do {
            try publish(subject, payload, reply: prefix + token, headers: headers, waiter: waiter)
        } catch {
            forgetRequest(token)
            throw error
        }
        return token
    }

    func forgetRequest(_ token: String) { _ = state.withLock { requests.removeValue(forKey: token) } }

    func request(_ subject: String, _ payload: [UInt8], headers: [Header]?, timeout: DocketDuration, accept: (@Sendable (Message) -> Bool)?)
        throws(DocketError) -> Message
    {
        let deadline = Deadline.after(milliseconds: try timeout.callTimeoutMilliseconds())
        let waiter = RequestWaiter(accept: accept)
        let token = try sendRequest(subject, payload, headers: headers, waiter: waiter)
        defer { forgetRequest(token) }
        let message = try state.withLock { () throws(DocketError) -> Message in
            while waiter.message == nil {
                if let error = waiter.error { throw error }
                if phase == .closed { throw closeReason! }
                if !replyArrived.wait(state, until: deadline), waiter.message == nil {
                    if let error = waiter.error { throw error }
                    throw .timeout
                }
            }
            return waiter.message!
        }
        if message.status == 503, message.payload.isEmpty { throw .noResponders }
        return message
    }

    /// `request`, awaited: no thread waits for the answer.
    func requestAsync(_ subject: String, _ payload: [UInt8], headers: [Header]?, timeout: DocketDuration, accept: (@Sendable (Message) -> Bool)?)
        async throws(DocketError) -> Message
    {
        if Task.isCancelled { throw .cancelled }
        let deadline = Deadline.after(milliseconds: try timeout.callTimeoutMilliseconds())
        let wakeup = Wakeup<Message>()
        let waiter = RequestWaiter(accept: accept, wakeup: wakeup)
        let token = try sendRequest(subject, payload, headers: headers, waiter: waiter)
        defer { forgetRequest(token) }
        // Closed meanwhile: nothing will answer it.
        if let closed = state.withLock({ phase == .closed ? wakeup.resolve(.failure(closeReason!)) : nil }) { closed() }
        let message = try await wakeup.wait(lock: state, deadline: deadline) { [self] in
            state.withLock { wakeup.resolve(.failure(.cancelled)) }?()
        }.get()
        if message.status == 503, message.payload.isEmpty { throw .noResponders }
        return message
    }

    public func request(_ subject: String, _ text: String, headers: [Header]? = nil, timeout: DocketDuration = 5)
        throws(DocketError) -> Message
    {
        try request(subject, Array(text.utf8), headers: headers, timeout: timeout)
    }

    final class RequestWaiter: @unchecked Sendable {  // guarded by the state lock
        var message: Message?
        /// Why it failed (its connection broke).
        var error: DocketError?
        /// The connection that carried the request (nil: not sent yet).
        var sentOn: UInt64?
        /// Answers it takes (nil: the first one); others are skipped.
        let accept: (@Sendable (Message) -> Bool)?
        /// An async caller's wake-up (nil for a blocking caller).
        let wakeup: Wakeup<Message>?

        init(accept: (@Sendable (Message) -> Bool)? = nil, wakeup: Wakeup<Message>? = nil) {
            self.accept = accept
            self.wakeup = wakeup
        }
    }

    private func ensureInbox() throws(DocketError) -> String {
        if let prefix = state.withLock({ inboxPrefix }) { return prefix }
        let prefix = "_INBOX.\(randomToken())."
        let subscription = try subscribe(prefix + "*", queue: nil, mode: .inline({ [weak self] message in
            guard let self else { return }
            let token = String(message.subject.dropFirst(prefix.count))
            let wake = self.state.withLock { () -> (() -> Void)? in
                guard let waiter = self.requests[token], waiter.message == nil, waiter.accept?(message) ?? true else { return nil }
                waiter.message = message
                self.replyArrived.broadcast()
                return waiter.wakeup?.resolve(.success(message))
            }
            wake?()
        }))
        let winner = state.withLock { () -> String in
            if let existing = inboxPrefix { return existing }
            inboxPrefix = prefix
            return prefix
        }
        if winner != prefix { try? subscription.unsubscribe() }
        return winner
    }

    // MARK: Jobs

    /// Enqueues a job. Returns its id, and whether the idempotency key named an existing job.
    @discardableResult
    public func enqueue(_ queue: String, _ payload: [UInt8], options: JobOptions = JobOptions()) throws(DocketError) -> Enqueued {
        try perform(Commands.enqueue(queue, payload, options, limit: maxPayload))
    }

    @discardableResult
    public func enqueue(_ queue: String, _ text: String, options: JobOptions = JobOptions()) throws(DocketError) -> Enqueued {
        try enqueue(queue, Array(text.utf8), options: options)
    }

    /// Enqueues many jobs pipelined (all sent, then all replies read): much faster than one
    /// `enqueue` at a time. The results are in the order of `payloads`; the first error is thrown.
    public func enqueueMany(_ queue: String, _ payloads: [[UInt8]], options: JobOptions = JobOptions()) throws(DocketError)
        -> [Enqueued]
    {
        let limit = maxPayload
        var commands: [Command<Enqueued>] = []
        commands.reserveCapacity(payloads.count)
        for payload in payloads { commands.append(try Commands.enqueue(queue, payload, options, limit: limit)) }
        let deadline = Deadline.within(options0RequestTimeout())
        var pendings: [Pending] = []
        pendings.reserveCapacity(commands.count)
        for command in commands {
            pendings.append(try sendBytes(command.bytes, expecting: .enqueue, whenDisconnected: .wait(deadline))!)
        }
        var results: [Enqueued] = []
        for (pending, command) in zip(pendings, commands) { results.append(try command.read(try wait(pending, deadline: deadline))) }
        return results
    }

    /// Enqueues `jobs` together (BATCH): all of them in one commit, or none. Returns their ids
    /// in order (a job whose `key` names a known job gives that job's id). A job may wait for an
    /// earlier one of the batch, `after: [.batchItem(1)]`, so a whole flow goes in at once: the
    /// children, then the job that gathers their results. Every job is checked before anything
    /// is sent (`badArgument` names the first bad one); a job the server refuses (a parent not
    /// found, `STORE_FULL`, `LIMIT`) refuses the whole batch with `.server` (`job 2: …`).
    public func batch(_ jobs: [JobRequest]) throws(DocketError) -> [UInt64] {
        try perform(Commands.batch(jobs, limit: maxPayload))
    }

    /// Takes the next job from the first of `queues` that has one. Without a timeout, waits
    /// until there is one; with `timeout: 0` does not wait. Nil when the timeout passes.
    public func reserve(_ queues: [String], timeout: DocketDuration? = nil) throws(DocketError) -> Job? {
        try perform(Commands.reserve(queues, timeout: timeout))
    }

    public func reserve(_ queue: String, timeout: DocketDuration? = nil) throws(DocketError) -> Job? {
        try reserve([queue], timeout: timeout)
    }

    /// Completes a job this connection holds, with an optional result. With `attempt` (the
    /// `Job`'s), an ACK for an attempt that is no longer current is refused (`NOT_HELD`).
    public func ack(_ id: UInt64, attempt: Int? = nil, result: [UInt8]? = nil) throws(DocketError) {
        try perform(Commands.ack(id, attempt: attempt, result: result, limit: maxPayload))
    }

    public func ack(_ id: UInt64, attempt: Int? = nil, result: String) throws(DocketError) {
        try ack(id, attempt: attempt, result: Array(result.utf8))
    }

    /// Ends this attempt of a job this connection holds. Returns what happens next.
    @discardableResult
    public func fail(_ id: UInt64, attempt: Int? = nil, reason: [UInt8]? = nil, retry: RetryPolicy = .backoff)
        throws(DocketError) -> FailOutcome
    {
        try perform(Commands.fail(id, attempt: attempt, reason: reason, retry: retry, limit: maxPayload))
    }

    @discardableResult
    public func fail(_ id: UInt64, attempt: Int? = nil, reason: String, retry: RetryPolicy = .backoff) throws(DocketError) -> FailOutcome {
        try fail(id, attempt: attempt, reason: Array(reason.utf8), retry: retry)
    }

    /// A downstream limit was hit: the job goes back to waiting without using an attempt, and
    /// its queue (or only its group) starts nothing for `duration`.
    @discardableResult
    public func throttle(
        _ id: UInt64, attempt: Int? = nil, for duration: DocketDuration, scope: ThrottleScope? = nil, reason: String? = nil
    ) throws(DocketError) -> FailOutcome {
        try perform(
            Commands.throttle(id, attempt: attempt, for: duration, scope: scope, reason: reason.map { Array($0.utf8) }, limit: maxPayload))
    }

    /// Records progress (0...100) and an optional note; extends the lease.
    public func progress(_ id: UInt64, percent: Int, attempt: Int? = nil, note: String? = nil) throws(DocketError) {
        try perform(Commands.progress(id, percent: percent, attempt: attempt, note: note, limit: maxPayload))
    }

    /// Extends the lease of a job this connection holds (a heartbeat).
    public func touch(_ id: UInt64, attempt: Int? = nil) throws(DocketError) {
        try perform(Commands.touch(id, attempt: attempt))
    }

    /// The job's document.
    public func inspect(_ id: UInt64) throws(DocketError) -> JobInfo { try perform(Commands.inspect(id)) }

    /// The job's document as the server wrote it (keys in the server's order).
    public func inspectRaw(_ id: UInt64) throws(DocketError) -> [UInt8] { try perform(Commands.inspectRaw(id)) }

    /// The jobs `id` was enqueued `after=`, in that order, with their outcomes: state, result,
    /// last error (state `deleted` for one deleted since); empty for a job without parents. A
    /// job that gathers its parents' results calls it once it runs.
    public func parents(_ id: UInt64) throws(DocketError) -> [ParentInfo] { try perform(Commands.parents(id)) }

    /// One page of CHILDREN: up to `limit` (1 to 1000; the server's default, 1000, if nil) of the
    /// job's children above `after`, by id, and the next page's `after` (nil on the last).
    public func children(of id: UInt64, after: UInt64? = nil, limit: Int? = nil) throws(DocketError) -> ChildrenPage {
        try perform(try Commands.children(id, after: after, limit: limit))
    }

    /// Every child of a job, by id: CHILDREN page after page.
    public func allChildren(of id: UInt64) throws(DocketError) -> [UInt64] {
        var all: [UInt64] = []
        var after: UInt64?
        while true {
            let page = try children(of: id, after: after, limit: 1000)
            all += page.children
            guard let next = page.next else { return all }
            after = next
        }
    }

    /// PARENTS as the server wrote it.
    public func parentsRaw(_ id: UInt64) throws(DocketError) -> [UInt8] { try perform(Commands.parentsRaw(id)) }

    /// The queue's dead jobs, oldest first.
    public func dead(_ queue: String, limit: Int? = nil) throws(DocketError) -> [JobInfo] { try perform(Commands.dead(queue, limit: limit)) }

    /// A dead job runs again, with its attempts reset.
    public func retry(_ id: UInt64) throws(DocketError) { try perform(Commands.retry(id)) }

    /// Every dead job of the queue runs again; returns how many (`retry_queue` in the Python
    /// client, `retryQueue` in the Node one).
    @discardableResult
    public func retryQueue(_ queue: String) throws(DocketError) -> Int { try perform(Commands.retryAll(queue: queue)) }

    @available(*, deprecated, renamed: "retryQueue(_:)")
    @discardableResult
    public func retryAll(queue: String) throws(DocketError) -> Int { try retryQueue(queue) }

    /// Forgets a job in any state.
    public func delete(_ id: UInt64) throws(DocketError) { try perform(Commands.delete(id)) }

    /// Waits until the job is completed or dead (or the timeout passes: `.pending`).
    public func wait(_ id: UInt64, timeout: DocketDuration? = nil) throws(DocketError) -> WaitOutcome {
        try perform(Commands.wait(id, timeout: timeout))
    }

    // MARK: Queues, routes, server

    /// The queue's settings and state. Reading a queue never creates it.
    public func queue(_ name: String) throws(DocketError) -> QueueInfo { try perform(Commands.queue(name)) }

    /// The queue document as the server wrote it.
    public func queueRaw(_ name: String) throws(DocketError) -> [UInt8] { try perform(Commands.queueRaw(name)) }

    /// Changes queue settings (persisted). Each setting is checked against the server's bounds
    /// first (`badArgument`, nothing sent).
    public func setQueue(_ name: String, _ settings: [QueueSetting]) throws(DocketError) {
        try perform(Commands.setQueue(name, settings))
    }

    /// Nothing of the queue starts until `resume` (ENQ still works).
    public func pause(_ name: String) throws(DocketError) { try perform(Commands.pause(name)) }
    public func resume(_ name: String) throws(DocketError) { try perform(Commands.resume(name)) }

    /// Every queue's document (of the queues this user may read), sorted by name: the
    /// server's pages, one after another, until one is empty.
    public func queues() throws(DocketError) -> [QueueInfo] {
        try Self.everyPage(named: \.queue) { after throws(DocketError) in try queues(after: after, limit: 1000) }
    }

    /// A listing by name (or id) read whole: each page from after the last of the one before,
    /// until one is empty.
    static func everyPage<Item, Key>(named name: (Item) -> Key, _ page: (Key?) throws(DocketError) -> [Item]) throws(DocketError) -> [Item] {
        var all: [Item] = []
        while true {
            let next = try page(all.last.map(name))
            if next.isEmpty { return all }
            all += next
        }
    }

    /// One page of QUEUES: up to `limit` (1 to 1000; the server's default, 1000, if nil) of
    /// the queues named after `after`, by name, fewer where max_payload ends the page; empty
    /// past the last.
    public func queues(after: String?, limit: Int? = nil) throws(DocketError) -> [QueueInfo] {
        try perform(try Commands.queues(after: after, limit: limit))
    }

    /// The server's counters.
    public func stats() throws(DocketError) -> ServerStats { try perform(Commands.stats()) }
    public func statsRaw() throws(DocketError) -> [UInt8] { try perform(Commands.statsRaw()) }

    /// Turns every message published on subjects matching `pattern` into a job on `queue`.
    @discardableResult
    public func route(_ pattern: String, to queue: String, options: JobOptions = JobOptions()) throws(DocketError) -> UInt64 {
        try perform(Commands.route(pattern, to: queue, options: options))
    }

    public func unroute(_ id: UInt64) throws(DocketError) { try perform(Commands.unroute(id)) }

    /// Every route (that this user may read), by id: the server's pages, one after another,
    /// until one is empty.
    public func routes() throws(DocketError) -> [RouteInfo] {
        try Self.everyPage(named: \.id) { after throws(DocketError) in try routes(after: after) }
    }

    /// One page of ROUTES: up to `limit` (1 to 1000; the server's default, 1000, if nil) of
    /// the routes whose id is above `after`, by id, fewer where max_payload ends the page;
    /// empty past the last.
    public func routes(after: UInt64?, limit: Int? = nil) throws(DocketError) -> [RouteInfo] {
        try perform(try Commands.routes(after: after, limit: limit))
    }

    // MARK: Browsing, bulk repair, schedules

    /// One page of the queue's jobs in one state (default `waiting`), in that state's order;
    /// pass the page's `next` as `after` for the page that follows. `limit` 1...1000 (default 100).
    public func list(_ queue: String, state: JobState? = nil, after: String? = nil, limit: Int? = nil) throws(DocketError) -> JobPage {
        try perform(Commands.list(queue, state: state, after: after, limit: limit))
    }

    /// The page as the server wrote it.
    public func listRaw(_ queue: String, state: JobState? = nil, after: String? = nil, limit: Int? = nil) throws(DocketError) -> [UInt8] {
        try perform(Commands.listRaw(queue, state: state, after: after, limit: limit))
    }

    /// Every job of the queue in `state`, page by page, handed to `body` in order; stops early
    /// when `body` returns false.
    public func forEachJob(
        in queue: String, state: JobState? = nil, pageSize: Int = 100, _ body: (JobInfo) throws(DocketError) -> Bool
    ) throws(DocketError) {
        var after: String?
        repeat {
            let page = try list(queue, state: state, after: after, limit: pageSize)
            for job in page.jobs where !(try body(job)) { return }
            after = page.next
        } while after != nil
    }

    /// Deletes the queue's jobs in `state` (not `active`), with `older` only those that
    /// entered it longer ago; returns how many went.
    @discardableResult
    public func purge(_ queue: String, state: JobState, older: DocketDuration? = nil) throws(DocketError) -> Int {
        try perform(Commands.purge(queue, state: state, older: older))
    }

    /// A delayed job waits from now on (`NOT_DELAYED` for any other state).
    public func promote(_ id: UInt64) throws(DocketError) { try perform(Commands.promote(id)) }

    /// Creates or replaces the schedule `name`: each tick enqueues `payload` on `queue`
    /// with `options` (not key, at, delay or expires).
    public func schedule(
        _ name: String, queue: String, _ when: ScheduleTiming, catchup: ScheduleCatchup? = nil, options: JobOptions = JobOptions(),
        payload: [UInt8] = []
    ) throws(DocketError) {
        try perform(Commands.schedule(name, queue: queue, when: when, catchup: catchup, options: options, payload: payload, limit: maxPayload))
    }

    public func unschedule(_ name: String) throws(DocketError) { try perform(Commands.unschedule(name)) }

    /// Every schedule (of the queues this user may read), by name, with its next ticks: the
    /// server's pages, one after another, until one is empty.
    public func schedules() throws(DocketError) -> [ScheduleInfo] {
        try Self.everyPage(named: \.name) { after throws(DocketError) in try schedules(after: after, limit: 1000) }
    }

    /// One page of SCHEDULES: up to `limit` (1 to 1000; the server's default, 100, if nil) of
    /// the schedules named after `after`, by name; empty past the last.
    public func schedules(after: String?, limit: Int? = nil) throws(DocketError) -> [ScheduleInfo] {
        try perform(try Commands.schedules(after: after, limit: limit))
    }

    /// One page of SCHEDULES as the server's JSON.
    public func schedulesRaw(after: String? = nil, limit: Int? = nil) throws(DocketError) -> [UInt8] {
        try perform(try Commands.schedulesRaw(after: after, limit: limit))
    }

    public func pauseSchedule(_ name: String) throws(DocketError) { try perform(Commands.pauseSchedule(name)) }
    public func resumeSchedule(_ name: String) throws(DocketError) { try perform(Commands.resumeSchedule(name)) }

    /// The server's list of verbs.
    public func help() throws(DocketError) -> String { try perform(Commands.help()) }

    // MARK: Sending and waiting

    private func options0RequestTimeout() -> Int? { options.requestTimeout?.milliseconds }

    /// The deadline of a command's reply: the request timeout plus what the server may wait.
    private func deadline<T>(of command: Command<T>) -> Deadline? {
        guard !command.waitsForever, let budget = options.requestTimeout?.milliseconds else { return nil }
        return Deadline.after(milliseconds: budget + (command.serverWait ?? 0))
    }

    /// Sends a command and waits (blocking) for its reply; job errors are thrown as `.server`.
    /// While disconnected, the command waits for the reconnect within the same deadline.
    func perform<T>(_ command: Command<T>) throws(DocketError) -> T {
        let deadline = deadline(of: command)
        let pending = try sendBytes(command.bytes, expecting: command.kind, whenDisconnected: .wait(deadline))!
        return try command.read(try wait(pending, deadline: deadline, endingServerWait: command.holdsConnection))
    }

    /// Sends a command and awaits its reply without blocking a thread: the reader thread
    /// resumes the task. The bytes are written at once when connected (a write blocks only
    /// while the socket's send buffer is full); a command issued while reconnecting waits for
    /// the reconnect on a thread of its own. Cancelling the task throws `cancelled` at once;
    /// the command may still be carried out. Cancelling a RESERVE or WAIT (or its timing out)
    /// sends CANCEL right behind it (when nothing was sent after it), which ends the server's
    /// wait at once; a job that comes to the RESERVE all the same is given back (FAIL with
    /// retry 0).
    /// `onReply` runs on the reader thread when the reply comes, before the task resumes.
    func performAsync<T>(_ command: Command<T>, onReply: (@Sendable (Reply) -> Void)? = nil) async throws(DocketError) -> T {
        try await performAsync(command, deadline: deadline(of: command), onReply: onReply)
    }

    /// `performAsync` with a deadline of the caller's (nil: none).
    func performAsync<T>(
        _ command: Command<T>, deadline: Deadline?, onReply: (@Sendable (Reply) -> Void)? = nil
    ) async throws(DocketError) -> T {
        if Task.isCancelled { throw .cancelled }
        let hook = onReply.map { onReply in
            { @Sendable (result: Result<Reply, DocketError>) in if case .success(let reply) = result { onReply(reply) } }
        }
        let (pending, wakeup) = try await sendAsync(command, deadline: deadline, wakeup: Wakeup<Reply>(onResolve: hook))
        return try await reply(of: command, pending, wakeup, deadline: deadline)
    }

    /// Every command sent (pipelined) before the first reply is awaited; the results in order,
    /// or the first error.
    func performAllAsync<T>(_ commands: [Command<T>]) async throws(DocketError) -> [T] {
        if Task.isCancelled { throw .cancelled }
        guard let first = commands.first else { return [] }
        let deadline = deadline(of: first)
        var sent: [(Pending, Wakeup<Reply>)] = []
        sent.reserveCapacity(commands.count)
        for command in commands { sent.append(try await sendAsync(command, deadline: deadline)) }
        var results: [T] = []
        results.reserveCapacity(commands.count)
        for (command, (pending, wakeup)) in zip(commands, sent) {
            results.append(try await reply(of: command, pending, wakeup, deadline: deadline))
        }
        return results
    }

    /// Sends a command for an async caller: at once when connected, else on a thread of its
    /// own that waits for the reconnect (until `deadline`).
    private func sendAsync<T>(
        _ command: Command<T>, deadline: Deadline?, wakeup: Wakeup<Reply> = Wakeup<Reply>()
    ) async throws(DocketError) -> (Pending, Wakeup<Reply>) {
        if let sent = try sendIfConnected(command.bytes, command.kind, wakeup) { return (sent, wakeup) }
        let pending = try await offThread { () throws(DocketError) -> Pending in
            try self.sendBytes(command.bytes, expecting: command.kind, wakeup: wakeup, whenDisconnected: .wait(deadline))!
        }
        return (pending, wakeup)
    }

    /// Awaits the reply of a command sent by `sendAsync`.
    private func reply<T>(of command: Command<T>, _ pending: Pending, _ wakeup: Wakeup<Reply>, deadline: Deadline?) async throws(DocketError)
        -> T
    {
        let holds = command.holdsConnection
        let result = await wakeup.wait(lock: state, deadline: deadline) { [self] in
            abandon(pending, wakeup, endingItsWait: holds)
        }
        if case .failure(.timeout) = result, holds { endServerWait(of: pending) }
        switch result {
        case .success(.error(let code, let message)): throw .server(code: ServerErrorCode(code), message: message)
        case .success(.commandError(let text)): throw .commandFailed(text)
        case .success(let reply): return try command.read(reply)
        case .failure(let error): throw error
        }
    }

    /// The task awaiting `pending` was cancelled: it stops waiting (its reply, when it comes, is
    /// dropped), and with `endingItsWait` a RESERVE or WAIT the server may still hold is ended
    /// (`endServerWait`).
    private func abandon(_ pending: Pending, _ wakeup: Wakeup<Reply>, endingItsWait: Bool) {
        let resume = state.withLock { wakeup.resolve(.failure(.cancelled)) }
        resume?()
        if endingItsWait { endServerWait(of: pending) }
    }

    /// A RESERVE or WAIT whose caller gave up (cancelled, timed out): a CANCEL right behind it
    /// (when nothing was sent after it) makes the server answer it at once (NOJOB, PENDING), so
    /// the connection, with the jobs it holds, serves the next command; without it the server
    /// would read nothing more from the connection until the wait ended. A job that comes to
    /// the RESERVE all the same is given back (`readLoop`).
    private func endServerWait(of pending: Pending) {
        // Off this thread, which must not wait behind a write stuck on a full socket.
        Task.detached { [self] in
            _ = try? sendBytes(Wire.cancel(), expecting: .cancel, whenDisconnected: .drop, onlyBehind: pending)
        }
    }

    /// Sends a command expecting a reply if the connection is up now; nil (nothing sent) while
    /// it is reconnecting. Throws when it is closed.
    private func sendIfConnected(_ bytes: [UInt8], _ kind: CommandKind, _ wakeup: Wakeup<Reply>) throws(DocketError) -> Pending? {
        guard state.withLock({ phase != .disconnected }) else { return nil }
        return try sendBytes(bytes, expecting: kind, wakeup: wakeup, whenDisconnected: .giveUp)
    }

    /// Writes `bytes`; with `kind`, first adds a command awaiting a reply to the FIFO. While
    /// disconnected, does what `whenDisconnected` says.
    /// With `onlyBehind`, it is written only while that command is the last one sent and still
    /// unanswered (a CANCEL means something only right behind its RESERVE).
    @discardableResult
    func sendBytes(
        _ bytes: [UInt8], expecting kind: CommandKind?, wakeup: Wakeup<Reply>? = nil, whenDisconnected: WhenDisconnected,
        onlyBehind: Pending? = nil
    ) throws(DocketError) -> Pending? {
        let writeDeadline = writeDeadline(expecting: kind, whenDisconnected)
        while true {
            // Nothing is sent yet: a write stuck ahead of this one (a server that stopped
            // reading) makes it a timeout.
            guard writeLock.lock(until: writeDeadline) else { throw .timeout }
            state.lock()
            switch phase {
            case .closed:
                let reason = closeReason!
                state.unlock()
                writeLock.unlock()
                throw reason
            case .connected:
                if let onlyBehind, fifo.last !== onlyBehind || onlyBehind.result != nil {
                    state.unlock()
                    writeLock.unlock()
                    return nil
                }
                let pending = kind.map { Pending($0, wakeup: wakeup) }
                if let pending { fifo.append(pending) }
                let link = self.link!
                let current = generation
                var waiter: RequestWaiter? = nil
                if case .hold(let held) = whenDisconnected, let held {
                    held.sentOn = current
                    waiter = held
                }
                state.unlock()
                defer { writeLock.unlock() }
                guard let why = link.send(bytes, deadline: writeDeadline) else { return pending }
                let error = DocketError.connectionLost("writing to \(host):\(port) failed: \(why)")
                socketFailed(link, generation: current)
                // A command awaiting a reply is in the FIFO: the reader fails it with the rest.
                if pending != nil { return pending }
                // Not all of a publish reached the socket, so the server has not seen it whole:
                // it goes out again after the reconnect.
                if case .hold = whenDisconnected, options.reconnect {
                    try state.withLock { () throws(DocketError) in
                        waiter?.sentOn = nil
                        try hold(bytes, waiter)
                    }
                    return nil
                }
                throw error
            case .disconnected:
                writeLock.unlock()
                defer { state.unlock() }
                switch whenDisconnected {
                case .drop, .giveUp:
                    return nil
                case .hold(let waiter) where options.reconnect:
                    try hold(bytes, waiter)
                    return nil
                case .hold:
                    // Not reconnecting: the reader is about to close for good.
                    while phase == .disconnected { replyArrived.wait(state) }
                case .wait(let deadline):
                    while phase == .disconnected {
                        if !replyArrived.wait(state, until: deadline), phase == .disconnected {
                            throw .connectionLost("not connected to \(host):\(port) in time; the command was not sent")
                        }
                    }
                }
                // The phase changed: try again.
            }
        }
    }

    /// How long a write may take, waiting for the write lock included: a command awaiting a
    /// reply (and a PONG) is written within the request timeout, or its own deadline when that
    /// is earlier (`flush(timeout:)`), so a server that stops reading cannot hold a caller, or
    /// `close()`, for ever; a write that runs out of time breaks the connection (part of the
    /// command may be out). Publishes, subscriptions and the rest wait as long as it takes.
    private func writeDeadline(expecting kind: CommandKind?, _ whenDisconnected: WhenDisconnected) -> Deadline? {
        if kind == nil, case .drop = whenDisconnected {} else if kind == nil { return nil }
        let timeout = Deadline.within(options.requestTimeout?.milliseconds)
        if case .wait(let own?) = whenDisconnected, timeout.map({ own < $0 }) ?? true { return own }
        return timeout
    }

    /// Adds a publish to the outbox (`state` held).
    private func hold(_ bytes: [UInt8], _ waiter: RequestWaiter?) throws(DocketError) {
        guard outboxBytes + bytes.count <= options.reconnectBufferSize else {
            throw .connectionLost("disconnected from \(host):\(port), and the reconnect buffer is full")
        }
        outbox.append((bytes, waiter))
        outboxBytes += bytes.count
    }

    /// A write to `link` failed (the write lock held): nothing more goes to it, and the reader
    /// soon sees it closed.
    private func socketFailed(_ link: Link, generation failed: UInt64) {
        state.withLock {
            if generation == failed, phase == .connected {
                phase = .disconnected
                replyArrived.broadcast()
            }
        }
        link.shutdown()
    }

    /// Waits for `pending`'s reply; a job error is thrown as `.server`. A caller that times out
    /// leaves `pending` in the FIFO (its reply, when it comes, is dropped, or given back if a
    /// job), and with `endingServerWait` (a RESERVE or WAIT the server may hold: not one with
    /// `timeout=0`, which the server answers at once) ends the server's wait with a CANCEL.
    func wait(_ pending: Pending, deadline: Deadline?, endingServerWait: Bool = false) throws(DocketError) -> Reply {
        let result = state.withLock { () -> Result<Reply, DocketError> in
            while pending.result == nil {
                if !replyArrived.wait(state, until: deadline), pending.result == nil {
                    // Under the lock the reader completes replies with: a JOB either came
                    // before this (and is returned) or finds the RESERVE abandoned.
                    pending.abandoned = true
                    return .failure(.timeout)
                }
            }
            return pending.result!
        }
        if case .failure(.timeout) = result, endingServerWait { endServerWait(of: pending) }
        switch result {
        case .success(.error(let code, let message)): throw .server(code: ServerErrorCode(code), message: message)
        case .success(.commandError(let text)): throw .commandFailed(text)
        case .success(let reply): return reply
        case .failure(let error): throw error
        }
    }

    private func checkPayload(_ count: Int) throws(DocketError) {
        let limit = maxPayload
        guard count <= limit else { throw .badArgument("\(count) bytes is more than the server's max_payload of \(limit)") }
    }

    // MARK: Reading and reconnecting

    /// The reader thread: reads each connection until it breaks, then reconnects (or closes
    /// for good).
    private func run(_ firstLink: Link, _ firstInput: ByteBuffer) {
        var link = firstLink
        var input = firstInput
        while true {
            let why = readLoop(link, input)
            let lost = connectionLost(link, why)
            if isClosed {
                finishClosing(closeReason(or: lost))
                return
            }
            guard options.reconnect else {
                finishClosing(.connectionClosed("the connection to \(host):\(port) was lost (reconnecting is off): \(why)"))
                return
            }
            options.onDisconnect?(lost)
            guard let (newLink, newInput) = reconnect(after: why) else { return }
            link = newLink
            input = newInput
            options.onReconnect?()
        }
    }

    private func closeReason(or fallback: DocketError) -> DocketError { state.withLock { closeReason ?? fallback } }

    /// Reads and handles everything the server sends on `link` until it breaks; returns why.
    private func readLoop(_ link: Link, _ input: ByteBuffer) -> DocketError {
        let maxFrame = ServerParser.maxFrame(maxPayload: maxPayload)
        while true {
            var consumed = 0
            let bytes = input.readableBytes
            parsing: while true {
                switch ServerParser.parse(bytes, from: consumed, maxFrame: maxFrame) {
                case .incomplete:
                    break parsing
                case .failure(let why):
                    return .protocolViolation(why)
                case .op(let op, let next):
                    consumed = next
                    if let error = handle(op) { return error }
                }
            }
            input.consume(consumed)
            switch link.read(into: input, deadline: nil) {
            case .data: continue
            case .closed, .timeout:
                let text = state.withLock { lastServerError.map { "the server closed it after -ERR '\($0)'" } }
                return .connectionClosed(text ?? "the server closed the connection")
            case .failed(let why):
                return .connectionClosed(why)
            }
        }
    }

    /// Handles one op from the server; an error breaks the connection.
    private func handle(_ op: ServerOp) -> DocketError? {
        state.lock()
        let head = fifoHead < fifo.count ? fifo[fifoHead] : nil
        switch Replies.route(op, waiting: head?.kind) {
        case .failure(let error):
            state.unlock()
            return error
        case .success(.reply(let reply)):
            let wake = head!.complete(.success(reply))
            // A job for a RESERVE whose caller gave up (a blocking one timed out, or a task's
            // wake-up resolved already): this connection holds it and nobody will run it.
            let unwanted = head!.abandoned || (wake == nil && head!.wakeup != nil) ? reply.job : nil
            fifoHead += 1
            if fifoHead > 64 && fifoHead * 2 > fifo.count {
                fifo.removeFirst(fifoHead)
                fifoHead = 0
            }
            replyArrived.broadcast()
            state.unlock()
            wake?()
            if let unwanted, let bytes = try? Wire.fail(
                id: unwanted.id, attempt: unwanted.attempt, reason: Array("reservation abandoned by the client".utf8),
                retry: .after(.milliseconds(0))) {
                _ = try? sendBytes(bytes, expecting: .fail, whenDisconnected: .drop)
            }
        case .success(.message(let message)):
            let subscription = subscriptions[message.sid]
            state.unlock()
            if let subscription, subscription.deliver(message) {
                // Its message limit is reached.
                _ = state.withLock { subscriptions.removeValue(forKey: subscription.sid) }
                subscription.finish()
            }
        case .success(.ping):
            state.unlock()
            _ = try? sendBytes(Wire.pong(), expecting: nil, whenDisconnected: .drop)
        case .success(.info(let json)):
            serverInfo = json
            state.unlock()
        case .success(.serverError(let text)):
            lastServerError = text
            state.unlock()
            options.onServerError?(text)
        }
        return nil
    }

    /// The connection on `link` broke (or was closed): every command waiting for its reply on
    /// it fails with `connectionLost`, as do the requests it carried, and `link` is closed.
    /// Returns the error those got.
    private func connectionLost(_ link: Link, _ why: DocketError) -> DocketError {
        // The write lock keeps every writer off `link` while it goes.
        writeLock.lock()
        defer { writeLock.unlock() }
        var wakes: [() -> Void] = []
        defer { for wake in wakes { wake() } }
        return state.withLock { () -> DocketError in
            var text = "\(host):\(port): \(why)"
            if let last = lastServerError, !text.contains(last) { text += " (the server's last error: '\(last)')" }
            let lost = DocketError.connectionLost(text)
            let error = phase == .closed ? closeReason! : lost
            if phase == .connected { phase = .disconnected }
            while fifoHead < fifo.count {
                if let wake = fifo[fifoHead].complete(.failure(error)) { wakes.append(wake) }
                fifoHead += 1
            }
            fifo.removeAll()
            fifoHead = 0
            for waiter in requests.values where waiter.message == nil && waiter.sentOn == generation {
                waiter.error = error
                if let wake = waiter.wakeup?.resolve(.failure(error)) { wakes.append(wake) }
            }
            lastServerError = nil
            link.shutdown()
            link.close()
            if self.link === link { self.link = nil }
            replyArrived.broadcast()
            return lost
        }
    }

    /// Closed for good: everything still waiting fails with `reason` (or the reason `close()`
    /// gave), held publishes are dropped, and every subscription ends.
    private func finishClosing(_ reason: DocketError) {
        var wakes: [() -> Void] = []
        let ended = state.withLock { () -> [Subscription] in
            if phase != .closed {
                phase = .closed
                closeReason = reason
            }
            let reason = closeReason!
            while fifoHead < fifo.count {
                if let wake = fifo[fifoHead].complete(.failure(reason)) { wakes.append(wake) }
                fifoHead += 1
            }
            fifo.removeAll()
            fifoHead = 0
            for waiter in requests.values where waiter.message == nil && waiter.error == nil {
                waiter.error = reason
                if let wake = waiter.wakeup?.resolve(.failure(reason)) { wakes.append(wake) }
            }
            outbox.removeAll()
            outboxBytes = 0
            let all = Array(subscriptions.values)
            subscriptions.removeAll()
            replyArrived.broadcast()
            return all
        }
        for wake in wakes { wake() }
        for subscription in ended { subscription.finish() }
    }

    /// Reconnects with backoff (TLS again too); returns the new link (subscriptions and held
    /// publishes already sent on it) and what was read after its handshake. Nil once closed for
    /// good (`close()` was called, or `reconnectTimeout` passed).
    private func reconnect(after why: DocketError) -> (Link, ByteBuffer)? {
        let giveUp = Deadline.within(options.reconnectTimeout?.milliseconds)
        let firstWait = max(options.reconnectWait.milliseconds ?? 50, 1)
        let longestWait = max(options.reconnectMaxWait.milliseconds ?? 2000, firstWait)
        let connectMilliseconds = options.connectTimeout.milliseconds ?? 5000
        let jitter = max(options.reconnectJitter.milliseconds ?? 100, 0)
        // A connection lost within the longest wait of its handshake does not start the backoff
        // over: a server that lets clients in and drops them at once is not reconnected to
        // every `reconnectWait`, the waits go on doubling from where the last reconnect left them.
        let brief = Clock.milliseconds() - handshakeEndedAt < Int64(longestWait)
        var delay = brief ? min(max(carriedReconnectWait, firstWait), longestWait) : firstWait
        var lastError = why
        while true {
            // Wait out the delay (close() cuts it short).
            var until = Deadline.after(milliseconds: delay + Int.random(in: 0...jitter))
            if let giveUp, giveUp < until { until = giveUp }
            let closed = state.withLock { () -> Bool in
                while phase != .closed, replyArrived.wait(state, until: until) {}
                return phase == .closed
            }
            if closed {
                finishClosing(closeReason(or: lastError))
                return nil
            }
            delay = min(delay * 2, longestWait)
            do throws(DocketError) {
                let budget = giveUp.map { min(connectMilliseconds, max($0.remainingMilliseconds, 100)) } ?? connectMilliseconds
                let deadline = Deadline.after(milliseconds: budget)
                let link = try Self.connectLink(host: host, port: port, timeoutMilliseconds: budget)
                let (info, input): (JSONValue, ByteBuffer)
                do throws(DocketError) {
                    let registered = state.withLock { () -> Bool in
                        guard phase != .closed else { return false }
                        attemptLink = link
                        return true
                    }
                    guard registered else { throw .connectionClosed("closed by the client") }
                    (info, input) = try Self.handshake(
                        link, host: host, port: port, options: options, tlsContext: tlsContext, deadline: deadline)
                } catch {
                    state.withLock { attemptLink = nil }
                    link.close()
                    throw error
                }
                if install(link, info: info) {
                    handshakeEndedAt = Clock.milliseconds()
                    carriedReconnectWait = delay
                    return (link, input)
                }
                finishClosing(closeReason(or: lastError))
                return nil
            } catch {
                lastError = error
            }
            if let giveUp, giveUp.hasPassed {
                let seconds = Double(options.reconnectTimeout?.milliseconds ?? 0) / 1000
                finishClosing(
                    .connectionClosed(
                        "the connection to \(host):\(port) was lost and not re-established within \(seconds) s: \(why); "
                            + "the last attempt: \(lastError)"))
                return nil
            }
        }
    }

    /// Makes the handshaken `link` the connection: sends every live subscription again, then
    /// the publishes held meanwhile, before any other command can go. False (and `link`
    /// closed) if the connection was closed meanwhile.
    private func install(_ link: Link, info: JSONValue) -> Bool {
        writeLock.lock()
        defer { writeLock.unlock() }
        state.lock()
        attemptLink = nil
        guard phase != .closed else {
            state.unlock()
            link.close()
            return false
        }
        var bytes: [UInt8] = []
        for subscription in subscriptions.values.sorted(by: { $0.sidNumber < $1.sidNumber }) {
            let left = subscription.remainingLimit()
            // One that has had all its messages is about to end.
            guard left != 0,
                let sub = try? Wire.subscribe(subject: subscription.subject, sid: subscription.sid, queue: subscription.queue)
            else { continue }
            bytes += sub
            if let left, let unsub = try? Wire.unsubscribe(sid: subscription.sid, max: left) { bytes += unsub }
        }
        generation += 1
        let current = generation
        for (held, waiter) in outbox {
            bytes += held
            waiter?.sentOn = current
        }
        outbox.removeAll()
        outboxBytes = 0
        serverInfo = info
        self.link = link
        phase = .connected
        reconnectCount += 1
        replyArrived.broadcast()
        state.unlock()
        if !bytes.isEmpty, link.send(bytes) != nil { socketFailed(link, generation: current) }
        return true
    }
}
