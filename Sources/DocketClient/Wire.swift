import DocketWire

/// Encoders for every command the client sends. Each checks its arguments first and throws
/// `badArgument` without producing anything when they cannot make a valid command: a malformed
/// command would get a job error at best, and at worst a fatal protocol error that closes the
/// connection under every other request pipelined on it.
///
/// The forms are canonical (PROTOCOL.md 4b; Protocol/client-conformance/README.md): fields
/// separated by one space, ENQ options in the order of the protocol's table, a payload count
/// only when a payload is given.
enum Wire {
    static let crlf: [UInt8] = [13, 10]

    // MARK: Event channel

    /// `nonce`: the one in this connection's INFO, which NKEY and JWT logins sign (the caller
    /// checked that there is one when they need it).
    static func connect(name: String?, echo: Bool, noResponders: Bool, credentials: Credentials? = nil, nonce: String? = nil)
        throws(DocketError) -> [UInt8]
    {
        var writer = JSONObjectWriter()
        switch credentials {
        case .token(let token)?: writer.add("auth_token", token)
        case .user(let name, let password)?:
            writer.add("user", name)
            writer.add("pass", password)
        case .nkey(let seed)?:
            writer.add("nkey", seed.publicKey)
            writer.add("sig", try seed.sign(nonce: nonce ?? ""))
        case .userCredentials(let creds)?:
            writer.add("jwt", creds.jwt)
            writer.add("sig", try creds.seed.sign(nonce: nonce ?? ""))
        case nil: break
        }
        writer.add("verbose", false)
        writer.add("pedantic", false)
        writer.add("headers", true)
        if noResponders { writer.add("no_responders", true) }
        if !echo { writer.add("echo", false) }
        writer.add("protocol", 1)
        writer.add("lang", "swift")
        writer.add("version", DocketConnection.version)
        if let name { writer.add("name", name) }
        return Array("CONNECT \(writer.result)\r\n".utf8)
    }

    static func publish(subject: String, payload: [UInt8], reply: String? = nil, headers: [Header]? = nil) throws(DocketError)
        -> [UInt8]
    {
        try checkLiteralSubject(subject, "subject")
        if let reply { try checkLiteralSubject(reply, "reply subject") }
        if let headers, !headers.isEmpty {
            var block = Array("NATS/1.0\r\n".utf8)
            for header in headers {
                try checkHeader(header)
                block += Array("\(header.name): \(header.value)\r\n".utf8)
            }
            block += crlf
            var out = Array("HPUB \(subject) ".utf8)
            if let reply { out += Array("\(reply) ".utf8) }
            out += Array("\(block.count) \(block.count + payload.count)\r\n".utf8)
            out += block
            out += payload
            out += crlf
            return out
        }
        var out = Array("PUB \(subject) ".utf8)
        if let reply { out += Array("\(reply) ".utf8) }
        out += Array("\(payload.count)\r\n".utf8)
        out += payload
        out += crlf
        return out
    }

    static func subscribe(subject: String, sid: String, queue: String? = nil) throws(DocketError) -> [UInt8] {
        guard isToken(subject), Subject.isValidFilter(Array(subject.utf8)) else {
            throw .badArgument("\"\(subject)\" is not a valid subject filter")
        }
        try checkSid(sid)
        if let queue {
            guard isToken(queue) else { throw .badArgument("queue group \"\(queue)\" must be one word without blanks") }
            return Array("SUB \(subject) \(queue) \(sid)\r\n".utf8)
        }
        return Array("SUB \(subject) \(sid)\r\n".utf8)
    }

    static func unsubscribe(sid: String, max: Int? = nil) throws(DocketError) -> [UInt8] {
        try checkSid(sid)
        if let max {
            guard (0...maxNumber).contains(max) else { throw .badArgument("max messages must be from 0 to \(maxNumber), not \(max)") }
            return Array("UNSUB \(sid) \(max)\r\n".utf8)
        }
        return Array("UNSUB \(sid)\r\n".utf8)
    }

    static func ping() -> [UInt8] { Array("PING\r\n".utf8) }
    static func pong() -> [UInt8] { Array("PONG\r\n".utf8) }
    static func help() -> [UInt8] { Array("HELP\r\n".utf8) }
    /// Ends the wait of the RESERVE sent right before it.
    static func cancel() -> [UInt8] { Array("CANCEL\r\n".utf8) }

