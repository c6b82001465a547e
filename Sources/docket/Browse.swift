import ArgumentParser
import DocketClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Browsing a queue (LIST), bulk repair (PURGE, PROMOTE) and schedules.

extension JobState: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension ParentDeathPolicy: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension ScheduleCatchup: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

struct Jobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a queue's jobs in one state, a page at a time.",
        discussion: """
            Prints one line per job: id, state, priority, attempts, when it was enqueued (or \
            runs, for delayed jobs), its group, the jobs a blocked one waits for, and its last \
            error. Waiting jobs come in the order workers will take them, delayed ones by run \
            time, blocked ones by enqueue time, active ones by start, completed and dead ones \
            newest first. When more jobs follow, the command that shows the next \
            page is printed on standard error; --all follows every page instead.
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The queue.")
    var queue: String

    @Option(help: "waiting (the default), delayed, blocked, active, completed or dead.")
    var state: JobState = .waiting

    @Option(help: "Jobs per page, 1 to 1000.")
    var limit: Int = 100

    @Option(help: ArgumentHelp("Start after this cursor (printed at the end of the previous page).", valueName: "cursor"))
    var after: String?

    @Flag(help: "Follow every page to the end.")
    var all = false

    @Flag(help: "Print the job documents as JSON, one per line.")
    var json = false

    func validate() throws {
        if !(1...1000).contains(limit) { throw ValidationError("--limit is 1 to 1000.") }
    }

    func run() throws {
        try connection.with { client in
            var cursor = after
            var shown = 0
            repeat {
                let page = try client.list(queue, state: state, after: cursor, limit: limit)
                for job in page.jobs {
                    writeStdout((json ? JSONFormat.compact(job.json) : Self.line(job)) + "\n")
                }
                shown += page.jobs.count
                cursor = page.next
            } while all && cursor != nil
            if shown == 0 && after == nil { writeStderr("No \(state.rawValue) jobs in \(queue).\n") }
            if let cursor {
                writeStderr("More: docket jobs \(queue) --state \(state.rawValue) --limit \(limit) --after \(cursor)\n")
            }
        }
    }

    static func line(_ job: JobInfo) -> String {
        let when = job.state == "delayed" ? "runs \(job.runAt.map(timestamp) ?? "-")" : "enqueued \(job.enqueuedAt.map(timestamp) ?? "-")"
        var fields = ["\(job.id)", job.state, "pri \(job.priority)", "attempts \(job.attempts)/\(job.maxAttempts)", when]
        if let group = job.group { fields.append("group \(group)") }
        if job.state == "blocked", !job.parents.isEmpty { fields.append("after " + job.parents.map(String.init).joined(separator: ",")) }
        if let error = job.lastError { fields.append(Events.oneLine(error)) }
        return fields.joined(separator: "\t")
    }
}

struct Purge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a queue's waiting, delayed, blocked, completed or dead jobs.",
        discussion: """
            Active jobs are never purged: workers hold them (delete one with 'docket del'). With \
            --older, only jobs that entered the state (were enqueued, or finished) longer ago go. \
            Prints how many jobs were deleted once the deletion is durable.
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The queue.")
    var queue: String

    @Option(help: "waiting, delayed, blocked, completed or dead.")
    var state: JobState

    @Option(help: "Only jobs that entered the state longer ago than this, such as 7d.")
    var older: String?

    @Flag(
        inversion: .prefixedNo,
        help: "Show how many jobs are being deleted while the server works (default: when standard error is a terminal).")
    var progress: Bool?

    func validate() throws {
        if state == .active { throw ValidationError("Active jobs are held by workers and are never purged.") }
    }

    func run() throws {
        let older = try older.map { try parseDuration($0, "--older") }
        let showProgress = progress ?? ProgressBar.stderrIsTerminal
        try connection.with { client in
            // The server deletes them in one commit: what can be shown is how many at most
            // (the state's count now), and that it is under way.
            var label = "deleting \(state.rawValue) jobs of \(queue)"
            if showProgress, let count = try client.queue(queue)["jobs"]?[state.rawValue]?.intValue {
                label = "deleting up to \(grouped(count)) \(state.rawValue) job\(count == 1 ? "" : "s") of \(queue)"
            }
            let bar = ProgressBar(label: label, total: nil, enabled: showProgress)
            let count = try bar.spinning { try client.purge(queue, state: state, older: older) }
            writeStdout("\(grouped(count)) \(state.rawValue) job\(count == 1 ? "" : "s") of \(queue) deleted.\n")
        }
    }
}

struct Promote: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a delayed job now: it waits behind the jobs already runnable.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The id of the delayed job.")
    var id: String

    func run() throws {
        let id = try parseJobID(id)
        try connection.with { client in
            try client.promote(id)
            writeStdout("Job \(id) is waiting.\n")
        }
    }
}

// MARK: Schedules

struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Create or replace a schedule that enqueues a job every tick; or pause or resume one.",
        discussion: """
            'docket schedule nightly reports --cron "0 3 * * *" --tz Europe/Berlin report' \
            enqueues the payload 'report' on the queue reports at 3:00 Berlin time every day; \
            'docket schedule pulse beat --every 30s' every 30 seconds. Each tick's job is keyed \
            <name>@<tick>, so a tick never makes two jobs. --catchup says what a server that was \
            down does about the ticks it missed: none, one (the default) or all. \
            'docket schedule pulse --pause' stops one, --resume starts it again.
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The schedule's name (letters, digits, _ or -).")
    var name: String

    @Argument(help: "The queue its jobs go to.")
    var queue: String?

    @Argument(help: "The payload of each job (- reads standard input; default empty).")
    var payload: String?

    @Option(help: ArgumentHelp("A cron expression: 5 fields, or 6 with seconds first; @hourly, @daily and the like.", valueName: "expression"))
    var cron: String?

    @Option(help: ArgumentHelp("The IANA time zone --cron is read in (default UTC).", valueName: "zone"))
    var tz: String?

    @Option(help: "Fire every this long (at least 1s) from now, instead of --cron.")
    var every: String?

    @Option(help: "Ticks missed while no server ran: none, one (the default) or all.")
    var catchup: ScheduleCatchup?

    @OptionGroup var flags: EnqueueFlags

    @Flag(help: "Pause the schedule: its ticks pass without jobs.")
    var pause = false

    @Flag(help: "Resume a paused schedule.")
    var resume = false

    func validate() throws {
        if pause || resume {
            if pause && resume { throw ValidationError("Give --pause or --resume, not both.") }
            if queue != nil || cron != nil || every != nil { throw ValidationError("--pause and --resume take only the schedule's name.") }
            return
        }
        if queue == nil { throw ValidationError("Give the queue the schedule's jobs go to.") }
        if (cron == nil) == (every == nil) { throw ValidationError("Give either --cron or --every.") }
        if tz != nil && cron == nil { throw ValidationError("--tz goes with --cron.") }
        if flags.delay != nil { throw ValidationError("A schedule's ticks say when its jobs run: --delay does not go with it.") }
    }

    func run() throws {
        if pause || resume {
            try connection.with { client in
                if pause { try client.pauseSchedule(name) } else { try client.resumeSchedule(name) }
                writeStdout("Schedule \(name) \(pause ? "paused" : "resumed").\n")
            }
            return
        }
        let when: ScheduleTiming = if let cron { .cron(cron, timeZone: tz) } else { .every(try parseDuration(every!, "--every")) }
        let options = try flags.options()
        let bytes = payload.map(payloadBytes) ?? []
        try connection.with { client in
            try client.schedule(name, queue: queue!, when, catchup: catchup, options: options, payload: bytes)
            let next = try client.schedules().first { $0.name == name }?.next.first
            writeStdout("Schedule \(name) saved; next tick \(next.map(timestamp) ?? "none").\n")
        }
    }
}

struct Unschedule: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a schedule (jobs it already made stay).")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The schedule's name.")
    var name: String

    func run() throws {
        try connection.with { client in
            try client.unschedule(name)
            writeStdout("Schedule \(name) removed.\n")
        }
    }
}

struct Schedules: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the schedules: name, queue, when, next tick, and whether paused.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Flag(help: "Print the schedules as JSON.")
    var json = false

    func run() throws {
        try connection.with { client in
            if json {
                // Every page, as one array in the server's own JSON.
                var raw: [UInt8] = Array("[".utf8)
                var after: String?
                while true {
                    let page = try client.schedulesRaw(after: after, limit: 1000)
                    guard let last = page.withUnsafeBytes({ JSONValue.parse($0) })?.arrayValue?.last else { break }
                    if raw.count > 1 { raw += Array(",".utf8) }
                    raw += page.dropFirst().dropLast()
                    after = last["name"]?.stringValue
                }
                writeStdout(JSONFormat.pretty(raw + Array("]".utf8)) + "\n")
                return
            }
            let all = try client.schedules()
            if all.isEmpty { writeStderr("No schedules.\n") }
            for schedule in all {
                let when: String
                if let cron = schedule.cron {
                    when = "cron \"\(cron)\" \(schedule.timeZone ?? "UTC")"
                } else {
                    when = "every \(schedule.everyMilliseconds.map { "\($0)ms" } ?? "?")"
                }
                let next = schedule.paused ? "paused" : "next \(schedule.next.first.map(timestamp) ?? "none")"
                writeStdout([schedule.name, schedule.queue, when, next].joined(separator: "\t") + "\n")
            }
        }
    }
}

/// Unix milliseconds as a UTC date and time, `2026-12-03 06:30:00Z`.
func timestamp(_ unixMilliseconds: Int64) -> String {
    var seconds = time_t(unixMilliseconds / 1000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}
