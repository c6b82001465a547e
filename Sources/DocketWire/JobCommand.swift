/// A job verb's arguments, checked and typed. Pure: bytes in, values out.
public enum JobCommand: Equatable, Sendable {
    indirect case enqueue(queue: Range<Int>, EnqueueOptions)
    case reserve(queues: QueueNames, timeoutMilliseconds: Int?)
    /// `attempt` (ACK, FAIL, PROGRESS, TOUCH): the attempt the worker believes it holds; a
    /// command for another attempt of the job is refused (a stale worker is fenced off).
    case ack(id: UInt64, attempt: Int?)
    case fail(id: UInt64, RetryChoice, attempt: Int?)
    case progress(id: UInt64, percent: Int, attempt: Int?)
    case touch(id: UInt64, attempt: Int?)
    case inspect(id: UInt64)
    case dead(queue: Range<Int>, limit: Int)
    case retryJob(id: UInt64)
    case retryQueue(queue: Range<Int>)
    case delete(id: UInt64)
    case throttle(id: UInt64, milliseconds: Int, groupOnly: Bool, attempt: Int?)
    indirect case queue(queue: Range<Int>, QueueSettings)
    case pause(queue: Range<Int>)
    case resume(queue: Range<Int>)
    case stats
    /// `QUEUES [after=<name>] [limit=<n>]`: one page of the queues' documents, by name, those
    /// after `after` (strictly) if given.
    case queues(after: Range<Int>?, limit: Int)
    case wait(id: UInt64, timeoutMilliseconds: Int?)
    /// `ROUTE <pattern> <queue> [option=value ...]`; `text` is the whole argument text.
    indirect case route(pattern: Range<Int>, queue: Range<Int>, EnqueueOptions, text: Range<Int>)
    case unroute(id: UInt64)
    /// `ROUTES [after=<route-id>] [limit=<n>]`: one page of the routes, by id, those above
    /// `after` if given.
    case routes(after: UInt64?, limit: Int)
    /// `LIST <queue> [state=…] [after=<cursor>] [limit=<n>]`: one page of a queue's jobs in
    /// one state, in the order that state keeps them (see `JobListState`).
    case list(queue: Range<Int>, state: JobListState, after: JobListCursor?, limit: Int)
    /// `PURGE <queue> state=<…> [older=<duration>]`: deletes a queue's jobs in one state (not
    /// active), those older than the duration only if given.
    case purge(queue: Range<Int>, state: JobListState, olderThanMilliseconds: Int?)
    /// `PROMOTE <id>`: a delayed job becomes waiting now.
    case promote(id: UInt64)
    /// `SCHEDULE <name> <queue> cron="…"|every=<d> [tz=…] [catchup=…] [ENQ options] <#bytes>`:
    /// creates or replaces a schedule; `text` is the whole argument text, as stored.
    indirect case schedule(name: Range<Int>, queue: Range<Int>, ScheduleOptions, EnqueueOptions, text: Range<Int>)
    case unschedule(name: Range<Int>)
    /// `SCHEDULES [after=<name>] [limit=<n>]`: one page of the schedules, by name, those after
    /// `after` (strictly) if given.
    case schedules(after: Range<Int>?, limit: Int)
    /// `PAUSE schedule=<name>` and `RESUME schedule=<name>`.
    case pauseSchedule(name: Range<Int>)
    case resumeSchedule(name: Range<Int>)
    /// `BATCH <count>`: the next `count` commands are ENQs enqueued all together or not at all.
    case batch(count: Int)
    /// `PARENTS <id>`: the jobs a job was enqueued `after=`, with their states and results.
    case parents(id: UInt64)
    /// `CHILDREN <id> [after=<child-id>] [limit=<n>]`: one page of the jobs enqueued `after=`
    /// a job, by id, those above `after` if given.
    case children(id: UInt64, after: UInt64?, limit: Int)
    /// `CANCEL`: ends the wait of the RESERVE sent right before it, if that one still waits.
    case cancelWait