    // MARK: Jobs

    /// `ENQ <queue> [options] <#bytes>`. `batchPosition`: where the ENQ stands in a BATCH
    /// (from 1), which lets `after` name the batch's earlier jobs; nil for a lone ENQ.
    static func enqueue(queue: String, payload: [UInt8], options: JobOptions = JobOptions(), batchPosition: Int? = nil) throws(DocketError)
        -> [UInt8]
    {
        try checkQueue(queue)
        let fields = try optionFields(options, for: .enqueue, batchPosition: batchPosition)
        return withPayload("ENQ \(queue)" + fields, payload)
    }

    /// `BATCH <n>`, then the n ENQs: at least one job, and every one checked (with its place in
    /// the batch, for `#<n>` parents) before anything is made, so one bad job refuses the call.
    /// `maxPayload`: the server's limit for each job's payload.
    static func batch(_ jobs: [DocketConnection.JobRequest], maxPayload: Int? = nil) throws(DocketError) -> [UInt8] {
        guard !jobs.isEmpty else { throw .badArgument("a batch needs at least one job") }
        var out = Array("BATCH \(jobs.count)\r\n".utf8)
        for (index, job) in jobs.enumerated() {
            do throws(DocketError) {
                if let maxPayload, job.payload.count > maxPayload {
                    throw .badArgument("\(job.payload.count) bytes is more than the server's max_payload of \(maxPayload)")
                }
                out += try enqueue(queue: job.queue, payload: job.payload, options: job.options, batchPosition: index + 1)
            } catch .badArgument(let why) {
                throw .badArgument("job \(index + 1) of the batch: \(why)")
            }
        }
        return out
    }

    /// The most parents one job may have (`after=`).
    static let maxParents = 100

    /// `after=`'s value: 1 to 100 parents, each once, ids as ids, `#<n>` naming an earlier job
    /// of the same batch (`batchPosition` is this job's place in it; nil: not in a batch).
    static func parentList(_ parents: [JobParent], batchPosition: Int?) throws(DocketError) -> String {
        guard (1...maxParents).contains(parents.count) else {
            throw .badArgument("after names 1 to \(maxParents) jobs, not \(parents.count)")
        }
        var seen = Set<JobParent>()
        for parent in parents {
            switch parent {
            case .job(let id):
                guard id > 0, id <= 9_999_999_999_999_999_999 else {
                    throw .badArgument("after: job ids are positive numbers of at most 19 digits, not \(id)")
                }
            case .batchItem(let position):
                guard let batchPosition else {
                    throw .badArgument("after: \(parent) names a job of the same batch, and this job is not in one (use batch)")
                }
                guard position >= 1, position < batchPosition else {
                    throw .badArgument("after: \(parent) must name an earlier job of the batch (#1 to #\(batchPosition - 1))")
                }
            }
            guard seen.insert(parent).inserted else { throw .badArgument("after names \(parent) twice") }
        }
        return parents.map(\.description).joined(separator: ",")
    }

    /// Which command the ENQ options go with: routes and schedules make a new job each time,
    /// so they cannot fix the options that name one job (`key`, `at`, `expires`; a schedule
    /// not `delay` either: its ticks say when).
    enum OptionsOwner: String {
        case enqueue, route, schedule
    }

