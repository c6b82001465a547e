import DocketEngine
import DocketPostgres
import DocketStore
import DocketWire

/// The bridge between the two halves: job lifecycle events published on `$JOB.<queue>.<event>`,
/// routes that turn published messages into jobs, and the job verbs as request/reply on
/// `$DOCKET.API.…` for stock NATS clients.
extension Server {
    // MARK: Lifecycle events

    /// Counts subscriptions that could receive `$JOB.…` subjects, so lifecycle events cost
    /// nothing while nobody listens.
    func noteLifecycleInterest(_ subscription: Subscription, added: Bool) {
        let first = subscription.subject.split(separator: Byte.dot, maxSplits: 1).first.map(Array.init) ?? []
        guard first == Array("$JOB".utf8) || first == [Byte.star] || first == [Byte.greater] else { return }
        lifecycleListeners += added ? 1 : -1
        refreshLifecycleRecording()
    }

    /// Publishes lifecycle events as ordinary messages. Slow subscribers are cut off by the
    /// usual slow-consumer rules; nothing here ever waits for one.
    func publishLifecycle(_ events: [LifecycleEvent]) {
        guard !events.isEmpty else { return }
        var subject: [UInt8] = []
        var body: [UInt8] = []
        subject.reserveCapacity(64)
        body.reserveCapacity(256)
        for event in events {
            subject.removeAll(keepingCapacity: true)
            subject.append(contentsOf: "$JOB.".utf8)
            subject.append(contentsOf: event.queue.utf8)
            subject.append(Byte.dot)
            subject.append(contentsOf: event.kind.rawValue.utf8)
            body.removeAll(keepingCapacity: true)
            event.appendJSON(to: &body)
            dashboard?.record(queue: event.queue, id: event.id, json: Dashboard.kept(event, published: body))
            // Jobs belong to no account: their events go to every one (read rights decide).
            for account in allAccounts {
                subject.withUnsafeBytes { subject in
                    body.withUnsafeBytes { body in _ = fanOut(subject, nil, body, nil, from: nil, in: account) }
                }
            }
        }
    }

    // MARK: Routes

    /// Why a new route with this pattern cannot be made, if it cannot.
    func routeRefusal(_ pattern: [UInt8]) -> JobError? {
        guard Subject.isValidFilter(pattern) else { return JobError(.badOption, "the route pattern is not a valid subject filter") }
        if pattern.starts(with: Array("$".utf8)) { return JobError(.badOption, "routes cannot take reserved $ subjects") }
        if routes.count >= config.maxRoutes { return JobError(.limit, "there are \(config.maxRoutes) routes already (--max-routes)") }
        return nil
    }

    func addRoute(pattern: [UInt8], queue: [UInt8], options: EnqueueOptions, group: [UInt8]?, text: [UInt8], owner: String?) -> JobReply {
        if let refused = routeRefusal(pattern) { return .error(refused) }
        let route = Route(id: nextRouteID, pattern: pattern, queue: queue, options: options, group: group, text: text, owner: owner)
        nextRouteID += 1
        install(route)
        routeChanges.append((route.id, route.record))
        return .routeAdded(route.id)
    }

    func install(_ route: Route) {
        routes[route.id] = route
        let entry = Subscription(owner: route, subject: route.pattern, queue: nil, sid: [])
        route.entry = entry
        routeIndex.insert(entry)
        nextRouteID = max(nextRouteID, route.id + 1)
    }

    func removeRoute(_ id: UInt64) -> JobReply {
        guard uninstallRoute(id) else { return .error(JobError(.notFound, "route \(id) does not exist")) }
        routeChanges.append((id, nil))
        return .done
    }

    /// Stops route `id` from firing; whether there was one.
    @discardableResult
    func uninstallRoute(_ id: UInt64) -> Bool {
        guard let route = routes.removeValue(forKey: id) else { return false }
        if let entry = route.entry { routeIndex.remove(entry) }
        return true
    }

    /// Enqueues one job per route matching the subject; returns how many, or -1 when the store
    /// refused them (the publisher was told). With a reply subject, the publisher is told the
    /// job ids there once they are on disk.
    /// Counts a publish whose routed jobs were refused, and logs it at most once per interval.
    private func logRouteRefusal(_ publisher: String, _ subject: String, _ reason: String) {
        stats.routeRefusals += 1
        guard let count = routeRefusalLog.occurred(at: monotonicMilliseconds()) else { return }
        let earlier = count > 1 ? " (\(count - 1) more since the last such line, counted in route_refusals)" : ""
        log.warn("\(publisher) - Routed jobs for \(subject) refused: \(reason)\(earlier)")
    }

