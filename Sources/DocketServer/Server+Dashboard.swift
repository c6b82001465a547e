import DocketDashboard
import DocketEngine
import DocketWire
import Glibc

/// The operators' dashboard on the monitoring port: the page (served from the binary), its JSON
/// API, the live event tail, and the changes an operator may make. Every read and change goes
/// through `performDetached`, so the wire's permission checks and answers apply unchanged.
extension Server {
    /// The most payload bytes a job page shows.
    static let dashboardPayloadLimit = 64 << 10

    /// Sets the dashboard up next to the monitoring server: its state and its 10-second tick.
    func startDashboard(on monitoring: MonitoringServer) {
        let dashboard = Dashboard()
        self.dashboard = dashboard
        monitoring.pages = { [unowned self] request, reader, answer in dashboardPage(request, reader, answer) }
        let timer = loop.makeEvent(fd: -1, flags: EventLoop.persist, context: self, callback: dashboardTickCallback)
        EventLoop.add(timer, timeoutMilliseconds: dashboard.series.intervalMilliseconds)
        dashboardTimer = timer
        sampleActivity()
    }

    /// Whether job events are wanted at all: by a subscriber, or by a dashboard someone looks at.
    func refreshLifecycleRecording() {
        // In a cluster, listeners on other nodes are out of sight: events are always made.
        let wanted = lifecycleListeners > 0 || cluster != nil || (dashboard?.isWatched(now: Int64(monotonicMilliseconds())) ?? false)
        if engine.recordsLifecycle != wanted { engine.recordsLifecycle = wanted }
    }

    var wantsLifecycle: Bool { engine.recordsLifecycle || lifecycleListeners > 0 || cluster != nil }

    fileprivate func dashboardTick() {
        sampleActivity()
        dashboard?.keepTailsAlive()
        refreshLifecycleRecording()
    }

    /// One interval of every queue's activity, from the counters the server keeps anyway.
    private func sampleActivity() {
        guard let dashboard else { return }
        let readings: [ActivitySeries.Reading]
        if let postgres {
            readings = postgres.activityTotals.map { .init(queue: $0.queue, started: $0.started, completed: $0.completed, failed: $0.failed) }
        } else {
            readings = engine.queueList.map { queue in
                .init(
                    queue: queue.name, started: queue.startedTotal, completed: queue.completedTotal, failed: queue.failedTotal,
                    waitBuckets: queue.waitHistogram.counts, runBuckets: queue.runHistogram.counts)
            }
        }
        dashboard.series.record(readings, at: clock.now())
    }

    // MARK: Requests

    private typealias Answer = (MonitoringServer.Answer) -> Void

