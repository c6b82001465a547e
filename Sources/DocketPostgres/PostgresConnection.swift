import CLibPQ

#if canImport(Glibc)
    import Glibc
#endif

/// One connection to PostgreSQL through libpq, asynchronous and driven from outside: it never
/// blocks and owns no thread or timer. Its owner's event loop watches `interest` (a socket,
/// and whether to wake for reading and/or writing; `onInterestChange` says when it changes)
/// and calls `socketReadable()` / `socketWritable()` when the loop says so.
///
/// Statements are grouped into transactions: `execute` adds a statement to the open
/// transaction, and `commit` closes it and sends it (libpq's pipeline mode: every statement of
/// every committed transaction goes out without waiting for answers, one `Sync` ending each
/// transaction, so a transaction costs one round trip however many statements it has, and
/// several transactions can be in flight). The statements of one transaction run in one
/// implicit database transaction: all of them commit, or none does.
///
/// A statement's completion runs once its transaction has ended, so a success means the
/// transaction committed. When any statement fails, every statement of its transaction fails:
/// the culprit with the server's error, the ones before it `.rolledBack`, the ones after it
/// `.aborted`. Completions run in the order the statements were executed.
///
/// When the connection is lost, every statement not yet answered fails (`.connection` for those
/// already sent, whose transaction may or may not have committed; `.closed` for the others), the
/// state becomes `.closed`, and so it stays: reconnecting is the owner's job (a new connection).
/// Notifications (`LISTEN`/`NOTIFY`) go to `onNotification`.
///
/// A transaction committed with `commit(finishing:)` goes in two steps, so that what it did can
/// decide what else it does before it commits: its statements run in an explicit transaction
/// block, their completions run as soon as their results are read (with
/// `isTellingUncommittedResults` set: nothing is committed yet), then `finishing` gives the
/// statements that end it, sent with `COMMIT`. Its own completion runs once that has committed
/// or failed. It costs a round trip more, and nothing is sent behind it meanwhile.
///
/// A transaction that fails with `40P01` (deadlock) or `40001` (serialization failure) did
/// nothing and can be sent again as a whole: the connection does so by itself, up to
/// `resendLimit` times, before any completion of it runs (so a caller sees only the last
/// try); it then goes after the transactions sent meanwhile. Any other failure is the
/// statements' own.
///
/// Each statement is parsed and planned once per connection: the first time its SQL is sent,
/// a `Parse` of it goes ahead in a segment of its own (`Sync`-ended, outside any transaction,
/// so nothing that fails around it can undo it), and once the server has confirmed it, every
/// send names the prepared statement. Until then (and for SQL that did not parse, which so
/// fails with its own error) it goes as plain SQL. Up to `preparedLimit` statements; SQL
/// after that, or longer than `preparableLength` (the migrations), always goes plain.
///
/// Two things libpq does not make asynchronous: `PQconnectStart` resolves a host *name*
/// before returning (so the owner resolves it on its loop, `hostToResolve`, and passes the
/// addresses as `hostAddresses`), and a server that stops answering or vanishes without closing
/// the socket is noticed only by TCP, hours later: the owner times answers out (`closeIfSilent`).
///
/// Not thread-safe: use it from the thread that runs its owner's loop.
public final class PostgresConnection {
    public enum State: Equatable, Sendable {
        case connecting, ready, closed
    }

    /// What the owner's event loop must watch for this connection: `socket` (-1 for none)
    /// readable when `read`, writable when `write`.
    public struct Interest: Equatable, Sendable {
        public var socket: Int32
        public var read: Bool
        public var write: Bool

        public static let none = Interest(socket: -1, read: false, write: false)

        public init(socket: Int32, read: Bool, write: Bool) {
            self.socket = socket
            self.read = read
            self.write = write
        }
    }

    public typealias Completion = (Result<PostgresResult, PostgresError>) -> Void

