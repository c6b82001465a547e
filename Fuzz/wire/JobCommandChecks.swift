import DocketWire

/// Properties of `JobCommand.parse` on the arguments the framing parser found.
///
/// A parsed command belongs to the verb that was sent; every range it holds is a non-empty
/// part of the arguments; every number is inside the range PROTOCOL.md gives for it. A refusal
/// is one well-formed `-ERR '<CODE> <message>'` line whatever bytes the client sent.
enum JobCommandChecks {
    /// The longest duration `Units.milliseconds` accepts: a year (366 days).
    static let maxDuration = 366 * 86_400_000

    static func check(_ verb: JobVerb, _ bytes: UnsafeRawBufferPointer, _ arguments: Range<Int>) {
        let command: JobCommand
        switch JobCommand.parse(verb, bytes, arguments) {
        case .failure(let error):
            checkErrorLine(error, verb, bytes, arguments)
            return
        case .success(let parsed):
            command = parsed
        }
        let check = Checker(bytes: bytes, arguments: arguments, verb: verb, command: command)
        if command.verb != verb { check.fail("parsed as a \(command.verb.name) command") }
        switch command {
        case .enqueue(let queue, let options):
            check.queue(queue)
            check.options(options)
        case .reserve(let queues, let timeout):
            if queues.isEmpty { check.fail("no queues") }
            queues.forEach { check.queue($0) }
            timeout.map { check.duration($0, "timeout") }
        case .ack(let id, let attempt), .touch(let id, let attempt):
            check.id(id)
            check.attempt(attempt)
        case .inspect(let id), .retryJob(let id), .delete(let id), .unroute(let id), .promote(let id), .parents(let id):
            check.id(id)
        case .fail(let id, let choice, let attempt):
            check.id(id)
            if case .after(let milliseconds) = choice { check.duration(milliseconds, "retry") }
            check.attempt(attempt)
        case .progress(let id, let percent, let attempt):
            check.id(id)
            check.within(percent, 0...100, "percent")
            check.attempt(attempt)
        case .dead(let queue, let limit):
            check.queue(queue)
            check.within(limit, 1...Int.max, "limit")
        case .retryQueue(let queue), .pause(let queue), .resume(let queue):
            check.queue(queue)
        case .throttle(let id, let milliseconds, _, let attempt):
            check.id(id)
            check.duration(milliseconds, "throttle", positive: true)
            check.attempt(attempt)
        case .queue(let queue, let settings):
            check.queue(queue)
            check.settings(settings)
        case .stats, .queues, .routes, .schedules, .cancelWait:
            break
        case .batch(let count):
            check.within(count, 1...Int.max, "count")
        case .list(let queue, _, _, let limit):
            check.queue(queue)
            check.within(limit, 1...JobListState.maxPage, "limit")
        case .children(let id, let after, let limit):
            check.id(id)
            after.map { check.id($0) }
            check.within(limit, 1...JobListState.maxPage, "limit")
        case .purge(let queue, let state, let older):
            check.queue(queue)
            if state == .active { check.fail("PURGE of active jobs") }
            older.map { check.duration($0, "older") }
        case .schedule(let name, let queue, let timing, let options, let text):
            check.queue(name)
            check.queue(queue)
            check.options(options)
            if (timing.cron == nil) == (timing.everyMilliseconds == nil) { check.fail("not exactly one of cron= and every=") }
            timing.cron.map { check.inside($0, "cron") }
            timing.everyMilliseconds.map { check.within($0, 1000...Int.max, "every") }
            if options.key != nil || options.runAtMilliseconds != nil || options.delayMilliseconds != nil { check.fail("a schedule with key=, at= or delay=") }
            if text != name.lowerBound..<arguments.upperBound { check.fail("schedule text \(text) is not name onwards") }
        case .unschedule(let name), .pauseSchedule(let name), .resumeSchedule(let name):
            check.queue(name)
        case .wait(let id, let timeout):
            check.id(id)
            timeout.map { check.duration($0, "timeout") }
        case .route(let pattern, let queue, let options, let text):
            check.inside(pattern, "pattern")
            check.queue(queue)
            check.options(options)
            if options.key != nil || options.runAtMilliseconds != nil || options.hasParents { check.fail("a route with key=, at= or after=") }
            if text != pattern.lowerBound..<arguments.upperBound { check.fail("route text \(text) is not pattern onwards") }
        }
    }

    /// The reply for a refused command: one line, `-ERR '<CODE> <message>'`, with no quote or
    /// line feed inside the quotes (the message may quote the client's bytes).
    private static func checkErrorLine(
        _ error: JobError, _ verb: JobVerb, _ bytes: UnsafeRawBufferPointer, _ arguments: Range<Int>
    ) {
        let line = Array(error.line.utf8)
        let prefix = Array("-ERR '\(error.code.rawValue) ".utf8)
        let suffix = Array("'\r\n".utf8)
        guard line.count >= prefix.count + suffix.count, line.starts(with: prefix), line.suffix(3).elementsEqual(suffix)
        else { violation("\(verb.name) error line \(error.line.debugDescription) is malformed") }
        let inner = line[prefix.count..<(line.count - suffix.count)]
        if inner.contains(UInt8(ascii: "'")) || inner.contains(Byte.lf) {
            violation(
                "\(verb.name) \(OutcomeChecks.snippet(bytes, arguments)): error line \(error.line.debugDescription) "
                    + "holds a quote or a line feed")
        }
    }