    func routeMessage(
        _ subject: UnsafeRawBufferPointer, _ reply: UnsafeRawBufferPointer?, _ message: UnsafeRawBufferPointer,
        _ headerCount: Int?, from publisher: Connection
    ) -> Int {
        // Reserved subjects are never routed, whatever a pattern (`>`, `*.…`) would match.
        guard subject.first != UInt8(ascii: "$") else { return 0 }
        let match = subscriptions(of: routeIndex, matching: subject)
        guard !match.plain.isEmpty else { return 0 }
        let payload = Array(message[(headerCount ?? 0)...])
        if let postgres { return routeToPostgres(postgres, match.plain, subject, reply, payload, from: publisher) }
        // All of the message's jobs or none: admitted as ENQs are, against the same limit.
        let size = match.plain.count * (payload.count + 256)
        if case .error(let error)? = admit(bytes: size, upTo: Self.storeFullFraction, "a routed job was refused") {
            logRouteRefusal(publisher.label, String(decoding: subject, as: UTF8.self), error.message)
            if publisher.options.verbose { replies(for: publisher).append(string: error.line) }
            if let reply, Self.isAnswerableReply(reply) {
                var outer = JSONObjectWriter()
                outer.add("jobs", json: "[]")
                outer.add("error", json: JobAPI.errorObject(error))
                let body = Array(outer.result.utf8)
                body.withUnsafeBytes { body in sendAnswer(reply, body, nil, to: publisher) }
            }
            return -1
        }
        var ids: [UInt64] = []
        var queues: [[UInt8]] = []
        for entry in match.plain {
            let route = unsafeDowncast(entry.owner, to: Route.self)
            guard account(of: route) === publisher.account else { continue }
            guard routeMayFire(route, subject) else {
                if !route.hasWarnedOfRefusal {
                    // Once per route and run: a busy subject must not flood the log.
                    route.hasWarnedOfRefusal = true
                    log.warn("Route \(route.id) (\(String(decoding: route.text, as: UTF8.self).split(separator: " ").prefix(2).joined(separator: " to "))) does not fire: its owner \(route.owner ?? "") may not enqueue on its queue or receive \(String(decoding: subject, as: UTF8.self))")
                }
                continue
            }
            let (id, _) = route.queue.withUnsafeBytes {
                engine.enqueue(queue: $0, options: route.options, key: nil, group: route.group, payloadSize: payload.count)
            }
            stagedPayloads.append((id, payload))
            stagedBytes += Self.storeCost(payload.count)
            ids.append(id)
            queues.append(route.queue)
        }
        let visible = Self.routedJobs(ids, in: queues, visibleTo: publisher)
        if let reply, !visible.isEmpty, Self.isAnswerableReply(reply) {
            let replySubject = Array(reply)
            let body = Array(("{\"jobs\":[" + visible.map { String($0) }.joined(separator: ",") + "]}").utf8)
            afterCommit.append { [unowned self] in
                replySubject.withUnsafeBytes { subject in
                    body.withUnsafeBytes { body in sendAnswer(subject, body, nil, to: publisher) }
                }
            }
        }
        return ids.count
    }