    public private(set) var state: State = .connecting
    public private(set) var interest = Interest.none
    /// Why the connection closed, once it has (nil after a plain `close()`).
    public private(set) var failure: PostgresError?
    /// Called whenever `interest` changes (the socket too: it can change while connecting).
    public var onInterestChange: ((Interest) -> Void)?
    public var onStateChange: ((State) -> Void)?
    public var onNotification: ((PostgresNotification) -> Void)?
    /// How many times a transaction chosen as a deadlock victim (or failing serialization) is
    /// sent again before its failure is told.
    public var resendLimit = 3
    /// Transactions sent again after a deadlock or serialization failure, since the start.
    public private(set) var resentTransactions = 0
    /// The completions running now are of a two-step transaction's first step: their results
    /// are not committed yet (see `commit(finishing:)`).
    public private(set) var isTellingUncommittedResults = false

    private let conninfo: String
    private let hostAddresses: [String]
    private var connection: OpaquePointer?
    private var started = false
    /// While connecting: whether `PQconnectPoll` last asked to wait for writing.
    private var connectWantsWrite = true
    /// libpq holds output it could not send yet.
    private var outputPending = false

    /// The transaction statements are being added to.
    private var open = Transaction()
    /// Committed transactions not sent yet (the connection is not ready, or a two-step
    /// transaction is still open in the database).
    private var unsent: [Transaction] = []
    /// A two-step transaction whose first step was sent and whose second was not: whatever
    /// is sent meanwhile would run inside it.
    private var openInDatabase: Transaction?
    /// What the server still owes an answer for, in order: statements, and each transaction's end.
    private var inFlight = FIFOQueue<InFlight>()
    /// Completions and notifications to run once the current call has done its work.
    private var callbacks: [() -> Void] = []
    private var draining = false
    /// Each SQL text whose `Parse` was sent on this connection (see the type's documentation).
    /// Entries stay, so `docket_<count>` names a new one uniquely.
    private var preparation: [String: Preparation] = [:]
    /// Entries that did not parse: they do not count toward `preparedLimit`.
    private var failedParses = 0
    /// Since when (the owner's clock, ms) the connection has been waiting for the server without
    /// hearing from it, as `closeIfSilent` last saw it; nil: not waiting, or it has heard since.
    private var silentSince: Int64?

    private enum Preparation {
        /// Sent, not confirmed yet: sent as plain SQL meanwhile.
        case pending
        case prepared(name: String)
        /// Did not parse: sent as plain SQL from then on, so it fails with its own error.
        case failed
    }
    public static let preparedLimit = 128
    public static let preparableLength = 4096

    /// `conninfo`: a libpq connection string (`host=127.0.0.1 port=5432 dbname=docket`) or
    /// URI (`postgres://user@host/db`). `hostAddresses`: the numeric addresses of its one host
    /// name (see `hostToResolve`), tried in order; the name is still what TLS verifies.
    /// Nothing happens before `start()`.
    public init(_ conninfo: String, hostAddresses: [String] = []) {
        self.conninfo = conninfo
        self.hostAddresses = hostAddresses
    }

    /// The host name libpq would resolve with a blocking call when connecting with `conninfo`,
    /// and the port: nil when there is none to resolve (an address, a socket directory, a
    /// `hostaddr`, several hosts, or a string libpq cannot parse, which `start` reports).
    public static func hostToResolve(_ conninfo: String) -> (host: String, port: Int)? {
        let options = parsedOptions(conninfo)
        guard let host = options["host"], !host.isEmpty, !host.contains(","), !host.hasPrefix("/"), !host.hasPrefix("@"),
            options["hostaddr"]?.isEmpty ?? true, !isNumericAddress(host)
        else { return nil }
        guard let portText = options["port"], !portText.isEmpty else { return (host, 5432) }
        guard let port = Int(portText), (1...65535).contains(port) else { return nil }
        return (host, port)
    }

    /// Whether two connection strings name the same database: the same hosts, host addresses,
    /// ports and database name, however written (a URI or keywords). What else they set (the
    /// user, the password, TLS, timeouts) may differ. False when either cannot be parsed.
    public static func nameSameDatabase(_ a: String, _ b: String) -> Bool {
        let (first, second) = (parsedOptions(a), parsedOptions(b))
        guard !first.isEmpty, !second.isEmpty else { return false }
        return ["host", "hostaddr", "port", "dbname"].allSatisfy { first[$0] == second[$0] }
    }

