import DocketTestSupport
import Foundation
import Testing

@testable import DocketClient

/// Runs the language-agnostic client cases of `Protocol/client-conformance/cases.json`
/// against the encoders, parser and reply router the live client uses.
@Suite struct ClientConformanceTests {
    static let casesFile = DocketdProcess.packageRoot.appendingPathComponent("Protocol/client-conformance/cases.json")
    static let gapsFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("conformance-gaps.txt")

    static let document: JSONValue = {
        guard let data = FileManager.default.contents(atPath: casesFile.path),
            let value = ConformanceRunner.exactIntegers(Array(data)).withUnsafeBytes({ JSONValue.parse($0) })
        else { fatalError("cannot read \(casesFile.path)") }
        return value
    }()

    static let cases: [JSONValue] = {
        guard case .array(let items)? = document["cases"] else { fatalError("cases.json has no cases array") }
        return items
    }()

    static let names: [String] = cases.map { $0["name"]?.stringValue ?? "?" }

    static let gaps: Set<String> = {
        let text = (try? String(contentsOf: gapsFile, encoding: .utf8)) ?? ""
        return Set(
            text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") })
    }()

    @Test func fileFormat() {
        #expect(Self.document["version"] == .number(1))
        #expect(Set(Self.names).count == Self.names.count, "case names are unique")
        for gap in Self.gaps { #expect(Self.names.contains(gap), "conformance-gaps.txt lists \(gap), which is not a case") }
    }

    @Test(arguments: names) func clientCase(_ name: String) {
        let testCase = Self.cases.first { $0["name"]?.stringValue == name }!
        if Self.gaps.contains(name) {
            // Listed as a gap: it must still fail, or the list is stale.
            withKnownIssue("listed in conformance-gaps.txt") {
                if let failure = ConformanceRunner.run(testCase) { Issue.record(Comment(rawValue: failure)) }
            }
        } else if let failure = ConformanceRunner.run(testCase) {
            Issue.record(Comment(rawValue: "\(name): \(failure)"))
        }
    }
}

/// Runs one case; nil when it passes, else why not.
enum ConformanceRunner {
    static func run(_ testCase: JSONValue) -> String? {
        guard case .object(let fields) = testCase, let kind = fields["kind"]?.stringValue else { return "a case without a kind" }
        let common: Set<String> = ["name", "kind", "note"]
        let known: Set<String>
        switch kind {
        case "encode": known = common.union(["call", "args", "expect", "expect_error"])
        case "decode": known = common.union(["reply_to", "input", "expect"])
        case "reject": known = common.union(["reply_to", "input"])
        default: return "unknown case kind \(kind)"
        }
        if let unknown = fields.keys.first(where: { !known.contains($0) }) { return "unknown field \(unknown)" }
        do {
            switch kind {
            case "encode": return try encode(fields)
            case "decode": return try decode(fields)
            default: return try reject(fields)
            }
        } catch {
            return "malformed case: \(error)"
        }
    }

    /// The marker of an integer too long for a double to hold exactly (`JSONValue` numbers are
    /// doubles): the cases' 19-digit ids are compared as their digits.
    static let bigIntegerMarker = "#int:"

    /// The case file with every integer literal of 16 digits or more (outside strings) turned
    /// into the string `"#int:<digits>"`, so no id is rounded on the way in.
    static func exactIntegers(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var index = 0
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        while index < text.count {
            let byte = text[index]
            if byte == UInt8(ascii: "\"") {
                var end = index + 1
                while text[end] != UInt8(ascii: "\"") { end += text[end] == UInt8(ascii: "\\") ? 2 : 1 }
                out += text[index...end]
                index = end + 1
            } else if isDigit(byte) || byte == UInt8(ascii: "-") {
                var end = index + 1
                while end < text.count, isDigit(text[end]) || [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-")].contains(text[end]) {
                    end += 1
                }
                let literal = Array(text[index..<end])
                if literal.count >= 16, literal.allSatisfy(isDigit) {
                    out += Array("\"\(bigIntegerMarker)".utf8) + literal + [UInt8(ascii: "\"")]
                } else {
                    out += literal
                }
                index = end
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }

    struct CaseError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: encode

    static func encode(_ fields: [String: JSONValue]) throws -> String? {
        guard let call = fields["call"]?.stringValue, case .object(let args)? = fields["args"] else {
            throw CaseError("encode needs call and args")
        }
        let result: Result<[UInt8], DocketError>
        do {
            result = .success(try encodeCall(call, Args(args)))
        } catch let error as DocketError {
            result = .failure(error)
        }
        if let expected = fields["expect_error"]?.stringValue {
            guard expected == "bad_argument" else { throw CaseError("unknown expect_error \(expected)") }
            switch result {
            case .failure(.badArgument): return nil
            case .failure(let error): return "expected bad_argument, got \(error)"
            case .success(let bytes): return "expected bad_argument, but it encoded \(show(bytes))"
            }
        }
        guard let expected = fields["expect"]?.stringValue else { throw CaseError("encode needs expect or expect_error") }
        switch result {
        case .failure(let error): return "expected \(show(try bytes(expected))), got \(error)"
        case .success(let bytes):
            let want = try Self.bytes(expected)
            return bytes == want ? nil : "expected \(show(want)), got \(show(bytes))"
        }
    }

    /// A case's arguments; every one must be used.
    final class Args {
        var values: [String: JSONValue]
        init(_ values: [String: JSONValue]) { self.values = values }

        func take(_ name: String) -> JSONValue? {
            guard let value = values.removeValue(forKey: name), value != .null else { return nil }
            return value
        }

        func string(_ name: String) throws -> String? {
            guard let value = take(name) else { return nil }
            guard let text = value.stringValue else { throw CaseError("\(name) must be a string") }
            return text
        }

        func required(_ name: String) throws -> String {
            guard let text = try string(name) else { throw CaseError("missing \(name)") }
            return text
        }

        func bytes(_ name: String) throws -> [UInt8]? { try string(name).map(ConformanceRunner.bytes) }

        func int(_ name: String) throws -> Int? {
            guard let value = take(name) else { return nil }
            guard let number = value.numberValue, number == number.rounded() else { throw CaseError("\(name) must be an integer") }
            return Int(number)
        }

        /// An id, exactly: 19 digits do not fit a double.
        func id(_ name: String = "id") throws -> UInt64 {
            if let text = values[name]?.stringValue, text.hasPrefix(ConformanceRunner.bigIntegerMarker) {
                _ = take(name)
                guard let value = UInt64(text.dropFirst(ConformanceRunner.bigIntegerMarker.count)) else { throw CaseError("\(name) is above 2^64") }
                return value
            }
            guard let value = try int(name), value >= 0 else { throw CaseError("missing \(name)") }
            return UInt64(value)
        }

        /// A 64-bit integer, exactly (16 digits and more come marked, as ids do).
        func int64(_ name: String) throws -> Int64? {
            if let text = values[name]?.stringValue, text.hasPrefix(ConformanceRunner.bigIntegerMarker) {
                _ = take(name)
                guard let value = Int64(text.dropFirst(ConformanceRunner.bigIntegerMarker.count)) else { throw CaseError("\(name) is above 2^63") }
                return value
            }
            return try int(name).map(Int64.init)
        }

        func jobState(_ name: String) throws -> JobState? {
            guard let text = try string(name) else { return nil }
            guard let state = JobState(rawValue: text) else { throw DocketError.badArgument("unknown state \(text)") }
            return state
        }

        func number(_ name: String) throws -> Double? {
            guard let value = take(name) else { return nil }
            guard let number = value.numberValue else { throw CaseError("\(name) must be a number") }
            return number
        }

        /// A `set_queue` setting: `"none"`, or its value in the case's type.
        func setting(_ name: String, _ make: (JSONValue) throws -> QueueSetting) throws -> QueueSetting? {
            guard let value = take(name) else { return nil }
            if value.stringValue == "none" { return .reset(name) }
            return try make(value)
        }

        func duration(_ name: String) throws -> DocketDuration? {
            guard let value = take(name) else { return nil }
            switch value {
            case .number(let seconds): return .seconds(seconds)
            case .string(let text): return DocketDuration(text)
            default: throw CaseError("\(name) must be a number or a string")
            }
        }

        /// The ENQ options a case may give (enqueue, route, schedule): the library decides
        /// which ones each command refuses.
        func jobOptions() throws -> JobOptions {
            var options = JobOptions()
            options.delay = try duration("delay")
            options.at = try int("at").map(Int64.init)
            options.priority = try int("priority")
            options.attempts = try int("attempts")
            options.backoff = try string("backoff").map { Backoff($0) }
            options.jitter = try number("jitter")
            options.lease = try duration("lease")
            options.key = try string("key")
            options.group = try string("group")
            options.ttl = try duration("ttl")
            options.expires = try int64("expires")
            options.after = try parents("after")
            if let policy = try string("on_parent_dead") {
                // The library's type has only the two the server knows: another cannot be asked for.
                guard let value = ParentDeathPolicy(rawValue: policy) else { throw DocketError.badArgument("unknown on_parent_dead \(policy)") }
                options.onParentDead = value
            }
            options.keyTTL = try duration("key_ttl")
            if let replace = take("replace") {
                guard case .bool(let flag) = replace else { throw CaseError("replace must be true or false") }
                options.replace = flag
            }
            return options
        }

        /// `after`: job ids, and `"#<n>"` strings naming a job of the same batch.
        func parents(_ name: String) throws -> [JobParent]? {
            guard let value = take(name) else { return nil }
            guard case .array(let items) = value else { throw CaseError("\(name) must be a list") }
            return try items.map { item in
                switch item {
                case .number(let number):
                    guard number >= 0, number == number.rounded() else { throw CaseError("\(name): \(number) is not a job id") }
                    return .job(UInt64(number))
                case .string(let text) where text.hasPrefix(ConformanceRunner.bigIntegerMarker):
                    guard let id = UInt64(text.dropFirst(ConformanceRunner.bigIntegerMarker.count)) else { throw CaseError("\(name): an id above 2^64") }
                    return .job(id)
                case .string(let text):
                    guard let parent = JobParent(text) else { throw CaseError("\(name): \(text) is neither an id nor #<n>") }
                    return parent
                default: throw CaseError("\(name): a parent is an id or \"#<n>\"")
                }
            }
        }

        func finish() throws {
            if let name = values.keys.first { throw CaseError("unknown argument \(name)") }
        }
    }

    static func encodeCall(_ call: String, _ args: Args) throws -> [UInt8] {
        let bytes: [UInt8]
        switch call {
        case "publish":
            var headers: [Header]? = nil
            if let list = args.take("headers") {
                guard case .array(let pairs) = list else { throw CaseError("headers must be a list") }
                headers = try pairs.map { pair in
                    guard case .array(let parts) = pair, parts.count == 2, let name = parts[0].stringValue, let value = parts[1].stringValue
                    else { throw CaseError("a header is [name, value]") }
                    return Header(name, value)
                }
            }
            bytes = try Wire.publish(
                subject: args.required("subject"), payload: args.bytes("payload") ?? [], reply: args.string("reply"), headers: headers)
        case "subscribe":
            bytes = try Wire.subscribe(subject: args.required("subject"), sid: args.required("sid"), queue: args.string("queue"))
        case "unsubscribe":
            bytes = try Wire.unsubscribe(sid: args.required("sid"), max: args.int("max"))
        case "ping":
            bytes = Wire.ping()
        case "enqueue":
            let queue = try args.required("queue")
            let payload = try args.bytes("payload") ?? []
            bytes = try Wire.enqueue(queue: queue, payload: payload, options: args.jobOptions())
        case "batch":
            guard case .array(let list)? = args.take("jobs") else { throw CaseError("jobs must be a list") }
            let jobs = try list.map { item -> DocketConnection.JobRequest in
                guard case .object(let fields) = item else { throw CaseError("a batch job is an object") }
                let job = Args(fields)
                let request = DocketConnection.JobRequest(
                    queue: try job.required("queue"), payload: try job.bytes("payload") ?? [], options: try job.jobOptions())
                try job.finish()
                return request
            }
            bytes = try Wire.batch(jobs)
        case "parents": bytes = try Wire.parents(id: args.id())
        case "route":
            let pattern = try args.required("pattern")
            let queue = try args.required("queue")
            bytes = try Wire.route(pattern: pattern, queue: queue, options: args.jobOptions())
        case "reserve":
            guard case .array(let list)? = args.take("queues") else { throw CaseError("queues must be a list") }
            bytes = try Wire.reserve(queues: list.compactMap(\.stringValue), timeout: args.duration("timeout"))
        case "ack":
            bytes = try Wire.ack(id: args.id(), attempt: args.int("attempt"), result: args.bytes("result"))
        case "fail":
            let id = try args.id()
            let attempt = try args.int("attempt")
            let reason = try args.bytes("reason")
            var policy = RetryPolicy.backoff
            if let retry = args.take("retry") {
                switch retry {
                case .bool(false): policy = .never
                case .number(let seconds): policy = .after(.seconds(seconds))
                case .string(let text): policy = .after(DocketDuration(text))
                default: throw CaseError("retry must be false or a duration")
                }
            }
            bytes = try Wire.fail(
                id: id, attempt: attempt, reason: reason, retry: policy, throttle: args.duration("throttle"), scope: args.string("scope"))
        case "progress":
            guard let percent = try args.int("percent") else { throw CaseError("missing percent") }
            bytes = try Wire.progress(id: args.id(), percent: percent, attempt: args.int("attempt"), note: args.bytes("note"))
        case "touch": bytes = try Wire.touch(id: args.id(), attempt: args.int("attempt"))
        case "inspect": bytes = try Wire.inspect(id: args.id())
        case "dead": bytes = try Wire.dead(queue: args.required("queue"), limit: args.int("limit"))
        case "retry": bytes = try Wire.retry(id: args.id())
        case "retry_queue": bytes = try Wire.retryQueue(queue: args.required("queue"))
        case "delete": bytes = try Wire.delete(id: args.id())
        case "help": bytes = Wire.help()
        case "wait": bytes = try Wire.wait(id: args.id(), timeout: args.duration("timeout"))
        case "queue": bytes = try Wire.queue(args.required("queue"))
        case "set_queue":
            let queue = try args.required("queue")
            func text(_ value: JSONValue) throws -> String {
                guard let text = value.stringValue else { throw CaseError("a string setting") }
                return text
            }
            func integer(_ value: JSONValue) throws -> Int {
                guard let number = value.numberValue, number == number.rounded() else { throw CaseError("an integer setting") }
                return Int(number)
            }
            func duration(_ value: JSONValue) throws -> DocketDuration {
                switch value {
                case .number(let seconds): return .seconds(seconds)
                case .string(let text): return DocketDuration(text)
                default: throw CaseError("a duration setting")
                }
            }
            let settings: [QueueSetting?] = [
                try args.setting("keep_dead") { .keepDead(try integer($0)) },
                try args.setting("keep_completed") { .keepCompleted(try integer($0)) },
                try args.setting("lease") { .lease(try duration($0)) },
                try args.setting("jitter") { value in
                    guard let number = value.numberValue else { throw CaseError("jitter must be a number") }
                    return .jitter(number)
                },
                try args.setting("backoff") { .backoff(Backoff(try text($0))) },
                try args.setting("attempts") { .attempts(try integer($0)) },
                try args.setting("concurrency") { .concurrency(try integer($0)) },
                try args.setting("group_rate") { .groupRate(try text($0)) },
                try args.setting("rate") { .rate(try text($0)) },
            ]
            bytes = try Wire.setQueue(queue, settings: settings.compactMap { $0 })
        case "pause": bytes = try Wire.pause(args.required("queue"))
        case "resume": bytes = try Wire.resume(args.required("queue"))
        case "queues": bytes = try Wire.namePage("QUEUES", after: args.string("after"), limit: args.int("limit"))
        case "stats": bytes = Wire.stats()
        case "unroute": bytes = try Wire.unroute(id: args.id())
        case "routes": bytes = try Wire.routes(after: args.int("after").map { UInt64($0) }, limit: args.int("limit"))
        case "list":
            bytes = try Wire.list(queue: args.required("queue"), state: args.jobState("state"), after: args.string("after"), limit: args.int("limit"))
        case "purge":
            let queue = try args.required("queue")
            guard let state = try args.jobState("state") else { throw DocketError.badArgument("purge needs a state") }
            bytes = try Wire.purge(queue: queue, state: state, older: args.duration("older"))
        case "promote": bytes = try Wire.promote(id: args.id())
        case "schedule":
            let name = try args.required("name")
            let queue = try args.required("queue")
            let payload = try args.bytes("payload") ?? []
            let cron = try args.string("cron")
            let every = try args.duration("every")
            let zone = try args.string("tz")
            let when: ScheduleTiming
            switch (cron, every) {
            case (let cron?, nil): when = .cron(cron, timeZone: zone)
            case (nil, let every?) where zone == nil: when = .every(every)
            default: throw DocketError.badArgument("a schedule has cron (with an optional tz) or every")
            }
            var catchup: ScheduleCatchup?
            if let text = try args.string("catchup") {
                guard let value = ScheduleCatchup(rawValue: text) else { throw DocketError.badArgument("unknown catchup \(text)") }
                catchup = value
            }
            bytes = try Wire.schedule(name: name, queue: queue, when: when, catchup: catchup, options: args.jobOptions(), payload: payload)
        case "unschedule": bytes = try Wire.unschedule(name: args.required("name"))
        case "schedules": bytes = try Wire.schedules(after: args.string("after"), limit: args.int("limit"))
        case "pause_schedule": bytes = try Wire.pauseSchedule(name: args.required("name"))
        case "resume_schedule": bytes = try Wire.resumeSchedule(name: args.required("name"))
        default: throw CaseError("unknown call \(call)")
        }
        try args.finish()
        return bytes
    }

    // MARK: decode and reject

    /// Feeds `input` to a fresh parser, all at once or one byte at a time, and routes what it
    /// frames: the ops routed, or the protocol error.
    static func feed(_ input: [UInt8], waiting: CommandKind?, byteByByte: Bool) -> Result<[Routed], DocketError> {
        var buffer: [UInt8] = []
        var routed: [Routed] = []
        var waiting = waiting
        let chunks: [[UInt8]] = byteByByte ? input.map { [$0] } : [input]
        for chunk in chunks {
            buffer += chunk
            while true {
                let outcome = buffer.withUnsafeBytes { ServerParser.parse($0, from: 0) }
                switch outcome {
                case .incomplete:
                    break
                case .failure(let why):
                    return .failure(.protocolViolation(why))
                case .op(let op, let next):
                    buffer.removeFirst(next)
                    switch Replies.route(op, waiting: waiting) {
                    case .failure(let error): return .failure(error)
                    case .success(let result):
                        if case .reply = result { waiting = nil }
                        routed.append(result)
                    }
                    continue
                }
                break
            }
        }
        if !buffer.isEmpty { return .failure(.protocolViolation("\(buffer.count) bytes left over")) }
        return .success(routed)
    }

    static func waitingKind(_ fields: [String: JSONValue]) throws -> CommandKind? {
        guard let name = fields["reply_to"]?.stringValue else { return nil }
        guard let kind = CommandKind(rawValue: name) else { throw CaseError("unknown reply_to \(name)") }
        return kind
    }

    static func decode(_ fields: [String: JSONValue]) throws -> String? {
        guard let input = fields["input"]?.stringValue, let expected = fields["expect"] else { throw CaseError("decode needs input and expect") }
        let waiting = try waitingKind(fields)
        for byteByByte in [false, true] {
            let how = byteByByte ? "byte by byte" : "all at once"
            switch feed(try bytes(input), waiting: waiting, byteByByte: byteByByte) {
            case .failure(let error): return "\(how): \(error)"
            case .success(let ops):
                guard ops.count == 1 else { return "\(how): \(ops.count) operations instead of one" }
                let got = vocabulary(ops[0])
                if got != expected { return "\(how): expected \(JSONFormat.compact(expected)), got \(JSONFormat.compact(got))" }
            }
        }
        return nil
    }

    static func reject(_ fields: [String: JSONValue]) throws -> String? {
        guard let input = fields["input"]?.stringValue else { throw CaseError("reject needs input") }
        let waiting = try waitingKind(fields)
        for byteByByte in [false, true] {
            let how = byteByByte ? "byte by byte" : "all at once"
            switch feed(try bytes(input), waiting: waiting, byteByByte: byteByByte) {
            case .failure(.protocolViolation): continue
            case .failure(let error): return "\(how): expected a protocol error, got \(error)"
            case .success(let ops):
                return "\(how): expected a protocol error, got \(ops.map { JSONFormat.compact(vocabulary($0)) })"
            }
        }
        return nil
    }

    /// A routed op in the result vocabulary of the cases.
    static func vocabulary(_ routed: Routed) -> JSONValue {
        func one(_ key: String, _ value: JSONValue) -> JSONValue { .object([key: value]) }
        /// As `exactIntegers` reads the cases: 16 digits or more as `"#int:<digits>"`.
        func number<T: BinaryInteger>(_ value: T) -> JSONValue {
            value >= 1_000_000_000_000_000 ? .string(bigIntegerMarker + String(value)) : .number(Double(value))
        }
        switch routed {
        case .message(let message):
            return one(
                "message",
                .object([
                    "subject": .string(message.subject), "sid": .string(message.sid),
                    "reply": message.reply.map(JSONValue.string) ?? .null,
                    "headers": message.headers.map { .array($0.map { .array([.string($0.name), .string($0.value)]) }) } ?? .null,
                    "status": message.status.map { number($0) } ?? .null,
                    "description": message.statusDescription.map(JSONValue.string) ?? .null,
                    "payload": .string(latin1(message.payload)),
                ]))
        case .ping: return one("ping", .null)
        case .info(let json): return one("info", json)
        case .serverError(let text): return one("server_error", .string(text))
        case .reply(let reply):
            switch reply {
            case .pong: return one("pong", .null)
            case .ok: return one("ok", .null)
            case .enqueued(let result):
                if result.replaced { return one("replaced", .object(["id": number(result.id)])) }
                return one("enqueued", .object(["id": number(result.id), "duplicate": .bool(result.duplicate)]))
            case .ids(let ids): return one("ids", .array(ids.map { number($0) }))
            case .job(let job):
                guard let job else { return one("job", .null) }
                return one(
                    "job",
                    .object([
                        "id": number(job.id), "queue": .string(job.queue), "attempt": number(job.attempt),
                        "payload": .string(latin1(job.payload)),
                        "lease_ms": job.leaseMilliseconds.map { number($0) } ?? .null, "delivery": job.delivery.map { number($0) } ?? .null,
                    ]))
            case .fail(.retry(let milliseconds)): return one("fail", .object(["outcome": .string("retry"), "delay_ms": number(milliseconds)]))
            case .fail(.dead): return one("fail", .object(["outcome": .string("dead"), "delay_ms": .null]))
            case .fail(.throttled(let milliseconds)):
                return one("fail", .object(["outcome": .string("throttled"), "delay_ms": number(milliseconds)]))
            case .count(let count): return one("count", number(count))
            case .json(let value, _): return one("json", value)
            case .help(let text): return one("help", .string(text))
            case .wait(let id, .completed(let result)):
                return one("outcome", .object(["id": number(id), "state": .string("completed"), "detail": .string(latin1(result))]))
            case .wait(let id, .dead(let error)):
                return one("outcome", .object(["id": number(id), "state": .string("dead"), "detail": .string(latin1(error))]))
            case .wait(let id, .pending(let state)): return one("pending", .object(["id": number(id), "state": .string(state)]))
            case .routeID(let id): return one("route_id", number(id))
            case .error(let code, let message): return one("error", .object(["code": .string(code), "message": .string(message)]))
            case .commandError(let text): return one("command_error", .string(text))
            }
        }
    }

    /// Bytes as the file writes them: one character per byte, U+0000 to U+00FF.
    static func bytes(_ text: String) throws -> [UInt8] {
        try text.unicodeScalars.map { scalar in
            guard scalar.value <= 0xFF else { throw CaseError("a character above U+00FF in a byte string") }
            return UInt8(scalar.value)
        }
    }

    static func latin1(_ bytes: [UInt8]) -> String {
        var text = ""
        text.unicodeScalars.append(contentsOf: bytes.map { Unicode.Scalar($0) })
        return text
    }

    static func show(_ bytes: [UInt8]) -> String {
        bytes.map { byte -> String in
            switch byte {
            case 13: return "\\r"
            case 10: return "\\n"
            case 0x20..<0x7F: return String(UnicodeScalar(byte))
            default: return "\\x" + String(byte, radix: 16)
            }
        }.joined()
    }
}

/// A payload's announced size is bytes the client would buffer until they arrive: past the
/// bound it is a protocol violation at once, whatever the server goes on to send.
@Suite struct ServerFrameBoundTests {
    static func parse(_ text: String, maxFrame: Int = ServerParser.defaultMaxFrame) -> ServerParse {
        Array(text.utf8).withUnsafeBytes { ServerParser.parse($0, from: 0, maxFrame: maxFrame) }
    }

    @Test func anAnnouncedSizeAboveTheBoundFailsBeforeItsBytes() {
        let huge = ServerParser.defaultMaxFrame + 1
        for line in ["MSG s 1 \(huge)\r\n", "HMSG s 1 12 \(huge)\r\n", "JOB 7 q 1 \(huge)\r\n", "JSON \(huge)\r\n", "OUTCOME 7 completed \(huge)\r\n"] {
            guard case .failure(let why) = Self.parse(line) else {
                Issue.record("\(line) was not refused")
                continue
            }
            #expect(why.contains("\(huge) bytes"))
        }
        #expect(Self.parse("MSG s 1 \(ServerParser.defaultMaxFrame)\r\n") == .incomplete)
        #expect(Self.parse("MSG s 1 11\r\nhello\r\n", maxFrame: 10) != .incomplete)
        #expect(Self.parse("MSG s 1 5\r\nhello\r\n", maxFrame: 5) != .failure("a payload of 5 bytes, above the 5 this client accepts"))
    }

    @Test func theBoundFollowsTheServersMaxPayload() {
        #expect(ServerParser.maxFrame(maxPayload: 1 << 20) == ServerParser.defaultMaxFrame)
        #expect(ServerParser.maxFrame(maxPayload: 100 << 20) == 200 << 20)
        #expect(ServerParser.maxFrame(maxPayload: Int.max) > 0)
    }
}