    private func dashboardPage(_ request: MonitoringServer.Request, _ reader: MonitoringServer.Reader, _ answer: @escaping Answer) {
        guard let dashboard else { return answer(.notMine) }
        let path = request.path
        guard path == "/" || path == "/favicon.ico" || path.hasPrefix("/dashboard/") || path.hasPrefix("/api/") else {
            return answer(.notMine)
        }
        if case .anonymous = reader {
            // Asking for credentials over plain HTTP would have the browser send them in clear.
            if request.isPlainOnTLSPort {
                return answer(.response(status: 403, contentType: "text/plain", body: "the dashboard needs credentials: open it over https://\n"))
            }
            return answer(.response(
                status: 401, contentType: "text/plain", body: "credentials required\n", extra: "WWW-Authenticate: Basic realm=\"docketd\"\r\n"))
        }
        if case .everyone = reader, !Self.isRebindingProof(host: request.header("host") ?? "") {
            // Without users the dashboard trusts whoever reaches it, so it must be reached by
            // address: a page on another site can point its own DNS name at this address
            // (DNS rebinding) and would then be same-origin with the dashboard. A request that
            // names no host at all is not known to be for an address either.
            let why = request.header("host").map { "not \($0) (a name another site could rebind to this address)" } ?? "and this request names no Host"
            return answer(.response(
                status: 403, contentType: "text/plain",
                body: "without users the dashboard answers only requests for an IP address or localhost, \(why); configure users to use a name\n"))
        }
        // Pages and reads are GET (and HEAD); changes are POST only (they carry a CSRF token).
        let isPage = path == "/" || path == "/favicon.ico" || (path != "/dashboard/index.html" && DashboardAssets.files[path] != nil)
        let allowed = Self.dashboardChanges.contains(path) ? ["POST"] : isPage || Self.dashboardReads.contains(path) ? ["GET", "HEAD"] : []
        guard !allowed.isEmpty else {
            return path.hasPrefix("/api/") ? answer(failure(JobError(.notFound, "no such dashboard API: \(path)"), status: 404)) : answer(.notMine)
        }
        guard allowed.contains(request.method) else {
            let list = allowed.joined(separator: ", ")
            return answer(.response(status: 405, contentType: "text/plain", body: "\(path) answers \(list) only\n", extra: "Allow: \(list)\r\n"))
        }
        if path == "/" {
            guard let page = DashboardAssets.files["/dashboard/index.html"] else { return answer(.notMine) }
            let body = page.body.replacing("{{csrf}}", with: dashboard.csrfToken)
                .replacing("{{admin}}", with: mayChange(reader) ? "true" : "false")
            return answer(.response(
                status: 200, contentType: page.contentType, body: body,
                extra: "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
                    // default-src does not cover base-uri, form-action nor frame-ancestors: each is closed.
                    + "Content-Security-Policy: default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"))
        }
        if path.hasPrefix("/dashboard/") || path == "/favicon.ico" {
            // Browsers ask for /favicon.ico whatever the page says: the same icon, not a 404.
            let name = path == "/favicon.ico" ? "/dashboard/favicon.svg" : path
            // (The page is served at / only, with its token and its policy filled in: see isPage.)
            guard let asset = DashboardAssets.files[name] else { return answer(.notMine) }
            return answer(.response(status: 200, contentType: asset.contentType, body: asset.body))
        }
        dashboard.noteRequest(now: Int64(monotonicMilliseconds()))
        refreshLifecycleRecording()
        let principal: Principal? = if case .user(let principal) = reader { principal } else { nil }
        if request.method == "POST" { return dashboardChange(request, reader, principal, answer) }
        // Every value goes into a wire command: one with a blank would be several fields, and a
        // GET (which needs no CSRF token) could then change a queue (`?name=q concurrency=7`).
        if let (key, _) = request.query.first(where: { !Self.isField($0.value) }) {
            return answer(failure(JobError(.badOption, "?\(key)= must be one word")))
        }
        let query = request.query
        switch path {
        case "/api/overview":
            var writer = JSONObjectWriter()
            let everything = reader.permissions?.mayReadEveryQueue ?? true
            writer.add("server", json: everything ? statsDocument() : publicVarzDocument())
            writer.add("store", postgres == nil ? "lmdb" : "postgres")
            // For the header of every viewer: the public document (a reader of some queues only) has no counters.
            writer.add("uptime_ms", monotonicMilliseconds() - startedAt)
            writer.add("admin", mayChange(reader))
            do throws(MonitoringServer.BadQuery) {
                try addQueuePage(to: &writer, query, readableBy: reader.permissions)
            } catch {
                return answer(failure(JobError(.badOption, error.message)))
            }
            answer(json(200, writer.result))
        case "/api/series":
            do throws(MonitoringServer.BadQuery) {
                answer(json(200, try seriesDocument(query, readableBy: reader.permissions)))
            } catch {
                answer(failure(JobError(.badOption, error.message)))
            }
        case "/api/queue":
            guard let name = query["name"] else { return answer(missing("name")) }
            detached(.queue, name, principal, answer)
        case "/api/jobs":
            guard let queue = query["queue"] else { return answer(missing("queue")) }
            var arguments = queue
            for option in ["state", "after", "limit"] { if let value = query[option] { arguments += " \(option)=\(value)" } }
            detached(.list, arguments, principal, answer)
        case "/api/job":
            guard let id = query["id"] else { return answer(missing("id")) }
            jobPage(id, principal, answer)
        case "/api/job/parents":
            guard let id = query["id"] else { return answer(missing("id")) }
            detached(.parents, id, principal, answer)
        case "/api/job/children":
            guard let id = query["id"] else { return answer(missing("id")) }
            childrenPage(id, query, principal, answer)
        case "/api/routes":
            detached(.routes, Self.pageArguments(query), principal, answer)
        case "/api/schedules":
            detached(.schedules, Self.pageArguments(query), principal, answer)
        case "/api/connections":
            guard reader.permissions?.mayReadEveryQueue ?? true else {
                return answer(failure(JobError(.forbidden, "the connections list needs the read right on every queue")))
            }
            answer(json(200, connectionsDocument()))
        case "/api/events":
            let queue = query["queue"].flatMap { $0.isEmpty ? nil : $0 }
            // A name no queue can have would follow nothing, silently, for as long as the page stays.
            if let queue, !Array(queue.utf8).withUnsafeBytes({ QueueName.isValid($0, 0..<$0.count) }) {
                return answer(failure(JobError(.badQueue, "queue names are 1 to \(QueueName.maxLength) letters, digits, _ or -")))
            }
            let permissions = reader.permissions
            answer(.stream { [unowned self] stream in
                dashboard.open(stream, queue: queue, permissions: permissions)
                refreshLifecycleRecording()
                let previous = stream.onClose
                stream.onClose = { [unowned self] in
                    previous?()
                    refreshLifecycleRecording()
                }
            })
        default:
            answer(failure(JobError(.notFound, "no such dashboard API: \(path)"), status: 404))
        }
    }

