/// A command awaiting one reply, made once and run by either flavour of the client: the bytes
/// (already checked: building one throws `badArgument` before anything is sent), the kind of
/// reply that answers it, how long the server itself may hold it, and how its reply reads.
/// `DocketConnection` runs it blocking, `AsyncDocketConnection` awaiting.
struct Command<T: Sendable>: Sendable {
    let bytes: [UInt8]
    let kind: CommandKind
    /// How long the server may hold the command before it answers (RESERVE and WAIT with a
    /// timeout), in ms; nil for a command the server answers at once.
    var serverWait: Int? = nil
    /// RESERVE and WAIT without a timeout: no deadline at all.
    var waitsForever = false
    let read: @Sendable (Reply) throws(DocketError) -> T

    /// Whether the server stops reading the connection until it answers (a RESERVE or WAIT that
    /// may wait).
    var holdsConnection: Bool { waitsForever || (serverWait ?? 0) > 0 }
}

/// The job verbs, as commands (PROTOCOL.md 4b).
enum Commands {
    static func unexpected() -> DocketError { .protocolViolation("a reply of the wrong kind") }

    static func checkPayload(_ count: Int, limit: Int) throws(DocketError) {
        guard count <= limit else { throw .badArgument("\(count) bytes is more than the server's max_payload of \(limit)") }
    }

    private static func ok(_ bytes: [UInt8], _ kind: CommandKind) -> Command<Void> {
        Command(bytes: bytes, kind: kind) { _ in }
    }

    private static func json<T: Sendable>(_ bytes: [UInt8], _ kind: CommandKind, _ make: @escaping @Sendable (JSONValue, [UInt8]) throws(DocketError) -> T)
        -> Command<T>
    {
        Command(bytes: bytes, kind: kind) { (reply: Reply) throws(DocketError) -> T in
            guard case .json(let value, let raw) = reply else { throw unexpected() }
            return try make(value, raw)
        }
    }

    private static func array<T: Sendable>(_ bytes: [UInt8], _ kind: CommandKind, _ make: @escaping @Sendable (JSONValue) -> T) -> Command<[T]> {
        json(bytes, kind) { (value: JSONValue, _: [UInt8]) throws(DocketError) -> [T] in
            guard case .array(let items) = value else { throw unexpected() }
            return items.map(make)
        }
    }

    static func ping() -> Command<Void> { ok(Wire.ping(), .ping) }

    static func enqueue(_ queue: String, _ payload: [UInt8], _ options: JobOptions, limit: Int) throws(DocketError) -> Command<Enqueued> {
        let bytes = try Wire.enqueue(queue: queue, payload: payload, options: options)
        try checkPayload(payload.count, limit: limit)
        return Command(bytes: bytes, kind: .enqueue) { (reply: Reply) throws(DocketError) -> Enqueued in
            guard case .enqueued(let result) = reply else { throw unexpected() }
            return result
        }
    }

    static func batch(_ jobs: [DocketConnection.JobRequest], limit: Int) throws(DocketError) -> Command<[UInt64]> {
        let bytes = try Wire.batch(jobs, maxPayload: limit)
        let count = jobs.count
        return Command(bytes: bytes, kind: .batch) { (reply: Reply) throws(DocketError) -> [UInt64] in
            guard case .ids(let ids) = reply else { throw unexpected() }
            guard ids.count == count else { throw .protocolViolation("a batch of \(count) jobs was answered with \(ids.count) ids") }
            return ids
        }
    }

    static func reserve(_ queues: [String], timeout: DocketDuration?) throws(DocketError) -> Command<Job?> {
        Command(
            bytes: try Wire.reserve(queues: queues, timeout: timeout), kind: .reserve, serverWait: timeout.map { $0.milliseconds ?? 0 },
            waitsForever: timeout == nil
        ) { (reply: Reply) throws(DocketError) -> Job? in
            guard case .job(let job) = reply else { throw unexpected() }
            return job
        }
    }

    static func ack(_ id: UInt64, attempt: Int?, result: [UInt8]?, limit: Int) throws(DocketError) -> Command<Void> {
        let bytes = try Wire.ack(id: id, attempt: attempt, result: result)
        try checkPayload(result?.count ?? 0, limit: limit)
        return ok(bytes, .ack)
    }

    private static func failOutcome(_ bytes: [UInt8], _ kind: CommandKind) -> Command<FailOutcome> {
        Command(bytes: bytes, kind: kind) { (reply: Reply) throws(DocketError) -> FailOutcome in
            guard case .fail(let outcome) = reply else { throw unexpected() }
            return outcome
        }
    }

    static func fail(_ id: UInt64, attempt: Int?, reason: [UInt8]?, retry: RetryPolicy, limit: Int) throws(DocketError) -> Command<FailOutcome> {
        let bytes = try Wire.fail(id: id, attempt: attempt, reason: reason, retry: retry)
        try checkPayload(reason?.count ?? 0, limit: limit)
        return failOutcome(bytes, .fail)
    }