    /// The ENQ option fields, each with a leading space, in the protocol table's order.
    static func optionFields(_ options: JobOptions, for owner: OptionsOwner, batchPosition: Int? = nil) throws(DocketError) -> String {
        func refuse(_ option: String) -> DocketError {
            .badArgument("a \(owner.rawValue) cannot fix \(option)=: each \(owner == .route ? "message" : "tick") makes a new job")
        }
        var text = ""
        if options.delay != nil && options.at != nil { throw .badArgument("delay and at do not go together") }
        if let delay = options.delay {
            if owner == .schedule { throw refuse("delay") }
            text += " delay=" + (try delay.wireText())
        }
        if let at = options.at {
            if owner != .enqueue { throw refuse("at") }
            guard (0...Int64(maxNumber)).contains(at) else { throw .badArgument("at is unix seconds from 0 to \(maxNumber), not \(at)") }
            text += " at=\(at)"
        }
        if let priority = options.priority {
            guard (-1_000_000...1_000_000).contains(priority) else {
                throw .badArgument("priority must be from -1000000 to 1000000, not \(priority)")
            }
            text += " pri=\(priority)"
        }
        if let attempts = options.attempts {
            guard (1...1000).contains(attempts) else { throw .badArgument("attempts must be from 1 to 1000, not \(attempts)") }
            text += " attempts=\(attempts)"
        }
        if let backoff = options.backoff { text += " backoff=" + (try backoff.wireText()) }
        if let jitter = options.jitter {
            guard jitter.isFinite, jitter >= 0, jitter <= 1 else { throw .badArgument("jitter must be from 0 to 1, not \(jitter)") }
            text += " jitter=" + decimal(jitter)
        }
        if let lease = options.lease {
            let wire = try lease.wireText()
            guard (lease.milliseconds ?? 0) > 0 else { throw .badArgument("lease must be longer than zero") }
            text += " lease=" + wire
        }
        if let key = options.key {
            if owner != .enqueue { throw refuse("key") }
            try checkWord(key, "key", maxBytes: 200)
            text += " key=" + key
        }
        if let group = options.group {
            try checkWord(group, "group", maxBytes: 200)
            text += " group=" + group
        }
        if options.ttl != nil && options.expires != nil { throw .badArgument("ttl and expires do not go together") }
        if let ttl = options.ttl {
            let wire = try ttl.wireText()
            guard (ttl.milliseconds ?? 0) > 0 else { throw .badArgument("ttl must be longer than zero") }
            text += " ttl=" + wire
        }
        if let expires = options.expires {
            if owner != .enqueue { throw refuse("expires") }
            guard (0...maxUnixMilliseconds).contains(expires) else {
                throw .badArgument("expires is unix milliseconds from 0 to \(maxUnixMilliseconds), not \(expires)")
            }
            text += " expires=\(expires)"
        }
        if let after = options.after {
            if owner != .enqueue {
                throw .badArgument("a \(owner.rawValue) cannot wait for jobs (after=): each \(owner == .route ? "message" : "tick") makes a new job")
            }
            text += " after=" + (try parentList(after, batchPosition: batchPosition))
        }
        if let policy = options.onParentDead {
            if owner != .enqueue { throw .badArgument("a \(owner.rawValue) has no parents, so no on_parent_dead=") }
            text += " on_parent_dead=\(policy.rawValue)"
        }
        if options.keyTTL != nil || options.replace {
            if owner != .enqueue { throw refuse(options.replace ? "replace" : "key_ttl") }
            guard options.key != nil else { throw .badArgument("key_ttl and replace go with key") }
        }
        if let keyTTL = options.keyTTL {
            let wire = try keyTTL.wireText()
            guard (keyTTL.milliseconds ?? 0) > 0 else { throw .badArgument("key_ttl must be longer than zero") }
            text += " key_ttl=" + wire
        }
        if options.replace { text += " replace=true" }
        return text
    }

    static func reserve(queues: [String], timeout: DocketDuration? = nil) throws(DocketError) -> [UInt8] {
        guard !queues.isEmpty else { throw .badArgument("reserve needs at least one queue") }
        for queue in queues { try checkQueue(queue) }
        var line = "RESERVE " + queues.joined(separator: ",")
        if let timeout { line += " timeout=" + (try timeout.wireText()) }
        return Array((line + "\r\n").utf8)
    }

    static func ack(id: UInt64, attempt: Int? = nil, result: [UInt8]? = nil) throws(DocketError) -> [UInt8] {
        try checkID(id)
        return withOptionalPayload("ACK \(id)" + (try attemptField(attempt)), result)
    }

    /// ` attempt=<n>` when the caller names the attempt it holds (the server then refuses a
    /// command for an attempt that is no longer current).
    static func attemptField(_ attempt: Int?) throws(DocketError) -> String {
        guard let attempt else { return "" }
        guard (1...maxNumber).contains(attempt) else { throw .badArgument("an attempt is numbered from 1 (to \(maxNumber)), not \(attempt)") }
        return " attempt=\(attempt)"
    }

