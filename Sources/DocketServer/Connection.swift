import DocketEngine
import DocketTLS
import DocketWire

/// One client connection: its socket, its buffers and what it negotiated.
///
/// A connection only holds state; the server reads, parses, dispatches and writes for it.
final class Connection {
    let id: UInt64
    let fd: Int32
    /// The server outlives every connection: it closes them all before it goes.
    unowned let server: Server
    /// `ip:port` of the peer, for logs.
    let remote: String
    let remoteHost: String
    let remotePort: Int
    let openedAt: Int
    /// The listener's connections waiting to log in, while this one is among them.
    var loginWaitlist: LoginWaitlist?

    var readEvent: OpaquePointer?
    var writeEvent: OpaquePointer?
    let input: ByteBuffer
    let output: ByteBuffer

    var options = ClientOptions()
    /// Whether the connection may do anything yet: true from the start when no credentials are
    /// required, else once its CONNECT proved them.
    var isAuthenticated = true
    /// Who the connection proved to be.
    var principal: Principal? {
        didSet {
            permissions = principal?.permissions
            account = server.account(of: principal)
        }
    }
    /// The subject space it publishes and subscribes in.
    private(set) lazy var account: Account = server.globalAccount
    /// What it may do; nil (the common case, and the fast one): everything.
    private(set) var permissions: Permissions?
    /// Publish verdicts of a restricted connection by subject, as nats-server caches them:
    /// a publisher tends to use few subjects, and matching every PUB against every rule costs.
    var publishVerdicts: [[UInt8]: Bool] = [:]
    /// The last subject it published to and its verdict.
    var lastPublishVerdict: (subject: [UInt8], verdict: Bool)?
    /// Closes the connection if it has not authenticated in time.
    var authTimer: OpaquePointer?
    /// TLS on this connection (nil: plain TCP). Until its handshake completes, nothing but the
    /// handshake (and, without handshake-first, the plain INFO before it) crosses the socket.
    var tls: TLSSession?
    /// Closes the connection if its TLS handshake has not completed in time.
    var tlsTimer: OpaquePointer?
    /// Whether it logged in with no credentials, as the configuration's `no_auth_user`.
    var isNoAuthUser = false
    /// What its verified client certificate names it (`verify_and_map`); nil without mapping.
    var certificateIdentities: [String]?
    /// What its INFO asked it to sign (the text of the `nonce` field, as the client signs it)
    /// when NKEY users are configured; nil otherwise.
    var nonce: [UInt8]?
    /// The user JWT it logged in with (operator mode), kept so that a reload can judge it again.
    var userJWT: String?
    /// Whether its first byte after INFO began a TLS record (checked once, before the handshake).
    var sawTLSRecord = false
    /// What it is as a route to another docketd node of the cluster; nil for a client.
    var route: RouteLink?
    /// Whether it has had its first PONG: no INFO may come before it (nats-py reads exactly one
    /// line after its CONNECT and PING, and takes anything but PONG for a failed handshake).
    var sentFirstPong = false
    /// The cluster's `connect_urls` (their version) in the last INFO it was sent.
    var clusterURLsSeen = 0
    /// Its WebSocket layer, when it came to the WebSocket port (nil: NATS straight over TCP/TLS).
    var webSocket: WebSocketSession?
    /// Whether the socket carries protocol bytes yet: always for plain TCP, after the handshake
    /// with TLS, after the upgrade with WebSocket.
    var isTransportReady: Bool { (tls?.isEstablished ?? true) && (webSocket?.isUpgraded ?? true) }
    /// Whether the client has sent CONNECT; server PINGs wait for it (or for one ping interval),
    /// because nats-py reads exactly one PONG after its CONNECT+PING and nothing may come first.
    var sentConnect = false
    var subscriptions: [[UInt8]: Subscription] = [:]
    var pingsOutstanding = 0

    /// Replies waiting for the commit of their batch, oldest first.
    var heldReplies: [(batch: UInt64, buffer: ByteBuffer)] = []
    /// Jobs this connection reserved and may still hold.
    var heldJobs = IDSet()
    /// Its `$DOCKET.API` RESERVEs and WAITs still waiting (keys of the server's `apiWaiters`
    /// and `apiWatches`), so that closing costs as much as it has, not as much as everyone has.
    var waitingRequests: Set<ObjectIdentifier> = []
    /// A RESERVE waiting for a job; while set, the connection's further commands wait too.
    var waiter: Waiter?
    /// A WAIT in progress; like a waiting RESERVE, it holds back the connection's later commands.
    var watch: JobWatch?