    /// The dashboard API's paths that read (GET, HEAD) and those that change (POST).
    static let dashboardReads: Set<String> = [
        "/api/overview", "/api/series", "/api/queue", "/api/jobs", "/api/job", "/api/job/parents", "/api/job/children",
        "/api/routes", "/api/schedules",
        "/api/connections", "/api/events",
    ]
    static let dashboardChanges: Set<String> = [
        "/api/queue/pause", "/api/queue/resume", "/api/queue/settings", "/api/queue/purge", "/api/queue/retry",
        "/api/job/retry", "/api/job/delete", "/api/job/promote",
    ]

    /// A listing's `after=` and `limit=`, as its wire verb takes them (ROUTES, SCHEDULES).
    static func pageArguments(_ query: [String: String]) -> String {
        ["after", "limit"].compactMap { option in query[option].map { "\(option)=\($0)" } }.joined(separator: " ")
    }

    /// `/api/overview`'s queues: `summary` adds up every queue the reader may read (the cards);
    /// `queues` is one page of them (`queuePage`); `total` counts those the filter lists.
    private func addQueuePage(
        to writer: inout JSONObjectWriter, _ query: [String: String], readableBy permissions: Permissions?
    ) throws(MonitoringServer.BadQuery) {
        let everything = permissions?.mayReadEveryQueue ?? true
        var sums = QueueSums()
        if everything {
            // Kept as the queues change (the walk below took 250-320 ms with 10,000 queues).
            sums = postgres.map { $0.snapshot.sums } ?? QueueSums(engine: engine)
        }
        let page = try queuePage(query, readableBy: permissions, adding: &sums)
        writer.add("summary", json: sums.json)
        writer.add("total", page.total)
        writer.add("offset", page.offset)
        writer.add("limit", page.limit)
        let directory = queueDirectory
        writer.add("queues", json: "[" + page.indices.map { directory.document($0) }.joined(separator: ",") + "]")
    }

    /// One page of the queues by name, as `/api/overview` lists them: `offset=` and `limit=` as
    /// `/connz` reads them (at most `queuesPage`), of those the reader may read whose name
    /// contains `filter=` (ignoring case). For a reader of some queues only, each readable
    /// queue is also added to `sums` (walking them is needed anyway).
    private func queuePage(
        _ query: [String: String], readableBy permissions: Permissions?, adding sums: inout QueueSums
    ) throws(MonitoringServer.BadQuery) -> (indices: [Int], total: Int, offset: Int, limit: Int) {
        let offset = max(0, try Self.pageNumber(query, "offset") ?? 0)
        let limit = min(try Self.pageNumber(query, "limit").flatMap { $0 > 0 ? $0 : nil } ?? Self.queuesPage, Self.queuesPage)
        let needle = (query["filter"] ?? "").lowercased()
        let directory = queueDirectory
        let everything = permissions?.mayReadEveryQueue ?? true
        // The queues listed, by name; nil: all of them (no need to walk them).
        var listed: [Int]? = nil
        if !everything || !needle.isEmpty {
            var indices: [Int] = []
            for index in 0..<directory.count {
                let name = directory.name(index)
                guard everything || Self.may(read: name, permissions) else { continue }
                if !everything { sums.add(directory.glance(index)) }
                if needle.isEmpty || name.lowercased().contains(needle) { indices.append(index) }
            }
            listed = indices
        }
        let total = listed?.count ?? directory.count
        // From the clamped start: `offset + limit` trapped for an offset near Int.max, and one
        // GET of /api/overview?offset=9223372036854775807 stopped the server.
        let start = min(offset, total)
        let page = start..<min(start + limit, total)
        return (page.map { listed?[$0] ?? $0 }, total, offset, limit)
    }