    /// The options `conninfo` sets, by keyword; empty if libpq cannot parse it.
    private static func parsedOptions(_ conninfo: String) -> [String: String] {
        var error: UnsafeMutablePointer<CChar>?
        guard let parsed = PQconninfoParse(conninfo, &error) else {
            if let error { PQfreemem(error) }
            return [:]
        }
        defer { PQconninfoFree(parsed) }
        var options: [String: String] = [:]
        var option = parsed
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { options[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        return options
    }

    private static func isNumericAddress(_ host: String) -> Bool {
        var buffer = in6_addr()
        return inet_pton(AF_INET, host, &buffer) == 1 || inet_pton(AF_INET6, host, &buffer) == 1
    }

    /// `PQconnectStart` for `conninfo`, with `hostAddresses` as libpq's host list when given:
    /// the name repeated once per address, so each address is tried and the name verified.
    private func startConnecting() -> OpaquePointer? {
        guard !hostAddresses.isEmpty else { return PQconnectStart(conninfo) }
        var options = Self.parsedOptions(conninfo)
        guard let host = options["host"] else { return PQconnectStart(conninfo) }
        options["host"] = Array(repeating: host, count: hostAddresses.count).joined(separator: ",")
        options["hostaddr"] = hostAddresses.joined(separator: ",")
        let pairs = Array(options)
        let keywords = pairs.map { strdup($0.key) } + [nil]
        let values = pairs.map { strdup($0.value) } + [nil]
        defer { for pointer in keywords + values { free(pointer) } }
        return keywords.withUnsafeBufferPointer { keywordPointers in
            values.withUnsafeBufferPointer { valuePointers in
                keywordPointers.withMemoryRebound(to: UnsafePointer<CChar>?.self) { keys in
                    valuePointers.withMemoryRebound(to: UnsafePointer<CChar>?.self) { vals in
                        PQconnectStartParams(keys.baseAddress, vals.baseAddress, 0)
                    }
                }
            }
        }
    }

    deinit {
        if let connection { PQfinish(connection) }
    }

    /// Starts connecting. The state goes to `.ready` or `.closed` through the loop's calls.
    public func start() {
        guard !started else { return }
        started = true
        defer { settle() }
        guard let connection = startConnecting() else {
            lose(PostgresError(.connection, "out of memory starting a connection"))
            return
        }
        self.connection = connection
        if PQstatus(connection) == CONNECTION_BAD {
            lose(PostgresError(.connection, errorMessage()))
            return
        }
        connectWantsWrite = true
    }

    /// The server process serving this connection (0 before it is ready): a notification whose
    /// `senderPID` is this one was sent by this connection's own transaction.
    public var serverPID: Int32 {
        guard let connection, state == .ready else { return 0 }
        return PQbackendPID(connection)
    }

    /// Number of statements executed but not answered yet (open transaction included), not
    /// counting the connection's own (`BEGIN`, `COMMIT`, a `Parse`).
    public var pendingStatements: Int {
        open.statements.count + unsent.reduce(0) { $0 + $1.statements.count }
            + inFlight.items.reduce(0) { count, entry in
                if case .statement(let statement) = entry, !statement.isControl { return count + 1 }
                return count
            }
    }

    /// Whether the open transaction has statements that `commit` has not sent yet.
    public var hasOpenTransaction: Bool { !open.statements.isEmpty }

    // MARK: Statements

    /// Adds a statement to the open transaction. Nothing is sent before `commit()`.
    /// `sql` is one statement with `$1`, `$2`, … for `parameters`.
    public func execute(_ sql: String, _ parameters: [PostgresValue] = [], completion: @escaping Completion) {
        defer { settle() }
        let statement = Statement(sql: sql, parameters: parameters, completion: completion)
        guard state != .closed else {
            let error = closedError
            callbacks.append { completion(.failure(error)) }
            return
        }
        open.statements.append(statement)
    }

    /// Adds a statement made elsewhere (see `PostgresStatement`) to the open transaction.
    public func execute(_ statement: PostgresStatement) {
        execute(statement.sql, statement.parameters, completion: statement.completion)
    }

    /// Ends the open transaction and sends it. `completion` runs once it has committed, or
    /// failed (after the completions of its statements).
    public func commit(_ completion: ((Result<Void, PostgresError>) -> Void)? = nil) {
        defer { settle() }
        let transaction = open
        open = Transaction()
        transaction.completion = completion
        guard state != .closed else {
            fail(transaction, closedError)
            return
        }
        if transaction.statements.isEmpty && completion == nil { return }
        unsent.append(transaction)
        if state == .ready { sendUnsent() }
    }

    /// Ends the open transaction and sends it in two steps (see the type's documentation):
    /// once its statements' completions have run, `finishing` gives the statements that join
    /// it before `COMMIT`. `completion` runs once it has committed or failed. A transaction
    /// sent again after a deadlock has a first step only: its completions have not run.
    /// `opening` go first, right after `BEGIN` (settings for the transaction, say).
    public func commit(
        opening: [PostgresStatement] = [], finishing: @escaping () -> [PostgresStatement],
        _ completion: ((Result<Void, PostgresError>) -> Void)? = nil
    ) {
        guard hasOpenTransaction else { return commit(completion) }
        let first = [Statement(control: "BEGIN")] + opening.map { Statement(sql: $0.sql, parameters: $0.parameters, completion: $0.completion) }
        open.statements.insert(contentsOf: first, at: 0)
        open.finishing = finishing
        commit(completion)
    }

    /// One statement in a transaction of its own (it commits the open transaction with it).
    public func query(_ sql: String, _ parameters: [PostgresValue] = [], completion: @escaping Completion) {
        execute(sql, parameters, completion: completion)
        commit()
    }

    /// Closes the connection as lost (whatever is unanswered fails, `.connection` if it was
    /// sent) when the server has said nothing for more than `limit` ms while it owes an answer
    /// or the connection is still being made. libpq has no such deadline of its own in
    /// non-blocking mode (`connect_timeout` is for blocking connects only): a server that stops
    /// (SIGSTOP, a hung disk) or vanishes without closing the socket (a dead host, a
    /// partition) would keep every caller waiting until TCP gives up, hours later. The owner
    /// calls this from a timer, `now` on a clock of its choosing (monotonic, in ms); the
    /// silence is counted from the first call that finds the connection waiting, so it is
    /// noticed between `limit` and `limit` plus the timer's period. True if it closed it.
    @discardableResult
    public func closeIfSilent(longerThan limit: Int64, now: Int64) -> Bool {
        defer { settle() }
        let waiting: Bool
        switch state {
        case .connecting: waiting = started
        case .ready: waiting = !inFlight.isEmpty || outputPending
        case .closed: waiting = false
        }
        guard waiting else {
            silentSince = nil
            return false
        }
        guard let since = silentSince else {
            silentSince = now
            return false
        }
        guard now - since > limit else { return false }
        let seconds = limit % 1000 == 0 ? "\(limit / 1000) s" : "\(limit) ms"
        lose(
            PostgresError(
                .connection,
                state == .connecting
                    ? "no connection to the database within \(seconds) (the server does not answer)"
                    : "no answer from the database for \(seconds) (the server stopped answering, or cannot be reached)"))
        return true
    }

    /// Closes the connection; whatever is unanswered fails (`.connection` if it was sent).
    /// `reason`: why the owner gives it up (another connection to the same server was found
    /// lost, say), which the unanswered are told instead of a bare "closed".
    public func close(because reason: String? = nil) {
        defer { settle() }
        guard state != .closed else { return }
        lose(reason.map { PostgresError(.connection, $0) })
    }

    // MARK: Driven by the owner's loop

    public func socketReadable() {
        defer { settle() }
        silentSince = nil
        switch state {
        case .connecting: advanceConnect()
        case .ready:
            guard let connection else { return }
            if PQconsumeInput(connection) == 0 {
                // What was already read can still complete statements before the loss is told.
                readResults()
                lose(PostgresError(.connection, errorMessage()))
                return
            }
            readResults()
            readNotifications()
            if outputPending { flush() }
            checkAlive()
        case .closed: break
        }
    }

    public func socketWritable() {
        defer { settle() }
        switch state {
        case .connecting:
            silentSince = nil
            advanceConnect()
        case .ready:
            flush()
            checkAlive()
        case .closed: break
        }
    }

    // MARK: Connecting

    private func advanceConnect() {
        guard let connection else { return }
        let status = PQconnectPoll(connection)
        if status == PGRES_POLLING_READING {
            connectWantsWrite = false
        } else if status == PGRES_POLLING_WRITING {
            connectWantsWrite = true
        } else if status == PGRES_POLLING_OK {
            becomeReady()
        } else {
            lose(PostgresError(.connection, errorMessage()))
        }
    }

    private func becomeReady() {
        guard let connection else { return }
        guard PQsetnonblocking(connection, 1) == 0, PQenterPipelineMode(connection) == 1 else {
            lose(PostgresError(.connection, "cannot enter non-blocking pipeline mode: \(errorMessage())"))
            return
        }
        // Notices (`... already exists, skipping`) would go to stderr otherwise.
        PQsetNoticeReceiver(connection, { _, _ in }, nil)
        state = .ready
        let onStateChange = self.onStateChange
        callbacks.append { onStateChange?(.ready) }
        sendUnsent()
    }

    // MARK: Sending

    private func sendUnsent() {
        guard let connection else { return }
        while openInDatabase == nil, let transaction = unsent.first {
            for statement in transaction.statements where shouldPrepare(statement) {
                guard prepare(statement.sql, on: connection) else { return lose(PostgresError(.connection, errorMessage())) }
            }
            var sent = 0
            for statement in transaction.statements {
                guard send(statement, on: connection) else {
                    abandonSend(sent)
                    return
                }
                inFlight.append(.statement(statement))
                sent += 1
            }
            guard PQpipelineSync(connection) == 1 else {
                abandonSend(sent)
                return
            }
            unsent.removeFirst()
            inFlight.append(.end(transaction))
            if transaction.finishing != nil && transaction.step == .first { openInDatabase = transaction }
        }
        flush()
    }

    /// A two-step transaction's first step ended. If it failed, it is rolled back (an
    /// explicit block outlives its `Sync`) and ends as a whole one does; otherwise its
    /// statements' completions run, then its second step goes out.
    private func firstStepEnded(_ transaction: Transaction) {
        guard transaction.culprit == nil else {
            openInDatabase = nil
            sendControl("ROLLBACK")
            finish(transaction)
            sendUnsent()
            return
        }
        callbacks.append { [weak self] in self?.isTellingUncommittedResults = true }
        for statement in transaction.statements {
            let completion = statement.completion
            let result = statement.result ?? PostgresResult(columns: [], rows: [], affectedRows: nil)
            callbacks.append { completion(.success(result)) }
        }
        callbacks.append { [weak self] in self?.sendSecondStep(transaction) }
    }

    private func sendSecondStep(_ transaction: Transaction) {
        isTellingUncommittedResults = false
        let finishing = transaction.finishing?() ?? []
        transaction.statements = finishing.map { Statement(sql: $0.sql, parameters: $0.parameters, completion: $0.completion) }
        transaction.statements.append(Statement(control: "COMMIT"))
        transaction.step = .second
        transaction.resends = resendLimit  // its first step's completions ran: it cannot go again
        // The connection may have been lost meanwhile: then the block was never committed.
        guard openInDatabase === transaction, state == .ready, let connection else { return fail(transaction, closedError) }
        openInDatabase = nil
        var sent = 0
        for statement in transaction.statements {
            guard send(statement, on: connection) else {
                abandonSend(sent)
                return fail(transaction, closedError)
            }
            inFlight.append(.statement(statement))
            sent += 1
        }
        guard PQpipelineSync(connection) == 1 else {
            abandonSend(sent)
            return fail(transaction, closedError)
        }
        inFlight.append(.end(transaction))
        // If the second step fails before its COMMIT, the block stays open and aborted: what is
        // sent behind it must not run inside. A ROLLBACK after a COMMIT only warns.
        sendControl("ROLLBACK")
        sendUnsent()
    }

    /// A statement of the connection's own, in a transaction of its own, whose answer nobody needs.
    private func sendControl(_ sql: String) {
        guard let connection else { return }
        let statement = Statement(control: sql)
        guard send(statement, on: connection) else { return abandonSend(0) }
        inFlight.append(.statement(statement))
        guard PQpipelineSync(connection) == 1 else { return abandonSend(1) }
        inFlight.append(.end(Transaction()))
        flush()
    }

    private func shouldPrepare(_ statement: Statement) -> Bool {
        !statement.isControl && preparation.count - failedParses < Self.preparedLimit && statement.sql.utf8.count <= Self.preparableLength
            && preparation[statement.sql] == nil
    }

    /// Sends the `Parse` of `sql` in a segment of its own; statements sent once the server has
    /// confirmed it name it.
    private func prepare(_ sql: String, on connection: OpaquePointer) -> Bool {
        let name = "docket_\(preparation.count)"
        let parse = Statement(control: sql)
        let segment = Transaction()
        segment.statements = [parse]
        segment.completion = { [weak self] result in
            switch result {
            case .success: self?.preparation[sql] = .prepared(name: name)
            case .failure:
                self?.preparation[sql] = .failed
                self?.failedParses += 1
            }
        }
        guard PQsendPrepare(connection, name, sql, 0, nil) == 1 else { return false }
        inFlight.append(.statement(parse))
        guard PQpipelineSync(connection) == 1 else { return false }
        inFlight.append(.end(segment))
        preparation[sql] = .pending
        return true
    }

    /// Sending failed part-way through a transaction: without its `Sync` it cannot commit, so
    /// it counts as never sent.
    private func abandonSend(_ sent: Int) {
        inFlight.removeLast(sent)
        lose(PostgresError(.connection, errorMessage()))
    }

    private func send(_ statement: Statement, on connection: OpaquePointer) -> Bool {
        let count = statement.parameters.count
        var values: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        values.reserveCapacity(count)
        defer { for value in values { value?.deallocate() } }
        for parameter in statement.parameters {
            switch parameter {
            case .null:
                values.append(nil)
                lengths.append(0)
                formats.append(0)
            case .text(let text):
                let utf8 = Array(text.utf8)
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
                utf8.withUnsafeBufferPointer { source in
                    UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress!, byteCount: utf8.count)
                }
                buffer[utf8.count] = 0
                values.append(buffer)
                lengths.append(0)
                formats.append(0)
            case .binary(let bytes):
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
                bytes.withUnsafeBufferPointer { source in
                    if let base = source.baseAddress {
                        UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count)
                    }
                }
                values.append(buffer)
                lengths.append(Int32(bytes.count))
                formats.append(1)
            }
        }
        let constValues = values.map { UnsafePointer($0) }
        if !statement.isControl, case .prepared(let name)? = preparation[statement.sql] {
            return PQsendQueryPrepared(connection, name, Int32(count), constValues, lengths, formats, 0) == 1
        }
        return PQsendQueryParams(connection, statement.sql, Int32(count), nil, constValues, lengths, formats, 0) == 1
    }