    /// The same for jobs kept in PostgreSQL: the message's jobs go in one transaction with
    /// the pass's other ENQs, and the reply subject hears their ids once it has committed.
    private func routeToPostgres(
        _ postgres: PostgresBackend, _ matches: [Subscription], _ subject: UnsafeRawBufferPointer, _ reply: UnsafeRawBufferPointer?,
        _ payload: [UInt8], from publisher: Connection
    ) -> Int {
        var jobs: [PostgresNewJob] = []
        for entry in matches {
            let route = unsafeDowncast(entry.owner, to: Route.self)
            guard account(of: route) === publisher.account, routeMayFire(route, subject) else { continue }
            var job = PostgresNewJob(queue: String(decoding: route.queue, as: UTF8.self), payload: payload)
            route.text.withUnsafeBytes { PostgresBackend.apply(route.options, $0, group: route.group, to: &job) }
            job.key = nil
            jobs.append(job)
        }
        guard !jobs.isEmpty else { return 0 }
        let replySubject = reply.flatMap { Self.isAnswerableReply($0) ? Array($0) : nil }
        let label = publisher.label
        let subjectText = String(decoding: subject, as: UTF8.self)
        postgres.enqueueRouted(jobs) { [self] result in
            if case .failure(let error) = result {
                logRouteRefusal(label, subjectText, error.message)
            }
            guard let replySubject else { return }
            var outer = JSONObjectWriter()
            let ids = Self.routedJobs((try? result.get()) ?? [], in: jobs.map { Array($0.queue.utf8) }, visibleTo: publisher)
            if case .success = result, ids.isEmpty { return }  // none it may see: as if no route matched
            outer.add("jobs", json: "[" + ids.map { String($0) }.joined(separator: ",") + "]")
            if case .failure(let error) = result { outer.add("error", json: JobAPI.errorObject(error)) }
            let body = Array(outer.result.utf8)
            replySubject.withUnsafeBytes { subject in
                body.withUnsafeBytes { body in sendAnswer(subject, body, nil, to: publisher) }
            }
        }
        return jobs.count
    }

    /// The routed jobs (`ids`, made on `queues`, pair by pair) a publisher is told of: with
    /// users, those in queues it may read. A job elsewhere does not exist for it (as INSPECT
    /// would say), so neither does the route that made it.
    static func routedJobs(_ ids: [UInt64], in queues: [[UInt8]], visibleTo publisher: Connection) -> [UInt64] {
        guard let permissions = publisher.permissions else { return ids }
        return zip(ids, queues).filter { permissions.may(.read, queue: $0.1) }.map(\.0)
    }

    // MARK: Request/reply API