    static func throttle(_ id: UInt64, attempt: Int?, for hold: DocketDuration, scope: ThrottleScope?, reason: [UInt8]?, limit: Int)
        throws(DocketError) -> Command<FailOutcome>
    {
        let bytes = try Wire.fail(id: id, attempt: attempt, reason: reason, throttle: hold, scope: scope?.rawValue)
        try checkPayload(reason?.count ?? 0, limit: limit)
        return failOutcome(bytes, .throttle)
    }

    static func progress(_ id: UInt64, percent: Int, attempt: Int?, note: String?, limit: Int) throws(DocketError) -> Command<Void> {
        let bytes = try Wire.progress(id: id, percent: percent, attempt: attempt, note: note.map { Array($0.utf8) })
        try checkPayload(note?.utf8.count ?? 0, limit: limit)
        return ok(bytes, .progress)
    }

    static func touch(_ id: UInt64, attempt: Int?) throws(DocketError) -> Command<Void> { ok(try Wire.touch(id: id, attempt: attempt), .touch) }

    static func inspect(_ id: UInt64) throws(DocketError) -> Command<JobInfo> {
        json(try Wire.inspect(id: id), .inspect) { value, _ in JobInfo(value) }
    }

    static func inspectRaw(_ id: UInt64) throws(DocketError) -> Command<[UInt8]> {
        json(try Wire.inspect(id: id), .inspect) { _, raw in raw }
    }

    static func dead(_ queue: String, limit: Int?) throws(DocketError) -> Command<[JobInfo]> {
        array(try Wire.dead(queue: queue, limit: limit), .dead, JobInfo.init)
    }

    static func retry(_ id: UInt64) throws(DocketError) -> Command<Void> { ok(try Wire.retry(id: id), .retry) }

    static func retryAll(queue: String) throws(DocketError) -> Command<Int> {
        Command(bytes: try Wire.retryQueue(queue: queue), kind: .retryQueue) { (reply: Reply) throws(DocketError) -> Int in
            guard case .count(let count) = reply else { throw unexpected() }
            return count
        }
    }

    static func delete(_ id: UInt64) throws(DocketError) -> Command<Void> { ok(try Wire.delete(id: id), .delete) }

    static func wait(_ id: UInt64, timeout: DocketDuration?) throws(DocketError) -> Command<WaitOutcome> {
        Command(
            bytes: try Wire.wait(id: id, timeout: timeout), kind: .wait, serverWait: timeout.map { $0.milliseconds ?? 0 },
            waitsForever: timeout == nil
        ) { (reply: Reply) throws(DocketError) -> WaitOutcome in
            guard case .wait(_, let outcome) = reply else { throw unexpected() }
            return outcome
        }
    }

    static func queue(_ name: String) throws(DocketError) -> Command<QueueInfo> {
        json(try Wire.queue(name), .queueShow) { value, _ in QueueInfo(value) }
    }

    static func queueRaw(_ name: String) throws(DocketError) -> Command<[UInt8]> {
        json(try Wire.queue(name), .queueShow) { _, raw in raw }
    }

    static func setQueue(_ name: String, _ settings: [QueueSetting]) throws(DocketError) -> Command<Void> {
        ok(try Wire.setQueue(name, settings: settings), .queueSet)
    }

    static func pause(_ name: String) throws(DocketError) -> Command<Void> { ok(try Wire.pause(name), .pause) }
    static func resume(_ name: String) throws(DocketError) -> Command<Void> { ok(try Wire.resume(name), .resume) }
    static func queues(after: String?, limit: Int?) throws(DocketError) -> Command<[QueueInfo]> {
        array(try Wire.namePage("QUEUES", after: after, limit: limit), .queues, QueueInfo.init)
    }
    static func stats() -> Command<ServerStats> { json(Wire.stats(), .stats) { value, _ in ServerStats(value) } }
    static func statsRaw() -> Command<[UInt8]> { json(Wire.stats(), .stats) { _, raw in raw } }

    static func route(_ pattern: String, to queue: String, options: JobOptions) throws(DocketError) -> Command<UInt64> {
        Command(bytes: try Wire.route(pattern: pattern, queue: queue, options: options), kind: .route) {
            (reply: Reply) throws(DocketError) -> UInt64 in
            guard case .routeID(let id) = reply else { throw unexpected() }
            return id
        }
    }

    static func unroute(_ id: UInt64) throws(DocketError) -> Command<Void> { ok(try Wire.unroute(id: id), .unroute) }

    static func list(_ queue: String, state: JobState?, after: String?, limit: Int?) throws(DocketError) -> Command<JobPage> {
        json(try Wire.list(queue: queue, state: state, after: after, limit: limit), .list) { value, _ in JobPage(value) }
    }