    private func flush() {
        guard let connection else { return }
        switch PQflush(connection) {
        case 0: outputPending = false
        case 1: outputPending = true
        default: lose(PostgresError(.connection, errorMessage()))
        }
    }

    // MARK: Receiving

    private func readResults() {
        guard let connection else { return }
        while let front = inFlight.first {
            guard PQisBusy(connection) == 0 else { return }
            guard let result = PQgetResult(connection) else {
                // A statement's results end with a NULL. Any other NULL means libpq has
                // nothing more for now.
                if case .statement(let statement) = front, statement.answered {
                    inFlight.removeFirst()
                    continue
                }
                if case .end(let transaction) = front, transaction.commitError != nil, !transaction.nudged {
                    // When the commit itself fails, the transaction's end does not come until
                    // the server hears more: an empty transaction (one more `Sync`) brings it.
                    transaction.nudged = true
                    guard PQpipelineSync(connection) == 1 else {
                        lose(PostgresError(.connection, errorMessage()))
                        return
                    }
                    inFlight.append(.end(Transaction()))
                    flush()
                }
                return
            }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            switch front {
            case .statement(let statement):
                if status == PGRES_PIPELINE_SYNC {
                    // Cannot happen while libpq and this queue agree; if they ever do not, the
                    // connection cannot be trusted.
                    lose(PostgresError(.connection, "pipeline out of step: a transaction ended before its statements"))
                    return
                }
                statement.answered = true
                if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY {
                    statement.result = Self.rows(of: result)
                } else if status == PGRES_PIPELINE_ABORTED {
                    statement.error = PostgresError(.aborted, "not run: an earlier statement of its transaction failed")
                } else {
                    statement.error = Self.serverError(result)
                }
            case .end(let transaction):
                if status == PGRES_PIPELINE_SYNC {
                    inFlight.removeFirst()
                    if transaction.finishing != nil && transaction.step == .first {
                        firstStepEnded(transaction)
                    } else {
                        finish(transaction)
                    }
                } else if status != PGRES_PIPELINE_ABORTED {
                    // The commit itself failed (a deferred constraint, a serialization failure).
                    transaction.commitError = Self.serverError(result)
                }
            }
        }
    }