    /// A job command that arrived as a request on `$DOCKET.API.<VERB>.<argument>`. Options come
    /// in a `Docket-Options` header, written exactly as on the wire; the payload is the body.
    func handleAPIRequest(
        _ publisher: Connection, _ subject: UnsafeRawBufferPointer, _ reply: UnsafeRawBufferPointer?,
        _ message: UnsafeRawBufferPointer, _ headerCount: Int?
    ) {
        if let reply, !Self.isAnswerableReply(reply) {
            // Nothing is done for a request that could not be answered where it asks.
            return protocolError(publisher, ProtocolError(.permissionsViolation, "Publish to \"\(String(decoding: reply, as: UTF8.self))\""))
        }
        let request = APIRequest(connection: publisher, reply: reply.map(Array.init))
        guard let parsed = JobAPI.parse(subject) else {
            return answerAPI(request, .error(JobError(.badOption, "unknown API subject; see PROTOCOL.md, $DOCKET.API")))
        }
        guard case .success(let (verb, argument)) = parsed else {
            if case .failure(let error) = parsed { answerAPI(request, .error(error)) }
            return
        }
        let field = headerCount.map { JobAPI.header("docket-options", in: UnsafeRawBufferPointer(rebasing: message[..<$0])) } ?? .absent
        // Scanned on the loop: a header block may be as long as a payload.
        publisher.apiWorkBytes += headerCount ?? 0
        let options: String?
        switch field {
        case .absent: options = nil
        case .value(let value): options = value
        case .repeated:
            // As the wire refuses an option given twice, rather than keep one line's options.
            return answerAPI(request, .error(JobError(.badOption, "Docket-Options is given more than once; put every option in one header")))
        }
        if verb == .reserve || verb == .wait || JobAPI.onlyReads(verb, options: options) {
            // A job handed to nobody would still use up an attempt: a RESERVE needs someone
            // listening on its reply subject (a WAIT the same, to be worth keeping). A request
            // that only reads has nothing to do but an answer nobody would hear: a client that
            // sent `PUB $DOCKET.API.QUEUES 0` in a loop had the document of every queue built
            // for each (2000 of them with 200 queues held the loop, and every client, for 27 s).
            guard let reply, hasInterest(in: reply, for: publisher) else {
                log.debug("\(publisher.label) - $DOCKET.API \(verb.name) without a subscribed reply subject: ignored")
                return
            }
        }
        if verb == .reserve || verb == .wait, publisher.waitingRequests.count >= config.maxWaitingRequests {
            return answerAPI(
                request,
                .error(JobError(.limit, "this connection already has \(config.maxWaitingRequests) RESERVE and WAIT requests waiting (--max-waiting-requests)")))
        }
        let body = Array(message[(headerCount ?? 0)...])
        if verb == .batch { return answerBatch(request, body) }
        let arguments = Array((argument + " " + (options ?? "")).utf8)
        // No more than the command's control line could carry on the wire: a header can be as
        // long as a payload, and a SCHEDULE keeps its arguments (900 KB of cron expression,
        // stored, shown by SCHEDULES and parsed for a second of the loop).
        guard arguments.count <= config.maxControlLine else {
            return answerAPI(
                request,
                .error(
                    JobError(
                        .limit,
                        "the subject's arguments and Docket-Options take \(arguments.count) bytes; at most \(config.maxControlLine), as a control line (--max-control-line)"
                    )))
        }
        arguments.withUnsafeBytes { bytes in
            switch JobCommand.parse(verb, bytes, 0..<bytes.count) {
            case .failure(let error):
                answerAPI(request, .error(error))
            case .success(let command):
                // The body is ENQ's payload, or ACK's result, FAIL's reason, PROGRESS's note
                // (an empty one meaning none, as when the wire command has no byte count).
                let carriesBody = verb == .enq || verb == .schedule || ([JobVerb.ack, .fail, .progress].contains(verb) && !body.isEmpty)
                let reply = perform(command, bytes, carriesBody ? body : nil, for: publisher)
                switch reply {
                case .job(let job):
                    publisher.heldJobs.insert(job.id)
                    answerAPI(request, reply)
                case .waitingForJob(let waiter):
                    var waiting = request
                    waiting.waiter = waiter
                    apiWaiters[ObjectIdentifier(waiter)] = waiting
                    publisher.waitingRequests.insert(ObjectIdentifier(waiter))
                case .later(let answer) where verb == .reserve || verb == .wait:
                    // Counted against --max-waiting-requests while it waits, as the engine's are.
                    let key = ObjectIdentifier(answer)
                    publisher.waitingRequests.insert(key)
                    // A job for a requester that went away goes back, its attempt not counted.
                    answer.onAnswer { [self] reply in
                        publisher.waitingRequests.remove(key)
                        if case .delivery(let job) = reply, let postgres,
                            publisher.isClosed || !(request.reply.map { $0.withUnsafeBytes { hasInterest(in: $0, for: publisher) } } ?? false)
                        {
                            return postgres.giveBack(job, heldBy: publisher)
                        }
                        answerAPI(request, reply)
                    }
                case .waitingForOutcome(let watch):
                    var waiting = request
                    waiting.watch = watch
                    apiWatches[ObjectIdentifier(watch)] = waiting
                    publisher.waitingRequests.insert(ObjectIdentifier(watch))
                default:
                    answerAPI(request, reply)
                }
            }
        }
    }

    /// Whether an API answer on `subject` would reach anyone (see `sendAnswer`).
    func hasInterest(in subject: UnsafeRawBufferPointer, for connection: Connection) -> Bool {
        guard Subject.isValidLiteral(subject) else { return false }
        let match = subscriptions(of: connection.account.index, matching: subject)
        guard answersReachOnlyTheRequester else { return !match.plain.isEmpty || !match.groups.isEmpty }
        return match.plain.contains { $0.owner === connection } || match.groups.contains { $0.members.contains { $0.owner === connection } }
    }

    /// With users, an API answer goes to the requesting connection alone: it carries payloads,
    /// results and job documents that other subscribers of the reply subject (`_INBOX.>`, `>`)
    /// may have no right to read, and the reply subject is the requester's choice, not a subject
    /// it may publish on. Without users everyone may do everything, and answers travel as any
    /// NATS reply does.
    var answersReachOnlyTheRequester: Bool { config.authenticator != nil }