    static func listRaw(_ queue: String, state: JobState?, after: String?, limit: Int?) throws(DocketError) -> Command<[UInt8]> {
        json(try Wire.list(queue: queue, state: state, after: after, limit: limit), .list) { _, raw in raw }
    }

    static func purge(_ queue: String, state: JobState, older: DocketDuration?) throws(DocketError) -> Command<Int> {
        Command(bytes: try Wire.purge(queue: queue, state: state, older: older), kind: .purge) { (reply: Reply) throws(DocketError) -> Int in
            guard case .count(let count) = reply else { throw unexpected() }
            return count
        }
    }

    static func promote(_ id: UInt64) throws(DocketError) -> Command<Void> { ok(try Wire.promote(id: id), .promote) }

    static func parents(_ id: UInt64) throws(DocketError) -> Command<[ParentInfo]> {
        array(try Wire.parents(id: id), .parents, ParentInfo.init)
    }

    static func children(_ id: UInt64, after: UInt64?, limit: Int?) throws(DocketError) -> Command<ChildrenPage> {
        json(try Wire.children(id: id, after: after, limit: limit), .children) { value, _ in ChildrenPage(value) }
    }

    static func parentsRaw(_ id: UInt64) throws(DocketError) -> Command<[UInt8]> {
        json(try Wire.parents(id: id), .parents) { _, raw in raw }
    }

    static func schedule(
        _ name: String, queue: String, when: ScheduleTiming, catchup: ScheduleCatchup?, options: JobOptions, payload: [UInt8], limit: Int
    ) throws(DocketError) -> Command<Void> {
        let bytes = try Wire.schedule(name: name, queue: queue, when: when, catchup: catchup, options: options, payload: payload)
        try checkPayload(payload.count, limit: limit)
        return ok(bytes, .schedule)
    }

    static func unschedule(_ name: String) throws(DocketError) -> Command<Void> { ok(try Wire.unschedule(name: name), .unschedule) }
    static func schedules(after: String?, limit: Int?) throws(DocketError) -> Command<[ScheduleInfo]> {
        array(try Wire.schedules(after: after, limit: limit), .schedules, ScheduleInfo.init)
    }
    static func schedulesRaw(after: String?, limit: Int?) throws(DocketError) -> Command<[UInt8]> {
        json(try Wire.schedules(after: after, limit: limit), .schedules) { _, raw in raw }
    }
    static func pauseSchedule(_ name: String) throws(DocketError) -> Command<Void> { ok(try Wire.pauseSchedule(name: name), .pauseSchedule) }
    static func resumeSchedule(_ name: String) throws(DocketError) -> Command<Void> { ok(try Wire.resumeSchedule(name: name), .resumeSchedule) }
    static func routes(after: UInt64?, limit: Int?) throws(DocketError) -> Command<[RouteInfo]> {
        array(try Wire.routes(after: after, limit: limit), .routes, RouteInfo.init)
    }

    static func help() -> Command<String> {
        Command(bytes: Wire.help(), kind: .help) { (reply: Reply) throws(DocketError) -> String in
            guard case .help(let text) = reply else { throw unexpected() }
            return text
        }
    }

    /// The job ids of a route's answer to a publish with a reply subject: `{"jobs":[<id>,...]}`,
    /// or the store's refusal (`{"jobs":[],"error":{"code":…,"message":…}}`) as `.server`.
    static func routedJobs(_ message: Message) throws(DocketError) -> [UInt64] {
        guard let document = message.payload.withUnsafeBytes({ JSONValue.parse($0) }), case .array(let ids)? = document["jobs"] else {
            throw .protocolViolation("the routed-jobs answer has no jobs array")
        }
        if let error = document["error"], error != .null {
            guard let code = error["code"]?.stringValue else { throw .protocolViolation("the routed-jobs answer has a malformed error") }
            throw .server(code: ServerErrorCode(code), message: error["message"]?.stringValue ?? "")
        }
        return try ids.map { (id: JSONValue) throws(DocketError) -> UInt64 in
            guard let number = id.numberValue, number >= 1, number == number.rounded(), number < 1e19 else {
                throw .protocolViolation("the routed-jobs answer has an id that is not a positive integer")
            }
            return UInt64(number)
        }
    }

    /// Whether a message body looks like a route's `{"jobs":[...]}` (rather than a subscriber's
    /// answer), or is the server's no-responders status (nothing took the message).
    static func isRoutedJobs(_ message: Message) -> Bool {
        if message.status == 503, message.payload.isEmpty { return true }
        guard message.payload.first == UInt8(ascii: "{"), let document = message.payload.withUnsafeBytes({ JSONValue.parse($0) }),
            case .array? = document["jobs"]
        else { return false }
        return true
    }
}