    /// Parses the arguments of `verb` found at `arguments` in `bytes`.
    public static func parse(
        _ verb: JobVerb, _ bytes: UnsafeRawBufferPointer, _ arguments: Range<Int>
    ) -> Result<JobCommand, JobError> {
        var scanner = FieldScanner(bytes: bytes, position: arguments.lowerBound, end: arguments.upperBound)
        switch verb {
        case .enq:
            guard let queue = scanner.next(), QueueName.isValid(bytes, queue) else { return .failure(.badQueue(bytes, arguments)) }
            var options = EnqueueOptions()
            while let field = scanner.next() {
                if let error = options.apply(bytes, field) { return .failure(error) }
            }
            if options.key == nil && (options.keyTTLMilliseconds != nil || options.replace) {
                return .failure(JobError(.badOption, "key_ttl= and replace= go with key="))
            }
            if options.after == nil && options.onParentDead != nil {
                return .failure(JobError(.badOption, "on_parent_dead= goes with after="))
            }
            return .success(.enqueue(queue: queue, options))
        case .reserve:
            guard let list = scanner.next() else { return .failure(.badQueue(bytes, arguments)) }
            var first: Range<Int>? = nil
            var more: [Range<Int>] = []
            var start = list.lowerBound
            for index in list.lowerBound...list.upperBound where index == list.upperBound || bytes[index] == UInt8(ascii: ",") {
                let queue = start..<index
                guard QueueName.isValid(bytes, queue) else { return .failure(.badQueue(bytes, queue)) }
                if first == nil { first = queue } else { more.append(queue) }
                start = index + 1
            }
            guard let first else { return .failure(.badQueue(bytes, list)) }
            let queues = QueueNames(first: first, more: more)
            var timeout: Int? = nil
            while let field = scanner.next() {
                switch Option.timeout(bytes, field, given: timeout != nil, verb: "RESERVE") {
                case .success(let milliseconds): timeout = milliseconds
                case .failure(let error): return .failure(error)
                }
            }
            return .success(.reserve(queues: queues, timeoutMilliseconds: timeout))
        case .ack, .touch:
            guard let id = scanner.next() else { return .failure(.badID(bytes, arguments)) }
            guard let value = Option.jobID(bytes, id) else { return .failure(.badID(bytes, id)) }
            var attempt: Int? = nil
            while let field = scanner.next() {
                guard attempt == nil, let parsed = Option.attempt(bytes, field) else {
                    return .failure(Option.refusal(bytes, field, in: arguments, "\(verb.name) takes <job-id> [attempt=<n>]"))
                }
                attempt = parsed
            }
            return .success(verb == .ack ? .ack(id: value, attempt: attempt) : .touch(id: value, attempt: attempt))
        case .inspect, .del, .parents:
            guard let id = scanner.next() else { return .failure(.badID(bytes, arguments)) }
            guard let value = Option.jobID(bytes, id) else { return .failure(.badID(bytes, id)) }
            if let extra = scanner.next() { return .failure(.badOption(bytes, extra, "\(verb.name) takes only a job id")) }
            switch verb {
            case .inspect: return .success(.inspect(id: value))
            case .del: return .success(.delete(id: value))
            default: return .success(.parents(id: value))
            }
        case .children:
            guard let id = scanner.next() else { return .failure(.badID(bytes, arguments)) }
            guard let value = Option.jobID(bytes, id) else { return .failure(.badID(bytes, id)) }
            return idPage(bytes, &scanner, arguments, usage: "CHILDREN takes <job-id> [after=<job-id>]").map {
                .children(id: value, after: $0.after, limit: $0.limit ?? JobListState.maxPage)
            }
        case .batch:
            guard let field = scanner.next(), let count = ClientParser.parseCount(bytes, field), count > 0, scanner.next() == nil else {
                return .failure(JobError(.badOption, "BATCH takes the number of ENQ commands that follow, at least 1"))
            }
            return .success(.batch(count: count))
        case .fail:
            guard let id = scanner.next() else { return .failure(.badID(bytes, arguments)) }
            guard let value = Option.jobID(bytes, id) else { return .failure(.badID(bytes, id)) }
            var choice: RetryChoice? = nil
            var throttle: Int? = nil
            var groupOnly: Bool? = nil
            var attempt: Int? = nil
            let usage = "FAIL takes [attempt=<n>] and retry=<duration>, retry=no, or throttle=<duration> [scope=queue|group]"
            while let field = scanner.next() {
                guard let (key, raw) = Option.split(bytes, field) else { return .failure(.badOption(bytes, field, usage)) }
                if Option.equals(bytes, key, "attempt"), attempt == nil, let parsed = Option.attempt(bytes, field) {
                    attempt = parsed
                } else if Option.equals(bytes, key, "retry"), choice == nil {
                    if Option.equals(bytes, raw, "no") {
                        choice = .never
                    } else if let milliseconds = Option.duration(bytes, raw) {
                        choice = .after(milliseconds: milliseconds)
                    } else {
                        return .failure(.badOption(bytes, field, "retry must be a duration or no"))
                    }
                } else if Option.equals(bytes, key, "throttle"), throttle == nil {
                    guard let milliseconds = Option.duration(bytes, raw), milliseconds > 0 else {
                        return .failure(.badOption(bytes, field, "throttle must be a duration longer than zero"))
                    }
                    throttle = milliseconds
                } else if Option.equals(bytes, key, "scope"), groupOnly == nil,
                    Option.equals(bytes, raw, "queue") || Option.equals(bytes, raw, "group")
                {
                    groupOnly = Option.equals(bytes, raw, "group")
                } else {
                    return .failure(Option.refusal(bytes, field, in: arguments, usage))
                }
            }
            if let throttle {
                guard choice == nil else { return .failure(JobError(.badOption, "retry and throttle do not go together")) }
                return .success(.throttle(id: value, milliseconds: throttle, groupOnly: groupOnly ?? false, attempt: attempt))
            }
            if groupOnly != nil { return .failure(JobError(.badOption, "scope goes with throttle")) }
            return .success(.fail(id: value, choice ?? .policy, attempt: attempt))
        case .progress:
            guard let id = scanner.next() else { return .failure(.badID(bytes, arguments)) }
            guard let value = Option.jobID(bytes, id) else { return .failure(.badID(bytes, id)) }
            guard let field = scanner.next(), let percent = ClientParser.parseCount(bytes, field), percent <= 100 else {
                return .failure(JobError(.badOption, "PROGRESS needs a percentage from 0 to 100"))
            }
            var attempt: Int? = nil
            while let field = scanner.next() {
                guard attempt == nil, let parsed = Option.attempt(bytes, field) else {
                    return .failure(Option.refusal(bytes, field, in: arguments, "PROGRESS takes <job-id> <0-100> [attempt=<n>]"))
                }
                attempt = parsed
            }
            return .success(.progress(id: value, percent: percent, attempt: attempt))
        case .dead:
            guard let queue = scanner.next(), QueueName.isValid(bytes, queue) else { return .failure(.badQueue(bytes, arguments)) }
            var limit: Int? = nil
            while let field = scanner.next() {
                guard limit == nil, let (key, raw) = Option.split(bytes, field), Option.equals(bytes, key, "limit"),
                    let value = ClientParser.parseCount(bytes, raw), value > 0
                else { return .failure(Option.refusal(bytes, field, in: arguments, "DEAD takes one limit=<n>, n from 1 to 9999999999")) }
                limit = value
            }
            return .success(.dead(queue: queue, limit: limit ?? 100))
        case .retry:
            guard let field = scanner.next() else { return .failure(.badID(bytes, arguments)) }
            if let extra = scanner.next() { return .failure(.badOption(bytes, extra, "RETRY takes <job-id> or queue=<queue>")) }
            if let (key, raw) = Option.split(bytes, field) {
                guard Option.equals(bytes, key, "queue") else { return .failure(.badOption(bytes, field, "RETRY takes <job-id> or queue=<queue>")) }
                guard QueueName.isValid(bytes, raw) else { return .failure(.badQueue(bytes, raw)) }
                return .success(.retryQueue(queue: raw))
            }
            guard let value = Option.jobID(bytes, field) else { return .failure(.badID(bytes, field)) }
            return .success(.retryJob(id: value))
        case .queue:
            guard let queue = scanner.next(), QueueName.isValid(bytes, queue) else { return .failure(.badQueue(bytes, arguments)) }
            var settings = QueueSettings()
            while let field = scanner.next() {
                if let error = settings.apply(bytes, field) { return .failure(error) }
            }
            return .success(.queue(queue: queue, settings))
        case .pause, .resume:
            if let field = scanner.peek(), let (key, raw) = Option.split(bytes, field), Option.equals(bytes, key, "schedule") {
                _ = scanner.next()
                guard QueueName.isValid(bytes, raw) else { return .failure(.badSchedule) }
                if let extra = scanner.next() { return .failure(.badOption(bytes, extra, "\(verb.name) takes only schedule=<name>")) }
                return .success(verb == .pause ? .pauseSchedule(name: raw) : .resumeSchedule(name: raw))
            }
            guard let queue = scanner.next(), QueueName.isValid(bytes, queue) else { return .failure(.badQueue(bytes, arguments)) }
            if let extra = scanner.next() { return .failure(.badOption(bytes, extra, "\(verb.name) takes only a queue")) }
            return .success(verb == .pause ? .pause(queue: queue) : .resume(queue: queue))
        case .stats, .cancel:
            if let extra = scanner.next() { return .failure(.badOption(bytes, extra, "\(verb.name) takes no arguments")) }
            return .success(verb == .stats ? .stats : .cancelWait)
        case .routes:
            return idPage(bytes, &scanner, arguments, usage: "ROUTES takes [after=<route-id>]").map {
                .routes(after: $0.after, limit: $0.limit ?? JobListState.maxPage)
            }
        case .queues:
            return namePage(bytes, &scanner, arguments, verb: "QUEUES").map { .queues(after: $0.after, limit: $0.limit ?? JobListState.maxPage) }
        case .wait:
            guard let id = scanner.next() else { return .failure(.badID(bytes, arguments)) }
            guard let value = Option.jobID(bytes, id) else { return .failure(.badID(bytes, id)) }
            var timeout: Int? = nil
            while let field = scanner.next() {
                switch Option.timeout(bytes, field, given: timeout != nil, verb: "WAIT") {
                case .success(let milliseconds): timeout = milliseconds
                case .failure(let error): return .failure(error)
                }
            }
            return .success(.wait(id: value, timeoutMilliseconds: timeout))
        case .route:
            guard let pattern = scanner.next() else { return .failure(JobError(.badOption, "ROUTE needs <subject pattern> <queue> [option=value ...]")) }
            guard let queue = scanner.next(), QueueName.isValid(bytes, queue) else { return .failure(.badQueue(bytes, arguments)) }
            var options = EnqueueOptions()
            while let field = scanner.next() {
                if let error = options.apply(bytes, field) { return .failure(error) }
            }
            if options.key != nil || options.runAtMilliseconds != nil || options.expiresAtMilliseconds != nil || options.hasParents
                || options.keyTTLMilliseconds != nil || options.replace
            {
                return .failure(JobError(.badOption, "a route cannot fix key=, at= or expires=, nor wait for jobs (after=); each message makes a new job (ttl= works)"))
            }
            return .success(.route(pattern: pattern, queue: queue, options, text: pattern.lowerBound..<arguments.upperBound))
        case .list:
            guard let queue = scanner.next(), QueueName.isValid(bytes, queue) else { return .failure(.badQueue(bytes, arguments)) }
            var state: JobListState?
            var after: JobListCursor?
            var limit: Int?
            let usage = "LIST takes <queue> [state=waiting|delayed|blocked|active|completed|dead] [after=<cursor>] [limit=1-\(JobListState.maxPage)], each once"
            while let field = scanner.next() {
                guard let (key, raw) = Option.split(bytes, field) else { return .failure(.badOption(bytes, field, usage)) }
                if Option.equals(bytes, key, "state"), state == nil, let parsed = JobListState(Option.word(bytes, raw)) {
                    state = parsed
                } else if Option.equals(bytes, key, "after"), after == nil, let parsed = JobListCursor(Option.word(bytes, raw)) {
                    after = parsed
                } else if Option.equals(bytes, key, "limit"), limit == nil, let parsed = JobListState.pageLimit(bytes, raw) {
                    limit = parsed
                } else {
                    return .failure(Option.refusal(bytes, field, in: arguments, usage))
                }
            }
            return .success(.list(queue: queue, state: state ?? .waiting, after: after, limit: limit ?? 100))
        case .purge:
            guard let queue = scanner.next(), QueueName.isValid(bytes, queue) else { return .failure(.badQueue(bytes, arguments)) }
            var state: JobListState?
            var older: Int?
            let usage = "PURGE takes <queue> state=waiting|delayed|blocked|completed|dead [older=<duration>], each once"
            while let field = scanner.next() {
                guard let (key, raw) = Option.split(bytes, field) else { return .failure(.badOption(bytes, field, usage)) }
                if Option.equals(bytes, key, "state"), state == nil, let parsed = JobListState(Option.word(bytes, raw)), parsed != .active {
                    state = parsed
                } else if Option.equals(bytes, key, "older"), older == nil, let parsed = Option.duration(bytes, raw) {
                    older = parsed
                } else {
                    return .failure(Option.refusal(bytes, field, in: arguments, usage))
                }
            }
            guard let state else { return .failure(JobError(.badOption, "PURGE needs state=waiting|delayed|blocked|completed|dead: say which jobs go")) }
            return .success(.purge(queue: queue, state: state, olderThanMilliseconds: older))
        case .promote:
            guard let id = scanner.next() else { return .failure(.badID(bytes, arguments)) }
            guard let value = Option.jobID(bytes, id) else { return .failure(.badID(bytes, id)) }
            if let extra = scanner.next() { return .failure(.badOption(bytes, extra, "PROMOTE takes only a job id")) }
            return .success(.promote(id: value))
        case .schedule:
            guard let name = scanner.next(), QueueName.isValid(bytes, name) else { return .failure(.badSchedule) }
            guard let queue = scanner.next(), QueueName.isValid(bytes, queue) else { return .failure(.badQueue(bytes, arguments)) }
            var timing = ScheduleOptions()
            var options = EnqueueOptions()
            while let field = scanner.nextQuoted(bytes) {
                if let (key, raw) = Option.split(bytes, field) {
                    switch timing.apply(bytes, key, raw, field) {
                    case .taken: continue
                    case .refused(let error): return .failure(Option.repeated(bytes, field, in: arguments) ?? error)
                    case .notMine: break
                    }
                }
                if let error = options.apply(bytes, field) { return .failure(error) }
            }
            guard timing.cron != nil || timing.everyMilliseconds != nil else {
                return .failure(JobError(.badOption, "SCHEDULE needs cron=\"<5 or 6 fields>\" or every=<duration>"))
            }
            if options.key != nil || options.runAtMilliseconds != nil || options.delayMilliseconds != nil || options.expiresAtMilliseconds != nil
                || options.hasParents || options.keyTTLMilliseconds != nil || options.replace
            {
                return .failure(JobError(.badOption, "a schedule cannot fix key=, at=, delay= or expires=, nor wait for jobs (after=): each tick makes a job keyed <name>@<tick> (ttl= works)"))
            }
            return .success(.schedule(name: name, queue: queue, timing, options, text: name.lowerBound..<arguments.upperBound))
        case .unschedule:
            guard let name = scanner.next(), QueueName.isValid(bytes, name) else { return .failure(.badSchedule) }
            if let extra = scanner.next() { return .failure(.badOption(bytes, extra, "UNSCHEDULE takes only a schedule name")) }
            return .success(.unschedule(name: name))
        case .schedules:
            return namePage(bytes, &scanner, arguments, verb: "SCHEDULES").map { .schedules(after: $0.after, limit: $0.limit ?? 100) }
        case .unroute:
            guard let id = scanner.next(), let value = Option.jobID(bytes, id) else {
                return .failure(JobError(.badID, "route ids are positive numbers"))
            }
            if let extra = scanner.next() { return .failure(.badOption(bytes, extra, "UNROUTE takes only a route id")) }
            return .success(.unroute(id: value))
        }
    }