    /// Delivers one API answer on `subject` (see `answersReachOnlyTheRequester`).
    func sendAnswer(_ subject: UnsafeRawBufferPointer, _ message: UnsafeRawBufferPointer, _ headerCount: Int?, to requester: Connection) {
        guard answersReachOnlyTheRequester else {
            _ = fanOut(subject, nil, message, headerCount, from: nil, in: requester.account)
            return
        }
        guard !requester.isClosed else { return }
        let match = subscriptions(of: requester.account.index, matching: subject)
        for subscription in match.plain where subscription.owner === requester {
            _ = deliver(subscription, from: nil, subject, nil, message, headerCount)
        }
        for group in match.groups {
            if let member = group.members.first(where: { $0.owner === requester }) {
                _ = deliver(member, from: nil, subject, nil, message, headerCount)
            }
        }
    }

    /// Whether the server may answer a request on `reply`: a literal subject, outside `$JOB.`
    /// (lifecycle events are the server's own, and no answer may pass for one).
    static func isAnswerableReply(_ reply: UnsafeRawBufferPointer) -> Bool {
        Subject.isValidLiteral(reply) && !reply.starts(with: "$JOB.".utf8)
    }

    /// Sends an API answer as a message on the request's reply subject: JSON, except a
    /// reserved job, which comes as its payload with `Docket-*` headers. Answers that promise
    /// a change on disk go out after the commit.
    func answerAPI(_ request: APIRequest, _ reply: JobReply) {
        guard let subject = request.reply else { return }
        let body: [UInt8]
        switch reply {
        case .enqueued(let id, let duplicate): body = Array("{\"id\":\(id),\"duplicate\":\(duplicate)}".utf8)
        case .replaced(let id): body = Array("{\"id\":\(id),\"duplicate\":false,\"replaced\":true}".utf8)
        case .enqueuedBatch(let ids): body = Array("{\"ids\":[\(ids.map { String($0) }.joined(separator: ","))]}".utf8)
        case .done, .doneNow: body = Array("{\"ok\":true}".utf8)
        case .routeAdded(let id): body = Array("{\"route\":\(id)}".utf8)
        case .retry(let milliseconds): body = Array("{\"next\":\"retry\",\"retry_in_ms\":\(milliseconds)}".utf8)
        case .dead: body = Array("{\"next\":\"dead\"}".utf8)
        case .throttled(let milliseconds): body = Array("{\"throttled_ms\":\(milliseconds)}".utf8)
        case .count(let count): body = Array("{\"count\":\(count)}".utf8)
        case .document(let text): body = Array(text.utf8)
        case .noJob: body = Array("{\"job\":null}".utf8)
        case .job(let job):
            let headers = Array(
                ("NATS/1.0\r\nDocket-Job-Id: \(job.id)\r\nDocket-Queue: \(job.queue)\r\nDocket-Attempt: \(job.attempts)\r\n"
                    + "Docket-Lease-Ms: \(job.leaseMilliseconds)\r\nDocket-Delivery: \(nextDeliveryID())\r\n\r\n").utf8)
            let send = { [unowned self] in
                withPayload(of: job) { [unowned self] payload in
                    let message = headers + payload
                    subject.withUnsafeBytes { subject in
                        message.withUnsafeBytes { message in sendAnswer(subject, message, headers.count, to: request.connection) }
                    }
                }
            }
            // The reservation itself is not waited for, but a job whose ENQ is not on disk yet
            // goes out only with that commit (see `sendJob`).
            if payloadInMemory(job.id) != nil { afterCommit.append(send) } else { send() }
            return
        case .outcome(let outcome):
            var writer = JSONObjectWriter()
            writer.add("id", Int(outcome.id))
            writer.add("state", outcome.completed ? "completed" : "dead")
            writer.add("result", outcome.result.map { String(decoding: $0, as: UTF8.self) })
            writer.add("error", outcome.completed ? nil : outcome.detail.map { String(decoding: $0, as: UTF8.self) })
            body = Array(writer.result.utf8)
        case .pending(let id, let state): body = Array("{\"id\":\(id),\"state\":\"\(state)\",\"pending\":true}".utf8)
        case .delivery(let job):
            let headers = Array(
                ("NATS/1.0\r\nDocket-Job-Id: \(job.id)\r\nDocket-Queue: \(String(decoding: job.queue, as: UTF8.self))\r\n"
                    + "Docket-Attempt: \(job.attempt)\r\nDocket-Lease-Ms: \(job.leaseMilliseconds)\r\nDocket-Delivery: \(job.delivery)\r\n\r\n").utf8)
            let message = headers + job.payload
            request.connection.apiWorkBytes += message.count
            subject.withUnsafeBytes { subject in
                message.withUnsafeBytes { message in sendAnswer(subject, message, headers.count, to: request.connection) }
            }
            return
        case .later(let answer):
            answer.onAnswer { [self] reply in answerAPI(request, reply) }
            return
        case .gone(let id): body = Array(JobAPI.errorJSON(.notFound(id)).utf8)
        case .error(let error): body = Array(JobAPI.errorJSON(error).utf8)
        case .waitingForJob, .waitingForOutcome: return
        }
        // Built on the loop whoever hears it: counted against the requester's turn.
        request.connection.apiWorkBytes += body.count
        // INFO announced max_payload, and no answer may be larger (Docket's own clients bound
        // what they take by it, with room for headers; nats.py and nats.c, which check only
        // what they publish, would take it): an INSPECT of a job whose result, error and note are each
        // near max_payload, a WAIT's escaped result, a listing's first entry. The requester
        // hears why instead.
        let answer = body.count <= config.maxPayload ? body : Array(JobAPI.errorJSON(Self.answerTooLarge(body.count, config.maxPayload)).utf8)
        let send: () -> Void = { [unowned self] in
            subject.withUnsafeBytes { subject in
                answer.withUnsafeBytes { body in sendAnswer(subject, body, nil, to: request.connection) }
            }
        }
        // A backend that answers later answers once the change is durable already.
        if reply.isDurable && postgres == nil { afterCommit.append(send) } else { send() }
    }
}