    private func readNotifications() {
        guard let connection else { return }
        while let notify = PQnotifies(connection) {
            let notification = PostgresNotification(
                channel: String(cString: notify.pointee.relname), payload: String(cString: notify.pointee.extra),
                senderPID: notify.pointee.be_pid)
            PQfreemem(notify)
            let onNotification = self.onNotification
            callbacks.append { onNotification?(notification) }
        }
    }

    /// A connection whose server went away can say so only through its status.
    private func checkAlive() {
        guard state == .ready, let connection, PQstatus(connection) == CONNECTION_BAD else { return }
        lose(PostgresError(.connection, errorMessage()))
    }

    /// A transaction's end arrived: its statements' completions, then its own; or, if the
    /// server gave it up to break a deadlock, it goes again.
    private func finish(_ transaction: Transaction) {
        let culprit = transaction.culprit
        if let culprit, culprit.sqlState == "40P01" || culprit.sqlState == "40001", transaction.resends < resendLimit {
            transaction.resends += 1
            resentTransactions += 1
            for statement in transaction.statements {
                statement.answered = false
                statement.result = nil
                statement.error = nil
            }
            transaction.commitError = nil
            transaction.nudged = false
            unsent.append(transaction)
            if state == .ready { sendUnsent() }
            return
        }
        for statement in transaction.statements {
            let completion = statement.completion
            if let culprit {
                let error: PostgresError
                if let own = statement.error {
                    error = own
                } else {
                    error = PostgresError(
                        .rolledBack, "rolled back: \(culprit.message)", sqlState: culprit.sqlState, detail: culprit.detail)
                }
                callbacks.append { completion(.failure(error)) }
            } else if let result = statement.result {
                callbacks.append { completion(.success(result)) }
            } else {
                callbacks.append { completion(.failure(PostgresError(.connection, "no result for a statement"))) }
            }
        }
        if let completion = transaction.completion {
            let outcome: Result<Void, PostgresError> = culprit.map { .failure($0) } ?? .success(())
            callbacks.append { completion(outcome) }
        }
    }