    /// `[after=<id>] [limit=<n>]` of a listing by id (CHILDREN's jobs, ROUTES); `usage` is
    /// what comes before the limit in the refusal.
    private static func idPage(
        _ bytes: UnsafeRawBufferPointer, _ scanner: inout FieldScanner, _ arguments: Range<Int>, usage: String
    ) -> Result<(after: UInt64?, limit: Int?), JobError> {
        page(bytes, &scanner, arguments, usage: usage, after: Option.jobID)
    }

    /// `[after=<name>] [limit=<n>]` of a listing by name (QUEUES, SCHEDULES).
    private static func namePage(
        _ bytes: UnsafeRawBufferPointer, _ scanner: inout FieldScanner, _ arguments: Range<Int>, verb: String
    ) -> Result<(after: Range<Int>?, limit: Int?), JobError> {
        page(bytes, &scanner, arguments, usage: "\(verb) takes [after=<name>]") { bytes, raw in
            QueueName.isValid(bytes, raw) ? raw : nil
        }
    }

    /// The paging arguments of a listing, each at most once, nil when not given; `after`
    /// reads the value of `after=` (nil: not one of this listing's keys).
    private static func page<After>(
        _ bytes: UnsafeRawBufferPointer, _ scanner: inout FieldScanner, _ arguments: Range<Int>, usage: String,
        after readAfter: (UnsafeRawBufferPointer, Range<Int>) -> After?
    ) -> Result<(after: After?, limit: Int?), JobError> {
        var after: After?
        var limit: Int?
        let usage = usage + " [limit=1-\(JobListState.maxPage)], each once"
        while let field = scanner.next() {
            guard let (key, raw) = Option.split(bytes, field) else { return .failure(.badOption(bytes, field, usage)) }
            if Option.equals(bytes, key, "after"), after == nil, let parsed = readAfter(bytes, raw) {
                after = parsed
            } else if Option.equals(bytes, key, "limit"), limit == nil, let parsed = JobListState.pageLimit(bytes, raw) {
                limit = parsed
            } else {
                return .failure(Option.refusal(bytes, field, in: arguments, usage))
            }
        }
        return .success((after, limit))
    }
}