/// A rule that turns every message published on a matching subject into a job.
final class Route {
    let id: UInt64
    let pattern: [UInt8]
    let queue: [UInt8]
    let options: EnqueueOptions
    let group: [UInt8]?
    /// The ROUTE arguments as given.
    let text: [UInt8]
    /// The user who made it, whose rights it runs with; nil when made without authentication.
    let owner: String?
    var entry: Subscription?
    /// Whether the log already said that the owner's rights stop it from firing.
    var hasWarnedOfRefusal = false

    init(id: UInt64, pattern: [UInt8], queue: [UInt8], options: EnqueueOptions, group: [UInt8]?, text: [UInt8], owner: String?) {
        self.id = id
        self.pattern = pattern
        self.queue = queue
        self.options = options
        self.group = group
        self.text = text
        self.owner = owner
    }

    /// How a route is stored: its arguments, after `<owner>\n` when it has one (a control line
    /// never holds a line feed, so the two cannot be confused, and routes stored before owners
    /// existed read as ownerless).
    var record: [UInt8] {
        guard let owner else { return text }
        return Array(owner.utf8) + [Byte.lf] + text
    }

    static func decode(_ record: [UInt8]) -> (owner: String?, text: [UInt8]) {
        guard let newline = record.firstIndex(of: Byte.lf) else { return (nil, record) }
        return (String(decoding: record[..<newline], as: UTF8.self), Array(record[(newline + 1)...]))
    }

    var json: String {
        var writer = JSONObjectWriter()
        writer.add("id", Int(id))
        writer.add("pattern", String(decoding: pattern, as: UTF8.self))
        writer.add("queue", String(decoding: queue, as: UTF8.self))
        writer.add("rule", String(decoding: text, as: UTF8.self))
        if let owner { writer.add("owner", owner) }
        return writer.result
    }
}

extension Server {
    /// `$DOCKET.API.BATCH`: the body holds the batch's ENQ commands as they are written on the
    /// wire (without the BATCH line), read with the wire's own parser and limits.
    func answerBatch(_ request: APIRequest, _ body: [UInt8]) {
        var items: [(arguments: [UInt8], payload: [UInt8])] = []
        var total = 0
        let refusal: JobError? = body.withUnsafeBytes { bytes in
            var position = 0
            while position < bytes.count {
                switch ClientParser.parse(bytes, from: position, limits: config.parseLimits) {
                case .op(.job(.enq, let arguments, let payload), let next):
                    guard items.count < config.maxBatch else { return JobError(.limit, "a batch holds at most \(config.maxBatch) ENQs (--max-batch)") }
                    total += payload?.count ?? 0
                    guard total <= config.maxBatchBytes else {
                        return JobError(.limit, "the batch holds more than \(config.maxBatchBytes) payload bytes (--max-batch-bytes)")
                    }
                    items.append((Array(bytes[arguments]), payload.map { Array(bytes[$0]) } ?? []))
                    position = next
                case .skip(let next):
                    position = next
                case .op:
                    return JobError(.badOption, "command \(items.count + 1) of the batch is not an ENQ; a BATCH holds only ENQs")
                case .incomplete:
                    return JobError(.badOption, "the batch ends inside command \(items.count + 1)")
                case .failure(let error):
                    return JobError(.badOption, "command \(items.count + 1) of the batch cannot be read: \(error.text)")
                }
            }
            return items.isEmpty ? JobError(.badOption, "the batch holds no ENQ") : nil
        }
        if let refusal { return answerAPI(request, .error(refusal)) }
        let reply = performBatch(items, for: request.connection)
        if case .later(let answer) = reply {
            answer.onAnswer { [self] in answerAPI(request, $0) }
        } else {
            answerAPI(request, reply)
        }
    }
}