    /// `/api/series`: every queue's hour, or only the queues a page of the overview lists
    /// (`offset=`, `limit=`, `filter=` as there) or one (`queue=`), and with `since=` only the
    /// points sampled after it. The whole document was 3.2 MB at 10,000 active queues after
    /// three samples, built on the loop every 10 s; the dashboard asks for the page it shows,
    /// and after the first answer only for what is new.
    private func seriesDocument(_ query: [String: String], readableBy permissions: Permissions?) throws(MonitoringServer.BadQuery) -> String {
        guard let dashboard else { return "{}" }
        let since = try Self.pageNumber(query, "since").map { Int64($0) }
        var names: [String]? = nil
        if let queue = query["queue"], !queue.isEmpty {
            guard Array(queue.utf8).withUnsafeBytes({ QueueName.isValid($0, 0..<$0.count) }) else {
                throw .init(message: "queue names are 1 to \(QueueName.maxLength) letters, digits, _ or -")
            }
            names = [queue]
        } else if ["offset", "limit", "filter"].contains(where: { query[$0] != nil }) {
            var ignored = QueueSums()
            let directory = queueDirectory
            names = try queuePage(query, readableBy: permissions, adding: &ignored).indices.map { directory.name($0) }
        }
        return dashboard.series.json(
            now: clock.now(), since: since, only: names, everything: permissions?.mayReadEveryQueue ?? true
        ) { queue in permissions?.may(.read, queue: Array(queue.utf8)) ?? true }
    }

    /// A job's page: its document, the start of its payload, and the events remembered of it.
    private func jobPage(_ idText: String, _ principal: Principal?, _ answer: @escaping Answer) {
        performDetached(.inspect, idText, principal: principal) { [unowned self] reply in
            guard case .document(let document) = reply else { return answer(self.answer(reply)) }
            guard let id = UInt64(idText) else { return answer(failure(JobError(.badID, "job ids are positive numbers"))) }
            payloadPreview(of: id) { [unowned self] result in
                switch result {
                case .failure(let error): answer(failure(error))
                case .success(let payload):
                    var writer = JSONObjectWriter()
                    writer.add("job", json: document)
                    var preview = JSONObjectWriter()
                    preview.add("bytes", payload.total)
                    preview.add("text", Self.previewText(payload.bytes, truncated: payload.bytes.count < payload.total))
                    preview.add("base64", Base64.encode(payload.bytes))
                    preview.add("truncated", payload.bytes.count < payload.total)
                    writer.add("payload", json: preview.result)
                    let events = dashboard?.remembered(limit: 200) { $0.id == id } ?? []
                    writer.add("events", json: "[" + events.map { String(decoding: $0.json, as: UTF8.self) }.joined(separator: ",") + "]")
                    answer(json(200, writer.result))
                }
            }
        }
    }

    /// The most children one `/api/job/children` answer shows, and how many when `limit=` is
    /// absent: each comes as its whole INSPECT document (an error and a result may each be as
    /// large as a payload), as a LIST page's jobs do.
    static let childrenPage = 100