/// The job states LIST and PURGE name, and the order LIST keeps each in.
public enum JobListState: String, Sendable, CaseIterable {
    /// Priority (lowest value first), then the time it became runnable, then its place in
    /// line (a job that went back in line is behind those already waiting): the order RESERVE
    /// takes them in, groups and limits aside.
    case waiting
    /// Run time, then id.
    case delayed
    /// Enqueue time, then id.
    case blocked
    /// Start of the current attempt, then id.
    case active
    /// Newest first: finish time, then id, both descending.
    case completed, dead

    /// The most jobs one LIST page holds.
    public static let maxPage = 1000

    /// A page's `limit=<n>` (LIST, SCHEDULES): 1 to `maxPage`.
    static func pageLimit(_ bytes: UnsafeRawBufferPointer, _ raw: Range<Int>) -> Int? {
        guard let value = ClientParser.parseCount(bytes, raw), (1...maxPage).contains(value) else { return nil }
        return value
    }

    init?(_ word: String) { self.init(rawValue: word.lowercased()) }

    /// A job's place in this state's order, as three numbers compared in turn. `place`: where
    /// a waiting job stands among those of its priority that became runnable in the same
    /// millisecond (the store's own count); `id` breaks the ties of the other states.
    public func sortKey(priority: Int, became: Int64, place: UInt64, id: UInt64) -> JobListCursor {
        switch self {
        case .waiting: return JobListCursor(Int64(priority), became, Int64(place))
        case .delayed, .blocked, .active: return JobListCursor(0, became, Int64(id))
        case .completed, .dead: return JobListCursor(0, -became, -Int64(id))
        }
    }
}

/// Where a LIST page ended: the last job's sort key (see `JobListState.sortKey`). On the wire
/// it is opaque to clients: three integers joined by `.` (`-3.1796238000000.42`).
public struct JobListCursor: Comparable, Sendable {
    public let first: Int64
    public let second: Int64
    public let third: Int64

    public init(_ first: Int64, _ second: Int64, _ third: Int64) {
        self.first = first
        self.second = second
        self.third = third
    }

    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).compactMap { Int64($0) }
        guard parts.count == 3 else { return nil }
        self.init(parts[0], parts[1], parts[2])
    }

    public var text: String { "\(first).\(second).\(third)" }

    public static func < (a: JobListCursor, b: JobListCursor) -> Bool {
        (a.first, a.second, a.third) < (b.first, b.second, b.third)
    }
}

/// When a schedule fires and what it does about ticks it missed (`SCHEDULE`). The cron text
/// and the zone are checked by the server, which knows cron and the zone database.
public struct ScheduleOptions: Equatable, Sendable {
    public enum Catchup: String, Sendable {
        /// Ticks missed (the server was down, the schedule paused) are skipped.
        case none
        /// One job for all of them.
        case one
        /// One job per missed tick (at most `maxCatchup`).
        case all
    }

    /// The most missed ticks `catchup=all` makes jobs for; older ones are skipped.
    public static let maxCatchup = 1000

    /// The cron expression, without its quotes.
    public var cron: Range<Int>?
    public var everyMilliseconds: Int?
    public var zone: Range<Int>?
    public var catchup: Catchup?

    public init() {}