    /// `FAIL <id> [attempt=<n>] [retry=<d>|retry=no] [<#bytes>]`, or with `throttle`
    /// `FAIL <id> [attempt=<n>] throttle=<d> [scope=queue|group] [<#bytes>]`. One encoder for
    /// both, so a retry with a throttle, or a scope without one, is refused in one place.
    static func fail(
        id: UInt64, attempt: Int? = nil, reason: [UInt8]? = nil, retry: RetryPolicy = .backoff, throttle: DocketDuration? = nil,
        scope: String? = nil
    ) throws(DocketError) -> [UInt8] {
        try checkID(id)
        var line = "FAIL \(id)" + (try attemptField(attempt))
        if let throttle {
            guard retry == .backoff else { throw .badArgument("a throttle does not go with a retry choice") }
            let wire = try throttle.wireText()
            guard (throttle.milliseconds ?? 0) > 0 else { throw .badArgument("a throttle must be longer than zero") }
            line += " throttle=\(wire)"
            if let scope {
                guard ThrottleScope(rawValue: scope) != nil else { throw .badArgument("a throttle's scope is queue or group, not \"\(scope)\"") }
                line += " scope=\(scope)"
            }
            return withOptionalPayload(line, reason)
        }
        guard scope == nil else { throw .badArgument("a scope goes only with a throttle") }
        switch retry {
        case .backoff: break
        case .never: line += " retry=no"
        case .after(let delay): line += " retry=" + (try delay.wireText())
        }
        return withOptionalPayload(line, reason)
    }

    static func progress(id: UInt64, percent: Int, attempt: Int? = nil, note: [UInt8]? = nil) throws(DocketError) -> [UInt8] {
        try checkID(id)
        guard (0...100).contains(percent) else { throw .badArgument("progress must be from 0 to 100, not \(percent)") }
        return withOptionalPayload("PROGRESS \(id) \(percent)" + (try attemptField(attempt)), note)
    }

    static func touch(id: UInt64, attempt: Int? = nil) throws(DocketError) -> [UInt8] {
        try checkID(id)
        return Array(("TOUCH \(id)" + (try attemptField(attempt)) + "\r\n").utf8)
    }
    static func inspect(id: UInt64) throws(DocketError) -> [UInt8] { try idCommand("INSPECT", id) }
    static func retry(id: UInt64) throws(DocketError) -> [UInt8] { try idCommand("RETRY", id) }
    static func delete(id: UInt64) throws(DocketError) -> [UInt8] { try idCommand("DEL", id) }

    static func retryQueue(queue: String) throws(DocketError) -> [UInt8] {
        try checkQueue(queue)
        return Array("RETRY queue=\(queue)\r\n".utf8)
    }

    static func dead(queue: String, limit: Int? = nil) throws(DocketError) -> [UInt8] {
        try checkQueue(queue)
        if let limit {
            guard (1...maxNumber).contains(limit) else { throw .badArgument("limit must be from 1 to \(maxNumber), not \(limit)") }
            return Array("DEAD \(queue) limit=\(limit)\r\n".utf8)
        }
        return Array("DEAD \(queue)\r\n".utf8)
    }

    static func wait(id: UInt64, timeout: DocketDuration? = nil) throws(DocketError) -> [UInt8] {
        try checkID(id)
        if let timeout { return Array("WAIT \(id) timeout=\(try timeout.wireText())\r\n".utf8) }
        return Array("WAIT \(id)\r\n".utf8)
    }

    // MARK: Queues, routes, server

    /// `QUEUE <queue>`: reading the queue document.
    static func queue(_ name: String) throws(DocketError) -> [UInt8] {
        try checkQueue(name)
        return Array("QUEUE \(name)\r\n".utf8)
    }