    private func fail(_ transaction: Transaction, _ error: PostgresError) {
        for statement in transaction.statements {
            let completion = statement.completion
            callbacks.append { completion(.failure(error)) }
        }
        if let completion = transaction.completion { callbacks.append { completion(.failure(error)) } }
    }

    // MARK: Failure

    private var closedError: PostgresError {
        PostgresError(.closed, "the connection is closed" + (failure.map { ": \($0.message)" } ?? ""))
    }

    /// Ends the connection: everything unanswered fails. `error` nil: the owner closed it.
    private func lose(_ error: PostgresError?) {
        guard state != .closed else { return }
        failure = error
        state = .closed
        let sentError = error ?? PostgresError(.connection, "the connection was closed before the answer came")
        // Statements already sent: their transaction's fate is unknown.
        while let entry = inFlight.popFirst() {
            guard case .end(let transaction) = entry else { continue }
            for statement in transaction.statements {
                let completion = statement.completion
                callbacks.append { completion(.failure(sentError)) }
            }
            if let completion = transaction.completion { callbacks.append { completion(.failure(sentError)) } }
        }
        // A two-step transaction between its steps: its second step finds the connection closed.
        openInDatabase = nil
        let neverSent = closedError
        for transaction in unsent { fail(transaction, neverSent) }
        unsent.removeAll()
        fail(open, neverSent)
        open = Transaction()
        if let connection {
            PQfinish(connection)
            self.connection = nil
        }
        let onStateChange = self.onStateChange
        callbacks.append { onStateChange?(.closed) }
    }