    enum Taking {
        /// Not a schedule option (an ENQ option, say).
        case notMine
        case taken
        case refused(JobError)
    }

    /// Takes `key=raw` if it is a schedule option.
    mutating func apply(_ bytes: UnsafeRawBufferPointer, _ key: Range<Int>, _ raw: Range<Int>, _ field: Range<Int>) -> Taking {
        func bad(_ why: String) -> Taking { .refused(.badOption(bytes, field, why)) }
        if Option.equals(bytes, key, "cron") {
            guard cron == nil, everyMilliseconds == nil else { return bad("one cron= or every= per schedule") }
            guard raw.count >= 2, bytes[raw.lowerBound] == UInt8(ascii: "\""), bytes[raw.upperBound - 1] == UInt8(ascii: "\"") else {
                return bad("the cron expression goes in double quotes: cron=\"0 3 * * *\"")
            }
            guard raw.count > 2 else { return bad("cron= needs an expression of 5 or 6 fields, not an empty one") }
            cron = (raw.lowerBound + 1)..<(raw.upperBound - 1)
            return .taken
        }
        if Option.equals(bytes, key, "every") {
            guard cron == nil, everyMilliseconds == nil else { return bad("one cron= or every= per schedule") }
            guard let milliseconds = Option.duration(bytes, raw), milliseconds >= 1000 else {
                return bad("every= needs a duration from 1s to 366d")
            }
            everyMilliseconds = milliseconds
            return .taken
        }
        if Option.equals(bytes, key, "tz") {
            guard zone == nil, !raw.isEmpty else { return bad("tz= names one IANA time zone, once") }
            zone = raw
            return .taken
        }
        if Option.equals(bytes, key, "catchup") {
            guard catchup == nil, let value = Catchup(rawValue: Option.word(bytes, raw)) else { return bad("catchup= is none, one or all, once") }
            catchup = value
            return .taken
        }
        return .notMine
    }
}

/// How a worker wants a failed attempt handled.
public enum RetryChoice: Equatable, Sendable {
    /// The job's own backoff decides.
    case policy
    /// Retry after exactly this long (still only if attempts are left).
    case after(milliseconds: Int)
    /// Do not retry: the job is dead.
    case never
}

/// How long to wait before retry number `attempt`.
public enum Backoff: Equatable, Sendable {
    case fixed(milliseconds: Int)
    case exponential(baseMilliseconds: Int, capMilliseconds: Int)

    public static let `default` = Backoff.exponential(baseMilliseconds: 1000, capMilliseconds: 3_600_000)

    /// The wait after failed attempt number `attempt` (1 for the first run), before jitter.
    public func delay(afterAttempt attempt: Int) -> Int {
        switch self {
        case .fixed(let milliseconds):
            return milliseconds
        case .exponential(let base, let cap):
            let doublings = min(max(attempt - 1, 0), 40)
            let (value, overflow) = base.multipliedReportingOverflow(by: 1 << doublings)
            return overflow ? cap : min(value, cap)
        }
    }

    /// Parses `fixed:<duration>` or `exp:<base>[:<cap>]`.
    public static func parse(_ text: String) -> Backoff? {
        var copy = text
        return copy.withUTF8 { Option.backoff(UnsafeRawBufferPointer($0), 0..<$0.count) }
    }

    /// `fixed:30s` or `exp:1s:1h`, as ENQ takes it.
    public var text: String {
        switch self {
        case .fixed(let milliseconds): return "fixed:\(milliseconds)ms"
        case .exponential(let base, let cap): return "exp:\(base)ms:\(cap)ms"
        }
    }
}

/// ENQ options; nil means "the queue's default".
public struct EnqueueOptions: Equatable, Sendable {
    public var delayMilliseconds: Int?
    /// Absolute run time, unix milliseconds.
    public var runAtMilliseconds: Int64?
    public var priority = 0
    public var maxAttempts: Int?
    public var backoff: Backoff?
    public var jitter: Double?
    public var leaseMilliseconds: Int?
    public var key: Range<Int>?
    /// The group whose limits apply (a tenant, a customer, an API key).
    public var group: Range<Int>?
    /// A job not started within this long after its ENQ is not run (`ttl=`)…
    public var ttlMilliseconds: Int?
    /// …or not started by this time, unix ms (`expires=`).
    public var expiresAtMilliseconds: Int64?
    /// Jobs that must complete before this one may start (`after=`), in the order given.
    public var after: [ParentReference]?
    /// What a parent's death does to this job (`on_parent_dead=`); nil: the default, `fail`.
    public var onParentDead: ParentDeathPolicy?
    /// How long after the ENQ its key is remembered at least, even once the job is gone
    /// (`key_ttl=`).
    public var keyTTLMilliseconds: Int?
    /// A duplicate of a job still waiting or delayed replaces its payload and run time
    /// (`replace=true`: debounce).
    public var replace = false
    private var prioritySet = false

    /// Whether `after=` or `on_parent_dead=` was given.
    public var hasParents: Bool { after != nil || onParentDead != nil }

    /// The most parents one job may have.
    public static let maxParents = 100

    /// When the job stops being startable, for one enqueued at `now`; nil: never.
    public func expiry(enqueuedAt now: Int64) -> Int64? {
        expiresAtMilliseconds ?? ttlMilliseconds.map { now + Int64($0) }
    }

    public init() {}

    public static let priorityRange = -1_000_000...1_000_000
    static let attemptsRange = 1...1000