extension Server {
    /// The error a `$DOCKET.API` request gets in place of an answer of `bytes` bytes, more
    /// than one message may carry.
    static func answerTooLarge(_ bytes: Int, _ maxPayload: Int) -> JobError {
        JobError(
            .limit,
            "the answer is \(bytes) bytes, more than max_payload (\(maxPayload)) lets one message carry: ask for a smaller page (limit=, after= in Docket-Options) or use the wire verb")
    }
}

/// A request made through `$DOCKET.API`: who asked, where the answer goes, and what it waits for.
struct APIRequest {
    let connection: Connection
    let reply: [UInt8]?
    var waiter: Waiter? = nil
    var watch: JobWatch? = nil
}

/// The subjects of the request/reply job API.
enum JobAPI {
    static let prefix = Array("$DOCKET.API.".utf8)

    static func isRequest(_ subject: UnsafeRawBufferPointer) -> Bool {
        subject.count > prefix.count && subject.starts(with: prefix)
    }

    /// Whether a request on `subject` makes jobs (ENQ, BATCH), read from its bytes before it
    /// is parsed: such a request waits for the checkpoints as a wire ENQ does.
    static func makesJobs(_ subject: UnsafeRawBufferPointer) -> Bool {
        guard isRequest(subject) else { return false }
        let verb = subject.dropFirst(prefix.count)
        return verb.starts(with: "ENQ.".utf8) || verb.elementsEqual("BATCH".utf8)
    }

    /// The verb and its argument as the wire verb takes it (a queue or a job id, with
    /// PROGRESS's percentage or SCHEDULE's queue after it, RESERVE's queues comma-separated);
    /// nil for an unknown verb, a BAD_OPTION for the wrong number of tokens after a known one.
    static func parse(_ subject: UnsafeRawBufferPointer) -> Result<(JobVerb, String), JobError>? {
        let rest = String(decoding: subject.dropFirst(prefix.count), as: UTF8.self)
        let tokens = rest.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let verbName = tokens.first else { return nil }
        let verbs: [String: JobVerb] = [
            "ENQ": .enq, "RESERVE": .reserve, "ACK": .ack, "FAIL": .fail, "PROGRESS": .progress, "TOUCH": .touch,
            "INSPECT": .inspect, "WAIT": .wait, "RETRY": .retry, "DEL": .del, "QUEUE": .queue, "STATS": .stats,
            "PAUSE": .pause, "RESUME": .resume, "DEAD": .dead, "QUEUES": .queues, "ROUTES": .routes, "UNROUTE": .unroute,
            "LIST": .list, "PURGE": .purge, "PROMOTE": .promote,
            "SCHEDULE": .schedule, "UNSCHEDULE": .unschedule, "SCHEDULES": .schedules, "BATCH": .batch, "PARENTS": .parents, "CHILDREN": .children,
        ]
        // Exact tokens, as subject permissions match them: a deny on `$DOCKET.API.DEL.>` must
        // not be passed by `$DOCKET.API.del.…`.
        guard let verb = verbs[verbName] else { return nil }
        let arguments = tokens.dropFirst()
        let shape: (tokens: ClosedRange<Int>, usage: String)
        switch verb {
        case .reserve: shape = (1...Int.max, "<queue>[.<queue>...]")
        case .enq, .queue, .dead, .list, .purge, .unschedule: shape = (1...1, "<queue>")
        case .ack, .fail, .touch, .inspect, .wait, .retry, .del, .promote, .parents, .children: shape = (1...1, "<id>")
        case .unroute: shape = (1...1, "<route-id>")
        case .progress: shape = (2...2, "<id>.<percent>")
        case .schedule: shape = (2...2, "<name>.<queue>")
        case .pause, .resume: shape = (0...1, "<queue>, or nothing with Docket-Options: schedule=<name>")
        default: shape = (0...0, "nothing")
        }
        guard shape.tokens.contains(arguments.count) else {
            return .failure(JobError(.badOption, "$DOCKET.API.\(verbName) takes \(shape.usage) after \(verbName), not \(arguments.count) token(s)"))
        }
        // RESERVE's queues are comma-separated on the wire; the others' tokens are its fields.
        return .success((verb, arguments.joined(separator: verb == .reserve ? "," : " ")))
    }

