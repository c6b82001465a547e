import DocketWire

/// The kind of a command waiting for its reply: what a reply must look like to answer it.
enum CommandKind: String, Sendable {
    case ping, enqueue, reserve, ack, fail, throttle, progress, touch, inspect, dead, retry
    case retryQueue = "retry_queue"
    case delete, help
    /// `QUEUE <queue>`, reading (the names are those of the client-conformance cases).
    case queueShow = "queue"
    /// `QUEUE <queue> <setting>=<value> ...`.
    case queueSet = "set_queue"
    case pause, resume, queues, stats, wait, route, unroute, routes
    case list, purge, promote, schedule, unschedule, schedules
    /// `BATCH <n>` and its ENQs, answered once.
    case batch
    case parents, children
    case pauseSchedule = "pause_schedule"
    case resumeSchedule = "resume_schedule"
    /// `CANCEL`, sent behind a RESERVE or WAIT whose caller gave up.
    case cancel

    /// Job verbs are answered with job errors; PING never is.
    var isJobVerb: Bool { self != .ping }
}

/// A decoded reply.
enum Reply: Sendable, Equatable {
    case pong
    case ok
    case enqueued(Enqueued)
    /// A BATCH's `+OK <id> <id> …`.
    case ids([UInt64])
    case job(Job?)
    case fail(FailOutcome)
    case count(Int)
    case json(JSONValue, raw: [UInt8])
    case help(String)
    /// WAIT's answer, with the job id the server named.
    case wait(id: UInt64, WaitOutcome)
    case routeID(UInt64)
    /// A job error answering the command.
    case error(code: String, message: String)
    /// An `-ERR` without a job error code, and not one of NATS's own texts, answering a job
    /// command: the server answers every job command in order, so the command fails with it.
    case commandError(String)

    /// The job of a RESERVE's `JOB` reply.
    var job: Job? {
        if case .job(let job?) = self { return job }
        return nil
    }
}

/// Where an op from the server goes.
enum Routed: Sendable, Equatable {
    case message(Message)
    case ping
    case info(JSONValue)
    /// An `-ERR` that answers no command.
    case serverError(String)
    /// The reply of the oldest waiting command.
    case reply(Reply)
}

enum Replies {
    /// Routes `op`, given the kind of the oldest command waiting for a reply (nil: none
    /// waits). A reply that fits no waiting command is a protocol violation.
    static func route(_ op: ServerOp, waiting: CommandKind?) -> Result<Routed, DocketError> {
        switch op {
        case .message(let message): return .success(.message(message))
        case .ping: return .success(.ping)
        case .info(let json): return .success(.info(json))
        case .err(let text):
            if let waiting, waiting.isJobVerb {
                if let (code, message) = jobError(text) { return .success(.reply(.error(code: code, message: message))) }
                if !isNATSError(text) { return .success(.reply(.commandError(text))) }
            }
            return .success(.serverError(text))
        default:
            guard let waiting else { return .failure(.protocolViolation("a reply (\(describe(op))) when no command waits for one")) }
            return decode(op, for: waiting).map(Routed.reply)
        }
    }

    /// The `-ERR` texts NATS defines (PROTOCOL.md section 6), in any case: they answer no
    /// command, whatever waits.
    static func isNATSError(_ text: String) -> Bool {
        let lower = text.lowercased()
        return natsErrorTexts.contains(lower) || lower.hasPrefix("invalid protocol:") || lower.hasPrefix("permissions violation ")
    }

    static let natsErrorTexts: Set<String> = [
        "unknown protocol operation", "maximum payload violation", "maximum control line exceeded",
        "invalid client protocol", "no responders requires headers support", "headers not negotiated",
        "maximum connections exceeded", "stale connection", "authorization violation", "authentication timeout",
        "user authentication expired", "maximum account active connections exceeded",
        "secure connection - tls required", "invalid subject", "invalid publish subject",
        "maximum subscriptions exceeded",
    ]