    /// Applies one `key=value` field; an error if it is unknown, repeated or out of range.
    mutating func apply(_ bytes: UnsafeRawBufferPointer, _ field: Range<Int>) -> JobError? {
        guard let (key, value) = Option.split(bytes, field) else {
            return .badOption(bytes, field, "options are written key=value")
        }
        func bad(_ why: String) -> JobError { .badOption(bytes, field, why) }
        let name = Option.word(bytes, key)
        // A second value for the same option is named as such, not blamed on the value.
        func given(_ already: Bool) -> JobError? { already ? bad("\(name) is given more than once") : nil }
        switch name {
        case "delay":
            if let repeated = given(delayMilliseconds != nil) { return repeated }
            guard delayMilliseconds == nil, runAtMilliseconds == nil, let value = Option.duration(bytes, value) else {
                return bad("delay needs a duration, and not together with at")
            }
            delayMilliseconds = value
        case "at":
            if let repeated = given(runAtMilliseconds != nil) { return repeated }
            guard delayMilliseconds == nil, runAtMilliseconds == nil, let seconds = ClientParser.parseCount(bytes, value) else {
                return bad("at needs unix seconds, and not together with delay")
            }
            runAtMilliseconds = Int64(seconds) * 1000
        case "pri":
            if let repeated = given(prioritySet) { return repeated }
            guard !prioritySet, let number = Option.signedInt(bytes, value), Self.priorityRange.contains(number) else {
                return bad("pri must be an integer from -1000000 to 1000000")
            }
            priority = number
            prioritySet = true
        case "attempts":
            if let repeated = given(maxAttempts != nil) { return repeated }
            guard maxAttempts == nil, let number = ClientParser.parseCount(bytes, value), Self.attemptsRange.contains(number) else {
                return bad("attempts must be from 1 to 1000")
            }
            maxAttempts = number
        case "backoff":
            if let repeated = given(backoff != nil) { return repeated }
            guard backoff == nil, let parsed = Option.backoff(bytes, value) else {
                return bad("backoff must be fixed:<duration> or exp:<base>[:<cap>], base above 0 and cap at least base")
            }
            backoff = parsed
        case "jitter":
            if let repeated = given(jitter != nil) { return repeated }
            guard jitter == nil, let number = Option.fraction(Option.word(bytes, value)) else {
                return bad("jitter must be a fraction from 0 to 1")
            }
            jitter = number
        case "lease":
            if let repeated = given(leaseMilliseconds != nil) { return repeated }
            guard leaseMilliseconds == nil, let value = Option.duration(bytes, value), value > 0 else {
                return bad("lease must be a positive duration")
            }
            leaseMilliseconds = value
        case "key":
            if let repeated = given(self.key != nil) { return repeated }
            guard self.key == nil, (1...200).contains(value.count) else { return bad("key must be 1 to 200 bytes") }
            self.key = value
        case "group":
            if let repeated = given(group != nil) { return repeated }
            guard group == nil, (1...200).contains(value.count) else { return bad("group must be 1 to 200 bytes") }
            group = value
        case "ttl":
            if let repeated = given(ttlMilliseconds != nil) { return repeated }
            guard ttlMilliseconds == nil, expiresAtMilliseconds == nil, let value = Option.duration(bytes, value), value > 0 else {
                return bad("ttl needs a positive duration, and not together with expires")
            }
            ttlMilliseconds = value
        case "expires":
            if let repeated = given(expiresAtMilliseconds != nil) { return repeated }
            guard ttlMilliseconds == nil, expiresAtMilliseconds == nil, let milliseconds = Option.unixMilliseconds(bytes, value) else {
                return bad("expires needs unix milliseconds, and not together with ttl")
            }
            expiresAtMilliseconds = milliseconds
        case "after":
            if let repeated = given(after != nil) { return repeated }
            guard after == nil, let parents = ParentReference.list(bytes, value) else {
                return bad("after needs job ids or #<n> (the n-th ENQ of the same BATCH), comma-separated, each once, at most \(Self.maxParents)")
            }
            after = parents
        case "on_parent_dead":
            if let repeated = given(onParentDead != nil) { return repeated }
            guard onParentDead == nil, let policy = ParentDeathPolicy(rawValue: Option.word(bytes, value)) else {
                return bad("on_parent_dead is fail or run, once")
            }
            onParentDead = policy
        case "key_ttl":
            if let repeated = given(keyTTLMilliseconds != nil) { return repeated }
            guard keyTTLMilliseconds == nil, let value = Option.duration(bytes, value), value > 0 else {
                return bad("key_ttl needs a positive duration, once")
            }
            keyTTLMilliseconds = value
        case "replace":
            if let repeated = given(replace) { return repeated }
            guard !replace, Option.equals(bytes, value, "true") else { return bad("replace takes only true, once") }
            replace = true
        default:
            return bad("unknown option")
        }
        return nil
    }
}

/// A parent named by `after=`: a job by id, or the n-th ENQ (from 1) of the BATCH this ENQ is
/// part of (`#n`), which has no id until the batch is enqueued.
public enum ParentReference: Equatable, Sendable, Hashable {
    case job(UInt64)
    case batchPosition(Int)

    /// A comma-separated list with no repeats and at most `EnqueueOptions.maxParents` entries.
    static func list(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> [ParentReference]? {
        var parents: [ParentReference] = []
        var start = range.lowerBound
        for index in range.lowerBound...range.upperBound where index == range.upperBound || bytes[index] == UInt8(ascii: ",") {
            let item = start..<index
            start = index + 1
            guard !item.isEmpty, parents.count < EnqueueOptions.maxParents else { return nil }
            let parent: ParentReference
            if bytes[item.lowerBound] == UInt8(ascii: "#") {
                guard let position = ClientParser.parseCount(bytes, (item.lowerBound + 1)..<item.upperBound), position > 0 else { return nil }
                parent = .batchPosition(position)
            } else {
                guard let id = Option.jobID(bytes, item) else { return nil }
                parent = .job(id)
            }
            guard !parents.contains(parent) else { return nil }
            parents.append(parent)
        }
        return parents
    }

    /// As written on the wire.
    public var text: String {
        switch self {
        case .job(let id): return String(id)
        case .batchPosition(let position): return "#\(position)"
        }
    }
}

/// What a parent's death does to a job waiting for it: the job dies too (`fail`), or runs
/// as if the parent had completed (`run`).
public enum ParentDeathPolicy: String, Sendable, Equatable {
    case fail, run
}

/// A rate: `limit` events per `windowMilliseconds`, written `100/1s` (or `100/s`).
public struct Rate: Sendable, Equatable {
    public var limit: Int
    public var windowMilliseconds: Int

    public init(limit: Int, windowMilliseconds: Int) {
        self.limit = limit
        self.windowMilliseconds = windowMilliseconds
    }

    public var text: String { "\(limit)/\(windowMilliseconds)ms" }

    /// Parses `N/<duration>`; a bare unit (`/s`, `/m`, `/h`) means one of it.
    public static func parse(_ text: String) -> Rate? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        // Digits only: Int("+5") would take a sign, which no count has.
        guard parts.count == 2, parts[0].utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let limit = Int(parts[0]), (1...1_000_000).contains(limit)
        else { return nil }
        let unit = String(parts[1])
        guard !unit.isEmpty, let window = Units.milliseconds(unit.first?.isNumber == true ? unit : "1" + unit), window > 0 else { return nil }
        return Rate(limit: limit, windowMilliseconds: window)
    }
}