    private func errorMessage() -> String {
        guard let connection, let message = PQerrorMessage(connection) else { return "unknown error" }
        let text = String(cString: message)
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    // MARK: After every call

    /// Works out the interest and runs the callbacks the call produced. Callbacks may call back
    /// into the connection; their own callbacks run in the same drain.
    private func settle() {
        updateInterest()
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while !callbacks.isEmpty {
            let batch = callbacks
            callbacks.removeAll()
            for callback in batch { callback() }
            updateInterest()
        }
    }

    private func updateInterest() {
        let next: Interest
        switch state {
        case .closed:
            next = .none
        case .connecting:
            guard let connection, started else {
                next = .none
                break
            }
            let socket = PQsocket(connection)
            next = Interest(socket: socket, read: !connectWantsWrite, write: connectWantsWrite)
        case .ready:
            next = Interest(socket: connection.map { PQsocket($0) } ?? -1, read: true, write: outputPending)
        }
        guard next != interest else { return }
        interest = next
        guard let onInterestChange else { return }
        callbacks.append { [weak self] in
            // Only the latest interest is worth telling.
            guard let self, self.interest == next else { return }
            onInterestChange(next)
        }
    }

    // MARK: Results

    private static func rows(of result: OpaquePointer) -> PostgresResult {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(PQfname(result, Int32(column)).map { String(cString: $0) } ?? "")
        }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) != 0 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            rows.append(PostgresRow(values))
        }
        let affected = PQcmdTuples(result).flatMap { Int(String(cString: $0)) }
        return PostgresResult(columns: columns, rows: rows, affectedRows: affected)
    }

    private static func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        let message = field("M") ?? PQresultErrorMessage(result).map { String(cString: $0) } ?? "error"
        return PostgresError(.server, message, sqlState: field("C"), detail: field("D"))
    }
}