    /// `QUEUE <queue> <setting>=<value> ...`: at least one setting, each checked against the
    /// server's bounds, written in the order of PROTOCOL.md's table whatever the caller's order.
    static func setQueue(_ name: String, settings: [QueueSetting]) throws(DocketError) -> [UInt8] {
        try checkQueue(name)
        guard !settings.isEmpty else { throw .badArgument("no settings to change (QUEUE <queue> alone reads the queue)") }
        var byName: [String: String] = [:]
        for setting in settings {
            guard QueueSetting.order.contains(setting.name) else {
                throw .badArgument("unknown queue setting \"\(setting.name)\"; known: \(QueueSetting.order.joined(separator: ", "))")
            }
            guard byName[setting.name] == nil else { throw .badArgument("\(setting.name) is set twice") }
            try checkSetting(setting)
            byName[setting.name] = setting.value
        }
        var line = "QUEUE \(name)"
        for key in QueueSetting.order { if let value = byName[key] { line += " \(key)=\(value)" } }
        return Array((line + "\r\n").utf8)
    }

    /// A setting's value, as the server's `QueueSettings` reads it; `none` for any setting.
    static func checkSetting(_ setting: QueueSetting) throws(DocketError) {
        let value = setting.value
        if value == "none" { return }
        func bad(_ why: String) -> DocketError { .badArgument("\(setting.name)=\(value): \(why)") }
        func integer(_ range: ClosedRange<Int>) -> Bool {
            guard !value.isEmpty, value.utf8.count <= 18, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int(value)
            else { return false }
            return range.contains(number)
        }
        switch setting.name {
        case "rate", "group_rate":
            guard isValidRate(value) else {
                throw bad("a rate is <n>/<window>: n from 1 to 1000000, the window longer than zero (100/1s, 100/s, 5/250ms)")
            }
        case "concurrency": guard integer(1...100_000) else { throw bad("concurrency is 1 to 100000") }
        case "attempts": guard integer(1...1000) else { throw bad("attempts is 1 to 1000") }
        case "backoff":
            do { _ = try Backoff(value).wireText() } catch { throw bad("\(error)") }
        case "jitter":
            let digits = value.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...2).contains(digits.count), digits.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
                let fraction = Double(value), fraction <= 1
            else { throw bad("jitter is a plain decimal from 0 to 1") }
        case "lease":
            guard (DocketDuration(value).milliseconds ?? 0) > 0 else { throw bad("a lease is a duration longer than zero, at most 366 days") }
        default:  // keep_completed, keep_dead
            guard integer(0...Int.max) else { throw bad("\(setting.name) is a count, 0 or more") }
        }
    }

    /// `<n>/<window>` as the server's `Rate.parse` reads it: n from 1 to 1000000, the window a
    /// duration longer than zero, or a bare unit meaning one of it (`100/s`).
    static func isValidRate(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 7, parts[0].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let limit = Int(parts[0]), (1...1_000_000).contains(limit), let first = parts[1].first
        else { return false }
        let window = first.isNumber ? String(parts[1]) : "1" + parts[1]
        return (DocketDuration(window).milliseconds ?? 0) > 0
    }

    static func pause(_ name: String) throws(DocketError) -> [UInt8] {
        try checkQueue(name)
        return Array("PAUSE \(name)\r\n".utf8)
    }

    static func resume(_ name: String) throws(DocketError) -> [UInt8] {
        try checkQueue(name)
        return Array("RESUME \(name)\r\n".utf8)
    }

    static func stats() -> [UInt8] { Array("STATS\r\n".utf8) }

    /// `QUEUES [after=<name>] [limit=<n>]`, and `SCHEDULES` with `verb`: one page by name.
    static func namePage(_ verb: String, after: String?, limit: Int?) throws(DocketError) -> [UInt8] {
        var line = verb
        if let after {
            try checkScheduleName(after)
            line += " after=\(after)"
        }
        if let limit {
            guard (1...1000).contains(limit) else { throw .badArgument("a page of \(verb.lowercased()) holds 1 to 1000, not \(limit)") }
            line += " limit=\(limit)"
        }
        return Array((line + "\r\n").utf8)
    }
    static func routes(after: UInt64?, limit: Int?) throws(DocketError) -> [UInt8] {
        var line = "ROUTES"
        if let after { line += " after=\(after)" }
        if let limit {
            guard (1...1000).contains(limit) else { throw .badArgument("a page of routes holds 1 to 1000, not \(limit)") }
            line += " limit=\(limit)"
        }
        return Array((line + "\r\n").utf8)
    }

    static func route(pattern: String, queue: String, options: JobOptions = JobOptions()) throws(DocketError) -> [UInt8] {
        guard isToken(pattern), Subject.isValidFilter(Array(pattern.utf8)) else {
            throw .badArgument("\"\(pattern)\" is not a valid subject pattern")
        }
        guard !pattern.hasPrefix("$") else { throw .badArgument("reserved $ subjects cannot be routed") }
        try checkQueue(queue)
        return Array(("ROUTE \(pattern) \(queue)" + (try optionFields(options, for: .route)) + "\r\n").utf8)
    }

    // MARK: Browsing and bulk repair

    /// `LIST <queue> [state=] [after=] [limit=]`.
    static func list(queue: String, state: JobState? = nil, after: String? = nil, limit: Int? = nil) throws(DocketError) -> [UInt8] {
        try checkQueue(queue)
        var line = "LIST \(queue)"
        if let state { line += " state=\(state.rawValue)" }
        if let after {
            guard isToken(after) else { throw .badArgument("a LIST cursor is one word, as the server gave it") }
            line += " after=\(after)"
        }
        if let limit {
            guard (1...1000).contains(limit) else { throw .badArgument("a LIST page holds 1 to 1000 jobs, not \(limit)") }
            line += " limit=\(limit)"
        }
        return Array((line + "\r\n").utf8)
    }

    /// `PURGE <queue> state=<state> [older=<d>]`: never active jobs (workers hold them).
    static func purge(queue: String, state: JobState, older: DocketDuration? = nil) throws(DocketError) -> [UInt8] {
        try checkQueue(queue)
        guard state != .active else { throw .badArgument("active jobs are held by workers and are never purged (delete them one by one)") }
        var line = "PURGE \(queue) state=\(state.rawValue)"
        if let older { line += " older=" + (try older.wireText()) }
        return Array((line + "\r\n").utf8)
    }

    static func promote(id: UInt64) throws(DocketError) -> [UInt8] { try idCommand("PROMOTE", id) }
    static func parents(id: UInt64) throws(DocketError) -> [UInt8] { try idCommand("PARENTS", id) }

    /// `CHILDREN <id> [after=<id>] [limit=<n>]`.
    static func children(id: UInt64, after: UInt64?, limit: Int?) throws(DocketError) -> [UInt8] {
        try checkID(id)
        var line = "CHILDREN \(id)"
        if let after {
            try checkID(after)
            line += " after=\(after)"
        }
        if let limit {
            guard (1...1000).contains(limit) else { throw .badArgument("a page of children holds 1 to 1000, not \(limit)") }
            line += " limit=\(limit)"
        }
        return Array((line + "\r\n").utf8)
    }

    // MARK: Schedules

    /// `SCHEDULE <name> <queue> cron="…"|every=<d> [tz=] [catchup=] [ENQ options] <#bytes>`.
    static func schedule(name: String, queue: String, when: ScheduleTiming, catchup: ScheduleCatchup? = nil, options: JobOptions = JobOptions(),
        payload: [UInt8]) throws(DocketError) -> [UInt8]
    {
        try checkScheduleName(name)
        try checkQueue(queue)
        var line = "SCHEDULE \(name) \(queue)"
        switch when.storage {
        case .cron(let expression, let zone):
            guard !expression.isEmpty, !expression.utf8.contains(where: { $0 == 0x22 || $0 == 13 || $0 == 10 }) else {
                throw .badArgument("a cron expression is non-empty and has no double quote or line end")
            }
            line += " cron=\"\(expression)\""
            if let zone {
                guard isToken(zone) else { throw .badArgument("a time zone is one word (Europe/Berlin)") }
                line += " tz=\(zone)"
            }
        case .every(let interval):
            let wire = try interval.wireText()
            guard (interval.milliseconds ?? 0) >= 1000 else { throw .badArgument("every= is at least 1s") }
            line += " every=\(wire)"
        }
        if let catchup { line += " catchup=\(catchup.rawValue)" }
        line += try optionFields(options, for: .schedule)
        return withPayload(line, payload)
    }

    static func unschedule(name: String) throws(DocketError) -> [UInt8] {
        try checkScheduleName(name)
        return Array("UNSCHEDULE \(name)\r\n".utf8)
    }

    static func schedules(after: String?, limit: Int?) throws(DocketError) -> [UInt8] {
        try namePage("SCHEDULES", after: after, limit: limit)
    }

    static func pauseSchedule(name: String) throws(DocketError) -> [UInt8] {
        try checkScheduleName(name)
        return Array("PAUSE schedule=\(name)\r\n".utf8)
    }

    static func resumeSchedule(name: String) throws(DocketError) -> [UInt8] {
        try checkScheduleName(name)
        return Array("RESUME schedule=\(name)\r\n".utf8)
    }

    static func checkScheduleName(_ name: String) throws(DocketError) {
        guard isValidQueue(name) else {
            throw .badArgument("schedule name \"\(name)\" must be 1 to 128 letters, digits, _ or -")
        }
    }

    static func unroute(id: UInt64) throws(DocketError) -> [UInt8] { try idCommand("UNROUTE", id) }

    // MARK: Helpers

    /// The largest number the server reads in `at=`, `limit=`, `attempt=` and UNSUB (10 digits).
    static let maxNumber = 9_999_999_999
    /// The largest `expires=` the server reads (15 digits).
    static let maxUnixMilliseconds: Int64 = 999_999_999_999_999

    private static func idCommand(_ verb: String, _ id: UInt64) throws(DocketError) -> [UInt8] {
        try checkID(id)
        return Array("\(verb) \(id)\r\n".utf8)
    }

    private static func withPayload(_ line: String, _ payload: [UInt8]) -> [UInt8] {
        var out = Array("\(line) \(payload.count)\r\n".utf8)
        out.reserveCapacity(out.count + payload.count + 2)
        out += payload
        out += crlf
        return out
    }

    private static func withOptionalPayload(_ line: String, _ payload: [UInt8]?) -> [UInt8] {
        guard let payload else { return Array((line + "\r\n").utf8) }
        return withPayload(line, payload)
    }

    /// `0.5`, `1`, `0.125`: plain decimal, no exponent, no trailing zeros (to 1e-6).
    static func decimal(_ value: Double) -> String {
        let micros = Int((value * 1_000_000).rounded())
        let whole = micros / 1_000_000
        var fraction = String(micros % 1_000_000)
        if fraction == "0" { return String(whole) }
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }

    static func checkID(_ id: UInt64) throws(DocketError) {
        guard id > 0, id <= 9_999_999_999_999_999_999 else { throw .badArgument("job ids are positive numbers of at most 19 digits") }
    }

    static func isValidQueue(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return bytes.withUnsafeBytes { QueueName.isValid($0, 0..<bytes.count) }
    }

    static func checkQueue(_ name: String) throws(DocketError) {
        guard isValidQueue(name) else {
            throw .badArgument("queue name \"\(name)\" must be 1 to 128 letters, digits, _ or -")
        }
    }

    /// No blanks, line ends or other control bytes: one field of a control line.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && !text.utf8.contains { $0 <= 0x20 || $0 == 0x7F }
    }

    static func checkWord(_ text: String, _ what: String, maxBytes: Int) throws(DocketError) {
        guard isToken(text), text.utf8.count <= maxBytes else {
            throw .badArgument("\(what) must be 1 to \(maxBytes) bytes without blanks")
        }
    }

    static func checkLiteralSubject(_ subject: String, _ what: String) throws(DocketError) {
        guard isToken(subject), Subject.isValidLiteral(Array(subject.utf8)) else {
            throw .badArgument("\(what) \"\(subject)\" is not a valid subject to publish on (no empty tokens, no wildcards, no blanks)")
        }
    }

    static func checkSid(_ sid: String) throws(DocketError) {
        guard isToken(sid) else { throw .badArgument("a subscription id is one word without blanks") }
    }

    static func checkHeader(_ header: Header) throws(DocketError) {
        guard isToken(header.name), !header.name.contains(":") else {
            throw .badArgument("header name \"\(header.name)\" must be one word without a colon")
        }
        guard !header.value.utf8.contains(where: { $0 == 13 || $0 == 10 }) else {
            throw .badArgument("header values cannot contain line ends")
        }
    }
}