/// Changes to a queue's settings, from `QUEUE <queue> key=value ...`. Each field is nil when
/// not mentioned, `.some(nil)` when set to `none` (back to the default or no limit).
public struct QueueSettings: Equatable, Sendable {
    public var rate: Rate??
    public var groupRate: Rate??
    public var concurrency: Int??
    public var maxAttempts: Int??
    public var backoff: Backoff??
    public var jitter: Double??
    public var leaseMilliseconds: Int??
    public var keepCompleted: Int??
    public var keepDead: Int??

    public init() {}

    public var isEmpty: Bool { self == QueueSettings() }

    /// The most jobs `keep_completed=` and `keep_dead=` may keep: what a 32-bit count holds
    /// (the PostgreSQL store's column), far beyond any history worth keeping.
    public static let maxKept = Int(Int32.max)

    static func keptCount(_ count: Int) -> Int? { count <= maxKept ? count : nil }

    mutating func apply(_ bytes: UnsafeRawBufferPointer, _ field: Range<Int>) -> JobError? {
        guard let (key, value) = Option.split(bytes, field) else {
            return .badOption(bytes, field, "settings are written key=value")
        }
        let text = Option.word(bytes, value)
        let clear = text == "none"
        func bad(_ why: String) -> JobError { .badOption(bytes, field, why) }
        func once<T>(_ slot: T??, _ parsed: T?, _ why: String) -> Result<T??, JobError> {
            guard slot == nil else { return .failure(bad("\(Option.word(bytes, key)) is given more than once")) }
            if clear { return .success(.some(nil)) }
            guard let parsed else { return .failure(bad(why)) }
            return .success(.some(parsed))
        }
        let result: Result<Void, JobError>
        switch Option.word(bytes, key) {
        case "rate": result = once(rate, Rate.parse(text), "rate is N/<duration> (N from 1 to 1000000, the window above 0 and at most 366d) or none").map { rate = $0 }
        case "group_rate": result = once(groupRate, Rate.parse(text), "group_rate is N/<duration> (N from 1 to 1000000, the window above 0 and at most 366d) or none").map { groupRate = $0 }
        case "concurrency":
            result = once(concurrency, Option.count(text).flatMap { (1...100_000).contains($0) ? $0 : nil }, "concurrency is 1 to 100000 or none")
                .map { concurrency = $0 }
        case "attempts":
            result = once(maxAttempts, Option.count(text).flatMap { EnqueueOptions.attemptsRange.contains($0) ? $0 : nil }, "attempts is 1 to 1000 or none")
                .map { maxAttempts = $0 }
        case "backoff": result = once(backoff, Option.backoff(bytes, value), "backoff is fixed:<d>, exp:<base>[:<cap>] (base above 0, cap at least base) or none").map { backoff = $0 }
        case "jitter":
            result = once(jitter, Option.fraction(text), "jitter is 0 to 1 or none").map { jitter = $0 }
        case "lease":
            result = once(leaseMilliseconds, Units.milliseconds(text).flatMap { $0 > 0 ? $0 : nil }, "lease is a positive duration or none")
                .map { leaseMilliseconds = $0 }
        case "keep_completed":
            result = once(keepCompleted, Option.count(text).flatMap(Self.keptCount), "keep_completed is 0 to \(Self.maxKept) or none")
                .map { keepCompleted = $0 }
        case "keep_dead":
            result = once(keepDead, Option.count(text).flatMap(Self.keptCount), "keep_dead is 0 to \(Self.maxKept) or none").map { keepDead = $0 }
        default:
            return bad("unknown setting")
        }
        if case .failure(let error) = result { return error }
        return nil
    }
}

/// Queue names: 1 to 128 bytes of letters, digits, `_` and `-`, so a name is always one
/// subject token.
public enum QueueName {
    public static let maxLength = 128