    /// A page of a job's children (CHILDREN's `after=` and `limit=`), each as INSPECT shows it,
    /// or `{"id":…,"state":"deleted"}` for one gone between the two: `{"id":…,"children":[…],"next":…}`.
    /// The page stops at the reply budget (the first child always shows), as LIST's does: 100
    /// children that each completed with a 1 MiB result would otherwise make 100 MiB.
    private func childrenPage(_ idText: String, _ query: [String: String], _ principal: Principal?, _ answer: @escaping Answer) {
        let limit = min(query["limit"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? Self.childrenPage, Self.childrenPage)
        let arguments = idText + (query["after"].map { " after=\($0)" } ?? "") + " limit=\(limit)"
        performDetached(.children, arguments, principal: principal) { [unowned self] reply in
            guard case .document(let page) = reply else { return answer(self.answer(reply)) }
            guard let (ids, next) = ChildrenPage.parse(page) else {
                return answer(failure(JobError(.badOption, "the children's page could not be read"), status: 500))
            }
            var documents: [String] = []
            var bytes = 0
            func finish(next: UInt64?) {
                var writer = JSONObjectWriter()
                writer.add("id", json: UInt64(idText).map { String($0) } ?? "null")
                writer.add("children", json: "[" + documents.joined(separator: ",") + "]")
                writer.add("next", json: next.map { String($0) } ?? "null")
                answer(json(200, writer.result))
            }
            func inspectNext() {
                guard documents.count < ids.count else { return finish(next: next) }
                let child = ids[documents.count]
                performDetached(.inspect, String(child), principal: principal) { [unowned self] reply in
                    let document: String
                    switch reply {
                    case .document(let text): document = text
                    case .gone: document = #"{"id":\#(child),"state":"deleted"}"#
                    case .error(let error) where error.code == .notFound: document = #"{"id":\#(child),"state":"deleted"}"#
                    default: return answer(self.answer(reply))
                    }
                    if !documents.isEmpty && bytes + document.utf8.count > config.replyBudget.bytes {
                        return finish(next: ids[documents.count - 1])
                    }
                    documents.append(document)
                    bytes += document.utf8.count + 1
                    inspectNext()
                }
            }
            inspectNext()
        }
    }

    /// A payload's start as text, if it is UTF-8: a cut may fall inside a character, whose
    /// first bytes (at most three) are then left out rather than the whole shown as binary.
    static func previewText(_ bytes: [UInt8], truncated: Bool) -> String? {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        guard truncated else { return nil }
        for cut in 1...3 where cut < bytes.count {
            if let text = String(validating: bytes.dropLast(cut), as: UTF8.self) { return text }
        }
        return nil
    }

    /// Whether a Host header names this server in a way no other site can take over: an IP
    /// address (v4, or v6 in brackets) or `localhost`, with or without a port.
    static func isRebindingProof(host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered.hasPrefix("[") { return lowered.contains("]") }
        let name = lowered.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The first `dashboardPayloadLimit` bytes of a job's payload, and its size.
    private func payloadPreview(of id: UInt64, _ done: @escaping (Result<(bytes: [UInt8], total: Int), JobError>) -> Void) {
        let limit = Self.dashboardPayloadLimit
        if let postgres {
            return postgres.payload(of: id, limit: limit) { result in
                done(result.flatMap { $0.map { .success($0) } ?? .failure(.notFound(id)) })
            }
        }
        if let staged = payloadInMemory(id) { return done(.success((Array(staged.prefix(limit)), staged.count))) }
        StoreFaultGuard.readingPayload(of: id) {
            store.readPayload(id) { result in
                switch result {
                case .success(let bytes): done(.success((Array(bytes.prefix(limit)), bytes.count)))
                case .failure(let error): done(.failure(JobError(.notFound, "job \(id): its payload cannot be read (\(error))")))
                }
            }
        }
    }

    /// POSTs: the changes an operator makes, each one wire command.
    private func dashboardChange(
        _ request: MonitoringServer.Request, _ reader: MonitoringServer.Reader, _ principal: Principal?, _ answer: @escaping Answer
    ) {
        // A form on another site can make a browser POST here, but cannot set this header, nor
        // read the page the token is in.
        guard let dashboard, let token = request.header("x-docket-csrf"), Dashboard.sameToken(token, dashboard.csrfToken) else {
            return answer(failure(JobError(.forbidden, "CSRF: send the page's token in X-Docket-CSRF"), status: 403, code: "CSRF"))
        }
        if let origin = request.header("origin") {
            let host = request.header("host") ?? ""
            guard !host.isEmpty, origin.lowercased() == (request.isSecure ? "https://" : "http://") + host.lowercased() else {
                return answer(failure(JobError(.forbidden, "CSRF: the request comes from \(origin), not this dashboard"), status: 403, code: "CSRF"))
            }
        }
        guard mayChange(reader) else {
            return answer(failure(JobError(
                .forbidden, "this dashboard is read-only: it listens beyond loopback without users (start docketd with --http-admin, or with users)")))
        }
        let query = request.query
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        let body = String(String(decoding: request.body, as: UTF8.self).drop(while: isBlank).reversed().drop(while: isBlank).reversed())
        if let (key, _) = query.first(where: { !Self.isField($0.value) }) {
            return answer(failure(JobError(.badOption, "?\(key)= must be one word")))
        }
        func named(_ key: String, _ run: (String) -> Void) {
            guard let value = query[key], !value.isEmpty else { return answer(missing(key)) }
            run(value)
        }
        switch request.path {
        case "/api/queue/pause": named("name") { detached(.pause, $0, principal, answer) }
        case "/api/queue/resume": named("name") { detached(.resume, $0, principal, answer) }
        case "/api/queue/settings":
            named("name") { name in
                guard !body.isEmpty, !body.contains("\n"), !body.contains("\r") else {
                    return answer(failure(JobError(.badOption, "send the settings as the body: rate=10/1s concurrency=4")))
                }
                detached(.queue, name + " " + body, principal, answer)
            }
        case "/api/queue/purge":
            named("name") { name in
                var arguments = name
                for option in ["state", "older"] { if let value = query[option] { arguments += " \(option)=\(value)" } }
                detached(.purge, arguments, principal, answer)
            }
        case "/api/queue/retry": named("name") { detached(.retry, "queue=" + $0, principal, answer) }
        case "/api/job/retry": named("id") { detached(.retry, $0, principal, answer) }
        case "/api/job/delete": named("id") { detached(.del, $0, principal, answer) }
        case "/api/job/promote": named("id") { detached(.promote, $0, principal, answer) }
        default: answer(failure(JobError(.notFound, "no such dashboard change: \(request.path)"), status: 404))
        }
    }

    /// Whether this viewer may change things at all (each change is still checked per queue).
    private func mayChange(_ reader: MonitoringServer.Reader) -> Bool {
        switch reader {
        case .anonymous: return false
        case .user(let principal):
            guard let rule = principal.permissions?.jobs[.admin] else { return principal.permissions == nil }
            return rule.allow.map { !$0.isEmpty } ?? true
        case .everyone: return config.httpAdmin || Self.isLoopback(config.host)
        }
    }

    /// One field of a command line: no blank, line end or other control byte (empty is
    /// allowed: the parameter was given without a value, and the command says what it lacks).
    static func isField(_ value: String) -> Bool {
        !value.utf8.contains { $0 <= 0x20 || $0 == 0x7F }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    private func detached(_ verb: JobVerb, _ arguments: String, _ principal: Principal?, _ answer: @escaping Answer) {
        performDetached(verb, arguments, principal: principal) { [unowned self] reply in answer(self.answer(reply)) }
    }

    private func answer(_ reply: JobReply) -> MonitoringServer.Answer {
        switch reply {
        case .document(let text): return json(200, text)
        case .done, .doneNow: return json(200, #"{"ok":true}"#)
        case .count(let count): return json(200, "{\"count\":\(count)}")
        case .error(let error): return failure(error)
        case .gone(let id): return failure(.notFound(id))
        default: return failure(JobError(.badOption, "the dashboard cannot show this answer"), status: 500)
        }
    }

    private func json(_ status: Int, _ body: String) -> MonitoringServer.Answer {
        .response(status: status, contentType: "application/json", body: body)
    }

    private func missing(_ parameter: String) -> MonitoringServer.Answer {
        failure(JobError(.badOption, "the request needs ?\(parameter)="))
    }

    /// An error document with the HTTP status its code calls for.
    private func failure(_ error: JobError, status: Int? = nil, code: String? = nil) -> MonitoringServer.Answer {
        let status = status ?? {
            switch error.code {
            case .notFound: return 404
            case .forbidden: return 403
            case .unavailable: return 503
            case .limit: return 429
            case .notDead, .notDelayed, .notHeld: return 409
            default: return 400
            }
        }()
        var inner = JSONObjectWriter()
        inner.add("code", code ?? error.code.rawValue)
        inner.add("message", error.message)
        return json(status, "{\"error\":" + inner.result + "}")
    }
}

private func dashboardTickCallback(_ fd: Int32, _ what: Int16, _ context: UnsafeMutableRawPointer?) {
    Unmanaged<Server>.fromOpaque(context!).takeUnretainedValue().dashboardTick()
}