    /// Whether a request with `verb` (and `options`, its `Docket-Options`) changes nothing, so
    /// that its answer is all it does: the documents and listings, and QUEUE without settings.
    static func onlyReads(_ verb: JobVerb, options: String?) -> Bool {
        switch verb {
        case .inspect, .dead, .stats, .queues, .routes, .list, .schedules, .parents, .children: return true
        case .queue: return options?.allSatisfy { $0 == " " || $0 == "\t" } ?? true
        default: return false
        }
    }

    /// A field of a header block as a request gives it.
    enum HeaderField: Equatable {
        case absent
        case value(String)
        /// Given on more than one line: which one the client meant cannot be told (a second
        /// `Docket-Options` line from nats.go's `Header.Add` would otherwise silently drop the
        /// other line's options, a `key=` among them).
        case repeated
    }

    /// The `name:` field of a `NATS/1.0` header block (`name` in lower case, matched ignoring
    /// ASCII case), its value with blanks and tabs around it trimmed.
    ///
    /// One pass over the bytes, nothing built but the value: decoding the block as a String and
    /// keeping every field in a dictionary cost about 6 µs a field, so a request with 1 MiB of
    /// headers (90,000 fields) held the loop, and every other client, for about half a second.
    static func header(_ name: String, in block: UnsafeRawBufferPointer) -> HeaderField {
        let wanted = Array(name.utf8)
        var found: Range<Int>? = nil
        // The first line is the status (`NATS/1.0`), never a field.
        var start = lineEnd(in: block, from: 0) + 2
        while start < block.count {
            let end = lineEnd(in: block, from: start)
            if let colon = block[start..<end].firstIndex(of: UInt8(ascii: ":")),
                namesMatch(wanted, trimmedBlanks(block, start..<colon), in: block)
            {
                guard found == nil else { return .repeated }
                found = trimmedBlanks(block, colon + 1..<end)
            }
            start = end + 2
        }
        return found.map { .value(String(decoding: UnsafeRawBufferPointer(rebasing: block[$0]), as: UTF8.self)) } ?? .absent
    }

    /// Where the line starting at `start` ends: its CRLF, or the end of the block.
    private static func lineEnd(in block: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index + 1 < block.count {
            if block[index] == Byte.cr, block[index + 1] == Byte.lf { return index }
            index += 1
        }
        return block.count
    }

    private static func trimmedBlanks(_ block: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int> {
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var (lower, upper) = (range.lowerBound, range.upperBound)
        while lower < upper, isBlank(block[lower]) { lower += 1 }
        while upper > lower, isBlank(block[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    private static func namesMatch(_ wanted: [UInt8], _ range: Range<Int>, in block: UnsafeRawBufferPointer) -> Bool {
        guard range.count == wanted.count else { return false }
        // Upper-case ASCII letters are lowered; `wanted` is lower case already.
        return zip(block[range], wanted).allSatisfy { byte, lower in (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) == lower }
    }

    /// `{"error":{"code":…,"message":…}}`.
    static func errorJSON(_ error: JobError) -> String {
        var outer = JSONObjectWriter()
        outer.add("error", json: errorObject(error))
        return outer.result
    }

    /// `{"code":…,"message":…}`.
    static func errorObject(_ error: JobError) -> String {
        var inner = JSONObjectWriter()
        inner.add("code", error.code.rawValue)
        inner.add("message", error.message)
        return inner.result
    }
}