    /// Splits a job error `<CODE> <message>`: the code `[A-Z][A-Z0-9_]*[A-Z0-9]`, then blanks
    /// and a message, or nothing.
    static func jobError(_ text: String) -> (String, String)? {
        let bytes = Array(text.utf8)
        var end = 0
        while end < bytes.count, bytes[end] != 0x20, bytes[end] != 0x09 { end += 1 }
        let code = bytes[..<end]
        guard code.count >= 2, let first = code.first, let last = code.last, (0x41...0x5A).contains(first),
            (0x41...0x5A).contains(last) || (0x30...0x39).contains(last),
            code.allSatisfy({ (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F })
        else { return nil }
        var start = end
        while start < bytes.count, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        return (String(decoding: code, as: UTF8.self), String(decoding: bytes[start...], as: UTF8.self))
    }

    /// Reads `op` as the reply to a command of `kind`.
    static func decode(_ op: ServerOp, for kind: CommandKind) -> Result<Reply, DocketError> {
        func wrong() -> Result<Reply, DocketError> {
            .failure(.protocolViolation("\(describe(op)) does not answer \(kind.rawValue)"))
        }
        switch (kind, op) {
        case (.ping, .pong): return .success(.pong)
        case (.enqueue, .ok(let rest)):
            let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
            guard (1...2).contains(fields.count), let id = parseID(fields[0]) else { return wrong() }
            if fields.count == 2 {
                switch fields[1] {
                case "duplicate": return .success(.enqueued(Enqueued(id: id, duplicate: true)))
                case "replaced": return .success(.enqueued(Enqueued(id: id, duplicate: false, replaced: true)))
                default: return wrong()
                }
            }
            return .success(.enqueued(Enqueued(id: id, duplicate: false)))
        case (.batch, .ok(let rest)):
            let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
            var ids: [UInt64] = []
            ids.reserveCapacity(fields.count)
            for field in fields {
                guard let id = parseID(field) else { return wrong() }
                ids.append(id)
            }
            return ids.isEmpty ? wrong() : .success(.ids(ids))
        case (.reserve, .job(let job)): return .success(.job(job))
        case (.reserve, .noJob): return .success(.job(nil))
        case (.ack, .ok(let rest)), (.progress, .ok(let rest)), (.touch, .ok(let rest)), (.retry, .ok(let rest)),
            (.delete, .ok(let rest)), (.queueSet, .ok(let rest)), (.pause, .ok(let rest)), (.resume, .ok(let rest)),
            (.unroute, .ok(let rest)), (.promote, .ok(let rest)), (.schedule, .ok(let rest)), (.unschedule, .ok(let rest)),
            (.pauseSchedule, .ok(let rest)), (.resumeSchedule, .ok(let rest)), (.cancel, .ok(let rest)):
            return rest.isEmpty ? .success(.ok) : wrong()
        case (.fail, .ok(let rest)), (.throttle, .ok(let rest)):
            let fields = rest.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count == 1, fields[0] == "dead" { return .success(.fail(.dead)) }
            if fields.count == 2, let value = parseCount(fields[1]) {
                if fields[0] == "retry" { return .success(.fail(.retry(afterMilliseconds: value))) }
                if fields[0] == "throttled" { return .success(.fail(.throttled(milliseconds: value))) }
            }
            return wrong()
        case (.retryQueue, .ok(let rest)), (.purge, .ok(let rest)):
            guard let count = parseCount(Substring(rest)) else { return wrong() }
            return .success(.count(count))
        case (.route, .ok(let rest)):
            guard let id = parseID(Substring(rest)) else { return wrong() }
            return .success(.routeID(id))
        case (.inspect, .json(let raw)), (.dead, .json(let raw)), (.queueShow, .json(let raw)), (.queues, .json(let raw)),
            (.stats, .json(let raw)), (.routes, .json(let raw)), (.list, .json(let raw)), (.schedules, .json(let raw)),
            (.parents, .json(let raw)), (.children, .json(let raw)):
            guard let value = raw.withUnsafeBytes({ JSONValue.parse($0) }) else {
                return .failure(.protocolViolation("the JSON reply to \(kind.rawValue) is not valid JSON"))
            }
            switch (kind, value) {
            case (.inspect, .object), (.queueShow, .object), (.stats, .object), (.list, .object), (.children, .object): break
            case (.dead, .array), (.queues, .array), (.routes, .array), (.schedules, .array), (.parents, .array): break
            default: return .failure(.protocolViolation("the JSON reply to \(kind.rawValue) has the wrong shape"))
            }
            return .success(.json(value, raw: raw))
        case (.help, .help(let bytes)): return .success(.help(String(decoding: bytes, as: UTF8.self)))
        case (.wait, .outcome(let id, let completed, let detail)):
            return .success(.wait(id: id, completed ? .completed(result: detail) : .dead(error: detail)))
        case (.wait, .pending(let id, let state)): return .success(.wait(id: id, .pending(state: state)))
        default: return wrong()
        }
    }

    private static func parseID(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt64(text),
            value > 0
        else { return nil }
        return value
    }

    private static func parseCount(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(text)
    }

    static func describe(_ op: ServerOp) -> String {
        switch op {
        case .info: return "INFO"
        case .message: return "MSG"
        case .ping: return "PING"
        case .pong: return "PONG"
        case .ok(let rest): return rest.isEmpty ? "+OK" : "+OK \(rest.prefix(40))"
        case .err(let text): return "-ERR '\(text.prefix(60))'"
        case .job(let job): return "JOB \(job.id)"
        case .noJob: return "NOJOB"
        case .json: return "JSON"
        case .help: return "HELP"
        case .outcome(let id, _, _): return "OUTCOME \(id)"
        case .pending(let id, _): return "PENDING \(id)"
        }
    }
}