    /// A RESERVE or WAIT the job backend answers later (PostgreSQL), holding back the rest.
    var pendingAnswer: JobAnswer?
    /// Its unanswered job commands on PostgreSQL: ENQs on the enqueue connection, the rest on
    /// the main one (`PostgresEnqueueLane` says why they are counted).
    var postgresLanePending = 0
    var postgresMainPending = 0
    /// A BATCH whose ENQs are still arriving.
    var batch: PendingBatch?

    /// Its CONNECT's password is being checked against a hash, off the loop.
    var isCheckingCredentials = false
    /// The password check its CONNECT waits for, while queued (cancelled if it closes).
    var passwordCheck: UInt64?

    /// Waiting in RESERVE or WAIT, or for its credentials: later commands wait their turn
    /// (behind a RESERVE still to be tried, only those it lets through: `JobAnswer.readAhead`).
    var isBlocked: Bool {
        waiter != nil || watch != nil || pendingAnswer.map { $0.readAhead == nil } == true || isCheckingCredentials
    }
    /// Reading stopped because it sent a lot while waiting for a job, or because its next ENQ
    /// waits for the checkpoints (`waitsForCheckpoints`).
    var isReadPaused = false
    /// Its next command is an ENQ that waits until the log's checkpoints catch up
    /// (`--max-checkpoint-backlog`); it is on the server's `checkpointWaiters`.
    var waitsForCheckpoints = false
    /// Its last input is being run before it ends (`Server.processAll`): nothing of it waits.
    var runsLastWord = false
    /// Its commands came to `Server.workPerTurn` in one loop pass: the rest of its input waits
    /// for the next pass (the socket is not read until it is done).
    var hasDeferredCommands = false
    /// Work its commands did since its turn began (`Server.workPerTurn` says what counts).
    var workThisTurn = 0
    /// Bytes of `$DOCKET.API` work done for its requests since its commands last began to run,
    /// the header blocks scanned for `Docket-Options` and the answers built: they count towards
    /// its turn as reply bytes do, wherever the answers go.
    var apiWorkBytes = 0

    /// Queued on the server's list of connections to flush at the end of this pass.
    var isQueuedForFlush = false
    /// Waiting for the socket to take more output (its write event is added).
    var isWaitingToWrite = false
    private(set) var isClosed = false
    /// Set once the connection is ending (EOF, a fatal error): it reads nothing more and closes
    /// when the replies it is owed are written.
    var closeReason: String?

    var messagesIn = 0
    /// Message payload bytes published and delivered, as nats-server's `/connz` counts them.
    var bytesIn = 0
    var messagesOut = 0
    var bytesOut = 0

    init(server: Server, id: UInt64, fd: Int32, remoteHost: String, remotePort: Int, now: Int) {
        self.server = server
        self.id = id
        self.fd = fd
        self.remoteHost = remoteHost
        self.remotePort = remotePort
        self.remote = remoteHost.contains(":") ? "[\(remoteHost)]:\(remotePort)" : "\(remoteHost):\(remotePort)"
        self.openedAt = now
        // Reads land straight in here; 64 KiB per read covers 16 of libevent's default
        // 4 KiB reads at once. It grows only for a command larger than that.
        self.input = ByteBuffer(capacity: 64 << 10)
        self.output = ByteBuffer(capacity: 16 << 10)
    }

    func markClosed() { isClosed = true }

    /// Every byte queued for the client: output not yet written and replies held for a commit.
    var pendingBytes: Int {
        var total = output.readableCount
        if let webSocket { total += webSocket.wire.readableCount }
        for held in heldReplies { total += held.buffer.readableCount }
        return total
    }

    /// Log prefix naming this connection.
    var label: String { "\(remote) - cid:\(id)" }
}

/// A BATCH being read: copies of its ENQs until the last one arrives, or, once something is
/// wrong with it, only the count of commands still to be swallowed and the first refusal.
final class PendingBatch {
    let expected: Int
    private(set) var received = 0
    private(set) var items: [(arguments: [UInt8], payload: [UInt8])] = []
    private(set) var bytes = 0
    private(set) var refusal: JobError?

    init(expected: Int, refusal: JobError? = nil) {
        self.expected = expected
        self.refusal = refusal
    }

    var isComplete: Bool { received == expected }

    func add(arguments: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, maxBytes: Int) {
        received += 1
        guard refusal == nil else { return }
        bytes += payload.count
        guard bytes <= maxBytes else {
            return refuse(JobError(.limit, "the batch holds more than \(maxBytes) payload bytes (--max-batch-bytes)"))
        }
        items.append((Array(arguments), Array(payload)))
    }

    /// Command number `received + 1` was not an ENQ: the batch will be refused.
    func addStranger(_ verb: String) {
        received += 1
        if refusal == nil { refuse(JobError(.badOption, "command \(received) of the batch is \(verb); a BATCH holds only ENQs")) }
    }

    private func refuse(_ error: JobError) {
        refusal = error
        items = []
    }
}