/// A statement waiting for its answer.
private final class Statement {
    let sql: String
    let parameters: [PostgresValue]
    let completion: PostgresConnection.Completion
    /// The connection's own (`BEGIN`, `COMMIT`, `ROLLBACK`, a `Parse`): never prepared.
    let isControl: Bool
    var answered = false
    var result: PostgresResult?
    var error: PostgresError?

    init(sql: String, parameters: [PostgresValue], isControl: Bool = false, completion: @escaping PostgresConnection.Completion) {
        self.sql = sql
        self.parameters = parameters
        self.isControl = isControl
        self.completion = completion
    }

    convenience init(control sql: String) {
        self.init(sql: sql, parameters: [], isControl: true) { _ in }
    }
}

/// A statement to add to a two-step transaction before it commits (`commit(finishing:)`).
public struct PostgresStatement {
    public var sql: String
    public var parameters: [PostgresValue]
    public var completion: PostgresConnection.Completion

    public init(_ sql: String, _ parameters: [PostgresValue] = [], completion: @escaping PostgresConnection.Completion) {
        self.sql = sql
        self.parameters = parameters
        self.completion = completion
    }
}

/// Statements that commit together.
private final class Transaction {
    var statements: [Statement] = []
    var completion: ((Result<Void, PostgresError>) -> Void)?
    var commitError: PostgresError?
    /// An empty transaction was sent after it to bring its end (see `readResults`).
    var nudged = false
    /// Times it was sent again after a deadlock (see `finish`).
    var resends = 0
    /// Set for a transaction committed in two steps: the statements that end it.
    var finishing: (() -> [PostgresStatement])?
    var step = Step.first

    enum Step {
        /// Its statements, or for a two-step transaction the first of them, open in the database.
        case first
        /// A two-step transaction's `finishing` statements and `COMMIT`.
        case second
    }

    /// The error that failed it: a statement's own (not one skipped for an earlier failure),
    /// or its commit's.
    var culprit: PostgresError? {
        statements.lazy.compactMap { statement -> PostgresError? in
            guard let error = statement.error, error.kind != .aborted else { return nil }
            return error
        }.first ?? commitError
    }
}

private enum InFlight {
    case statement(Statement)
    /// The `Sync` that ends a transaction.
    case end(Transaction)
}

/// First in, first out, with O(1) amortised removal at the front.
struct FIFOQueue<Element> {
    private var storage: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var first: Element? { head < storage.count ? storage[head] : nil }
    var items: ArraySlice<Element> { storage[head...] }

    mutating func append(_ element: Element) { storage.append(element) }

    mutating func removeLast(_ count: Int) { storage.removeLast(count) }

    @discardableResult
    mutating func removeFirst() -> Element? { popFirst() }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head > 64 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }
}