    public static func isValid(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        guard !range.isEmpty, range.count <= maxLength else { return false }
        for index in range {
            switch bytes[index] {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return true
    }
}

/// Helpers for `key=value` option fields.
enum Option {
    static func split(_ bytes: UnsafeRawBufferPointer, _ field: Range<Int>) -> (Range<Int>, Range<Int>)? {
        for index in field where bytes[index] == UInt8(ascii: "=") {
            guard index > field.lowerBound else { return nil }
            return (field.lowerBound..<index, (index + 1)..<field.upperBound)
        }
        return nil
    }

    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ word: StaticString) -> Bool {
        guard range.count == word.utf8CodeUnitCount else { return false }
        for offset in 0..<range.count where bytes[range.lowerBound + offset] != word.utf8Start[offset] { return false }
        return true
    }

    static func word(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// A field a verb does not take, refused with `usage`, unless an earlier field of `arguments`
    /// has its key: then it is named as repeated, the text the error table promises for a
    /// repeated option on every verb (a usage line would blame the value).
    static func refusal(_ bytes: UnsafeRawBufferPointer, _ field: Range<Int>, in arguments: Range<Int>, _ usage: String) -> JobError {
        repeated(bytes, field, in: arguments) ?? .badOption(bytes, field, usage)
    }

    /// `<option> is given more than once` when a field of `arguments` before `field` has the
    /// same key; nil otherwise. Positional arguments (queues, ids, counts) have no `=`, so they
    /// never match.
    static func repeated(_ bytes: UnsafeRawBufferPointer, _ field: Range<Int>, in arguments: Range<Int>) -> JobError? {
        guard let (key, _) = split(bytes, field) else { return nil }
        var earlier = FieldScanner(bytes: bytes, position: arguments.lowerBound, end: field.lowerBound)
        while let other = earlier.next() {
            if let (otherKey, _) = split(bytes, other), bytes[otherKey].elementsEqual(bytes[key]) {
                return .badOption(bytes, field, "\(word(bytes, key)) is given more than once")
            }
        }
        return nil
    }

    /// RESERVE's and WAIT's one option, with an error that says which rule `field` broke.
    static func timeout(_ bytes: UnsafeRawBufferPointer, _ field: Range<Int>, given: Bool, verb: StaticString) -> Result<Int, JobError> {
        guard let (key, value) = split(bytes, field), equals(bytes, key, "timeout") else {
            return .failure(.badOption(bytes, field, "\(verb) takes only timeout=<duration>"))
        }
        guard !given else { return .failure(.badOption(bytes, field, "timeout is given more than once")) }
        guard let milliseconds = duration(bytes, value) else {
            return .failure(.badOption(bytes, field, "timeout must be a duration: up to 12 digits and a unit (ms, s, m, h or d; none is seconds), like 250ms or 5s"))
        }
        return .success(milliseconds)
    }

    static func duration(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 16 else { return nil }
        return Units.milliseconds(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    /// A count written in decimal digits only (no sign, no spaces), at most 18 of them.
    static func count(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(text)
    }

    /// A fraction from 0 to 1 in decimal (`0.25`, `1`, `2.5e-1`); not hexadecimal, not `inf`.
    static func fraction(_ text: String) -> Double? {
        let allowed = Set("0123456789.eE-+".utf8)
        guard let first = text.utf8.first, first != UInt8(ascii: "+"), first != UInt8(ascii: "-"),
            text.utf8.allSatisfy(allowed.contains), let number = Double(text), number >= 0, number <= 1
        else { return nil }
        return number
    }

    static func signedInt(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard let first = range.first else { return nil }
        if bytes[first] == UInt8(ascii: "-") {
            return ClientParser.parseCount(bytes, (first + 1)..<range.upperBound).map { -$0 }
        }
        return ClientParser.parseCount(bytes, range)
    }

    /// A time in unix milliseconds: digits only, at most 15 of them (today's times have 13, so
    /// the 10-digit bound of other counts would refuse every real one).
    static func unixMilliseconds(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int64? {
        guard !range.isEmpty, range.count <= 15 else { return nil }
        var value: Int64 = 0
        for index in range {
            let digit = Int64(bytes[index]) &- 48
            guard digit >= 0 && digit <= 9 else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    /// `attempt=<n>`, n from 1: the attempt a worker holds.
    static func attempt(_ bytes: UnsafeRawBufferPointer, _ field: Range<Int>) -> Int? {
        guard let (key, value) = split(bytes, field), equals(bytes, key, "attempt"),
            let number = ClientParser.parseCount(bytes, value), number >= 1
        else { return nil }
        return number
    }

    /// A job id: a positive decimal of at most 19 digits.
    static func jobID(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64? {
        guard !range.isEmpty, range.count <= 19 else { return nil }
        var value: UInt64 = 0
        for index in range {
            let digit = bytes[index] &- 48
            guard digit <= 9 else { return nil }
            value = value * 10 + UInt64(digit)
        }
        return value > 0 ? value : nil
    }

    static func backoff(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Backoff? {
        let parts = word(bytes, range).split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("fixed", 2):
            return Units.milliseconds(parts[1]).map { .fixed(milliseconds: $0) }
        case ("exp", 2), ("exp", 3):
            guard let base = Units.milliseconds(parts[1]), base > 0 else { return nil }
            let cap = parts.count == 3 ? Units.milliseconds(parts[2]) : 3_600_000
            guard let cap, cap >= base else { return nil }
            return .exponential(baseMilliseconds: base, capMilliseconds: cap)
        default:
            return nil
        }
    }
}

/// A job verb's error: a stable code (see PROTOCOL.md) and a message for people.
public struct JobError: Error, Equatable, Sendable {
    public enum Code: String, Sendable {
        case badQueue = "BAD_QUEUE"
        case badOption = "BAD_OPTION"
        case badID = "BAD_ID"
        case notFound = "NOT_FOUND"
        case notHeld = "NOT_HELD"
        case notDead = "NOT_DEAD"
        /// PROMOTE of a job that is not delayed.
        case notDelayed = "NOT_DELAYED"
        case storeFull = "STORE_FULL"
        /// A configured limit was reached (`--max-queues`, `--max-waiting-requests`).
        case limit = "LIMIT"
        /// The user's job permissions do not grant the command on that queue.
        case forbidden = "FORBIDDEN"
        /// The job store cannot be reached (PostgreSQL down or failing over); nothing was
        /// promised, so the command can be sent again.
        case unavailable = "UNAVAILABLE"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The wire line: `-ERR '<CODE> <message>'`. Quotes in the message become `"` and control
    /// characters (a CR echoed from a client's field, say) `?`, so the line always parses as one.
    public var line: String {
        "-ERR '\(code.rawValue) \(message.replacingQuotes())'\r\n"
    }

    static func badQueue(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> JobError {
        JobError(.badQueue, "queue names are 1 to \(QueueName.maxLength) letters, digits, _ or -")
    }

    static func badOption(_ bytes: UnsafeRawBufferPointer, _ field: Range<Int>, _ why: String) -> JobError {
        JobError(.badOption, "\(Option.word(bytes, field.clamped(to: field.lowerBound..<min(field.upperBound, field.lowerBound + 64)))): \(why)")
    }

    static let badSchedule = JobError(.badOption, "schedule names are 1 to \(QueueName.maxLength) letters, digits, _ or -")

    static func badID(_ bytes: UnsafeRawBufferPointer, _ field: Range<Int>) -> JobError {
        JobError(.badID, "job ids are positive numbers")
    }

    public static func notFound(_ id: UInt64) -> JobError { JobError(.notFound, "job \(id) does not exist") }
    public static func notHeld(_ id: UInt64) -> JobError {
        JobError(.notHeld, Self.notHeldMessage(id))
    }
    /// NOT_HELD's text, on both job stores. It names the usual cause of a late ACK, FAIL,
    /// PROGRESS or TOUCH (the lease ran out, and the job went back or on to another worker),
    /// which "not reserved by this connection" hid from a worker that did reserve it.
    public static func notHeldMessage<ID: BinaryInteger>(_ id: ID) -> String {
        "job \(id) is not active under a lease this connection holds (its lease ended, or it was finished or never reserved here)"
    }
    public static func staleAttempt(_ id: UInt64, _ attempt: Int, current: Int) -> JobError {
        JobError(
            .notHeld,
            "job \(id) is on attempt \(current), not \(attempt)"
                + (attempt < current ? ": the lease of attempt \(attempt) ended and the job was handed out again" : ""))
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        String(unicodeScalars.map { $0 == "'" ? "\"" : $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    }
}

/// The queues a RESERVE names, as ranges of the command's bytes, in the order given. Most
/// RESERVEs name one queue; it is kept apart so that they need no array.
public struct QueueNames: RandomAccessCollection, Equatable, Sendable {
    public let first: Range<Int>
    public let more: [Range<Int>]

    public init(first: Range<Int>, more: [Range<Int>] = []) {
        self.first = first
        self.more = more
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { more.count + 1 }
    public subscript(position: Int) -> Range<Int> { position == 0 ? first : more[position - 1] }
}