    /// Checks one parsed command; every failure names the verb, its arguments and the command.
    private struct Checker {
        let bytes: UnsafeRawBufferPointer
        let arguments: Range<Int>
        let verb: JobVerb
        let command: JobCommand

        func fail(_ what: String) -> Never {
            violation("\(verb.name) \(OutcomeChecks.snippet(bytes, arguments)) gave \(command): \(what)")
        }

        func inside(_ range: Range<Int>, _ name: String) {
            if range.isEmpty || range.lowerBound < arguments.lowerBound || range.upperBound > arguments.upperBound {
                fail("\(name) \(range) is empty or outside the arguments \(arguments)")
            }
        }

        func queue(_ range: Range<Int>) {
            inside(range, "queue")
            if !QueueName.isValid(bytes, range) { fail("invalid queue name \(OutcomeChecks.snippet(bytes, range))") }
        }

        func id(_ id: UInt64) {
            if id == 0 { fail("job id 0") }
        }

        func attempt(_ attempt: Int?) {
            if let attempt, attempt < 1 { fail("attempt \(attempt) below 1") }
        }

        func within<T: Comparable>(_ value: T, _ range: ClosedRange<T>, _ name: String) {
            if !range.contains(value) { fail("\(name) \(value) outside \(range)") }
        }

        func duration(_ milliseconds: Int, _ name: String, positive: Bool = false) {
            within(milliseconds, (positive ? 1 : 0)...JobCommandChecks.maxDuration, name)
        }

        func fraction(_ value: Double, _ name: String) {
            if !(value >= 0 && value <= 1) { fail("\(name) \(value) is not a fraction from 0 to 1") }
        }

        func backoff(_ backoff: Backoff) {
            switch backoff {
            case .fixed(let milliseconds):
                duration(milliseconds, "fixed backoff")
            case .exponential(let base, let cap):
                duration(base, "backoff base", positive: true)
                duration(cap, "backoff cap", positive: true)
                if cap < base { fail("backoff cap \(cap) below base \(base)") }
            }
        }

        func rate(_ rate: Rate, _ name: String) {
            within(rate.limit, 1...1_000_000, "\(name) limit")
            duration(rate.windowMilliseconds, "\(name) window", positive: true)
        }

        func options(_ options: EnqueueOptions) {
            options.delayMilliseconds.map { duration($0, "delay") }
            if let at = options.runAtMilliseconds, at < 0 { fail("at \(at) before 1970") }
            if options.delayMilliseconds != nil && options.runAtMilliseconds != nil { fail("both delay and at") }
            within(options.priority, -1_000_000...1_000_000, "pri")
            options.maxAttempts.map { within($0, 1...1000, "attempts") }
            options.backoff.map { backoff($0) }
            options.jitter.map { fraction($0, "jitter") }
            options.leaseMilliseconds.map { duration($0, "lease", positive: true) }
            for (range, name) in [(options.key, "key"), (options.group, "group")] {
                guard let range else { continue }
                inside(range, name)
                within(range.count, 1...200, "\(name) length")
            }
            if let after = options.after {
                within(after.count, 1...EnqueueOptions.maxParents, "after count")
                if Set(after).count != after.count { fail("a parent named twice") }
                for parent in after {
                    switch parent {
                    case .job(let id): self.id(id)
                    case .batchPosition(let position): within(position, 1...Int.max, "#position")
                    }
                }
            }
        }

        func settings(_ settings: QueueSettings) {
            if case .some(.some(let value)) = settings.rate { rate(value, "rate") }
            if case .some(.some(let value)) = settings.groupRate { rate(value, "group_rate") }
            if case .some(.some(let value)) = settings.concurrency { within(value, 1...100_000, "concurrency") }
            if case .some(.some(let value)) = settings.maxAttempts { within(value, 1...1000, "attempts") }
            if case .some(.some(let value)) = settings.backoff { backoff(value) }
            if case .some(.some(let value)) = settings.jitter { fraction(value, "jitter") }
            if case .some(.some(let value)) = settings.leaseMilliseconds { duration(value, "lease", positive: true) }
            if case .some(.some(let value)) = settings.keepCompleted { within(value, 0...Int.max, "keep_completed") }
            if case .some(.some(let value)) = settings.keepDead { within(value, 0...Int.max, "keep_dead") }
        }
    }
}

extension JobCommand {
    /// The verb whose arguments parse to this command.
    var verb: JobVerb {
        switch self {
        case .enqueue: return .enq
        case .reserve: return .reserve
        case .ack: return .ack
        case .fail, .throttle: return .fail
        case .progress: return .progress
        case .touch: return .touch
        case .inspect: return .inspect
        case .dead: return .dead
        case .retryJob, .retryQueue: return .retry
        case .delete: return .del
        case .queue: return .queue
        case .pause: return .pause
        case .resume: return .resume
        case .stats: return .stats
        case .queues: return .queues
        case .wait: return .wait
        case .route: return .route
        case .unroute: return .unroute
        case .routes: return .routes
        case .list: return .list
        case .purge: return .purge
        case .promote: return .promote
        case .schedule: return .schedule
        case .unschedule: return .unschedule
        case .schedules: return .schedules
        case .pauseSchedule: return .pause
        case .resumeSchedule: return .resume
        case .batch: return .batch
        case .parents: return .parents
        case .children: return .children
        case .cancelWait: return .cancel
        }
    }
}
