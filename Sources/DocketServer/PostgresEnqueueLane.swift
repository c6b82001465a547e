import CLibevent
import DocketPostgres
import DocketWire

/// A second connection to the database that carries only plain ENQs, so that PostgreSQL works
/// on a pass's inserts in one server process while another claims and acknowledges (issue #13:
/// one server process was the limit, busy 85 % of the time with the machine 40 % idle).
///
/// Order is what makes this safe (`PostgresBackend` decides what goes here):
/// - a client's ENQ comes here only while none of its other job commands is unanswered, and its
///   other commands never come here, so a client switches connections only with nothing in
///   flight;
/// - a command of a client whose ENQs here are unanswered holds the main connection's next
///   transaction until the transactions sent here by then have ended (`sent`, `ended`), so it
///   sees them;
/// - it is used only while nobody listens for lifecycle events: those are numbered in the
///   transaction that made them, in commit order, which this connection's plain commits do not
///   do, so its jobs make no events (their counts are kept).
///
/// It opens once the main connection is up, and again (at the next tick) after it is lost; its
/// commands in flight then fail `UNAVAILABLE` as on the main connection.
final class PostgresEnqueueLane {
    typealias Enqueue = (job: PostgresNewJob, done: (Result<PostgresEnqueued, JobError>) -> Void)

    private(set) var connection: PostgresConnection?
    private var socket: PostgresSocketWatch!
    /// The ENQs of this pass, sent as one transaction at its end.
    var batch: [Enqueue] = []
    /// Transactions sent on this connection, and those that ended (committed or failed), in order.
    private(set) var sent = 0
    private(set) var ended = 0
    /// Runs when the connection is lost (after its commands failed).
    var onClosed: (() -> Void)?

    /// At most two transactions in flight, as on the main connection: one the server process works
    /// on, one waiting behind it; later passes' ENQs join the next.
    static let maxInFlight = 2

    init(loop: EventLoop) {
        socket = PostgresSocketWatch(loop: loop) { [unowned self] what in socketReady(what) }
    }

    var isReady: Bool { connection?.state == .ready }
    var inFlight: Int { sent - ended }

    func open(_ conninfo: String, hostAddresses: [String]) {
        let db = PostgresConnection(conninfo, hostAddresses: hostAddresses)
        connection = db
        db.onInterestChange = { [unowned self] interest in socket.watch(interest) }
        db.onStateChange = { [unowned self, unowned db] state in
            guard state == .closed, db === connection else { return }
            connection = nil
            socket.watch(.none)
            fail(db.failure?.message ?? "connection closed")
            onClosed?()
        }
        db.start()
        if db.state != .closed { socket.watch(db.interest) }
        // Told apart from the main connection in pg_stat_activity (statements wait for the connection).
        PostgresSchema.configureSession(on: db)
        db.query("SET application_name = '\(Self.applicationName)'") { _ in }
    }

    static let applicationName = "docketd enqueues"

    /// Sends the batch as one transaction: `enqueue` adds its statement, `done` runs once it has
    /// ended. Nothing is sent while two are in flight, unless `force` (shutdown).
    func send(force: Bool = false, _ enqueue: ([Enqueue], PostgresConnection) -> Void) {
        guard !batch.isEmpty, let db = connection, db.state == .ready, inFlight < Self.maxInFlight || force else { return }
        let items = batch
        batch.removeAll()
        enqueue(items, db)
        sent += 1
        db.commit { [weak self, weak db] _ in
            guard let self, let db, db === self.connection else { return }
            self.ended += 1
        }
    }

    /// The batch never sent: unavailable.
    private func fail(_ why: String) {
        let items = batch
        batch.removeAll()
        // The counts start again with the next connection; nothing sent here is pending any more.
        sent = 0
        ended = 0
        for item in items { item.done(.failure(PostgresBackend.unavailable(why))) }
    }

    /// Closes the connection; the batch not sent yet is answered unavailable, saying `why`.
    func close(_ why: String = "shutting down") {
        let closing = connection
        connection = nil
        socket.watch(.none)
        closing?.close(because: why)
        fail(why)
    }

    private func socketReady(_ what: Int16) {
        guard let db = connection else { return }
        if Int32(what) & EventLoop.write != 0 { db.socketWritable() }
        if Int32(what) & EventLoop.read != 0, connection === db { db.socketReadable() }
    }
}

/// The loop's watch on a PostgreSQL connection's socket: follows the connection's interest
/// (`watch`) and calls `ready` with what the loop saw.
final class PostgresSocketWatch {
    private let loop: EventLoop
    private let ready: (Int16) -> Void
    private var event: OpaquePointer?
    private var interest = PostgresConnection.Interest.none

    init(loop: EventLoop, ready: @escaping (Int16) -> Void) {
        self.loop = loop
        self.ready = ready
    }

    deinit {
        if let event { EventLoop.free(event) }
    }

    func watch(_ interest: PostgresConnection.Interest) {
        guard interest != self.interest else { return }
        self.interest = interest
        if let event {
            EventLoop.remove(event)
            EventLoop.free(event)
            self.event = nil
        }
        guard interest.socket >= 0, interest.read || interest.write else { return }
        let flags = (interest.read ? EventLoop.read : 0) | (interest.write ? EventLoop.write : 0) | EventLoop.persist
        let event = loop.makeEvent(fd: interest.socket, flags: flags, context: self, callback: postgresSocketCallback)
        EventLoop.add(event)
        self.event = event
    }

    fileprivate func fire(_ what: Int16) { ready(what) }
}

private func postgresSocketCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<PostgresSocketWatch>.fromOpaque(context!).takeUnretainedValue().fire(what)
}
