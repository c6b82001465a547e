import ArgumentParser
import DocketClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: Events

struct Pub: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish one message on a subject.",
        discussion: "The message goes to every subscription whose subject matches, and to routes that turn it into jobs.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The subject to publish on, such as orders.new (no wildcards).")
    var subject: String

    @Argument(help: "The message payload; - reads it from standard input.")
    var data: String

    @Option(help: "A reply subject to send with the message.")
    var reply: String?

    @Option(name: .customLong("header"), help: "A header to send, written 'Name: Value'; repeat it for several.")
    var headers: [String] = []

    func run() throws {
        let parsed = try headers.map { text -> Header in
            guard let colon = text.firstIndex(of: ":") else { throw ValidationError("A header is written 'Name: Value'.") }
            return Header(String(text[..<colon]).trimmingBlanks(), String(text[text.index(after: colon)...]).trimmingBlanks())
        }
        let payload = payloadBytes(data)
        try connection.with { client in
            try client.publish(subject, payload, reply: reply, headers: parsed.isEmpty ? nil : parsed)
            try client.flush()
        }
    }
}

struct Sub: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Subscribe to a subject and print messages as they arrive.",
        discussion: """
            Each message is printed as one line, 'subject: payload' (with the reply subject in \
            brackets when there is one). A * in the subject matches one token and a final > \
            matches the rest. It runs until interrupted, or until --count messages arrived.
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The subject to subscribe to, wildcards allowed, such as orders.> or $JOB.emails.>.")
    var subject: String

    @Option(help: "Join this queue group: each message goes to one member of the group.")
    var queue: String?

    @Option(help: "Stop after this many messages.")
    var count: Int?

    @Flag(help: "Print only the payloads, one per line.")
    var raw = false

    @Flag(help: "Print each message's headers too.")
    var headers = false

    func run() throws {
        try connection.with(follows: true) { client in
            let subscription = try client.subscribe(subject, queue: queue)
            if let count { try subscription.unsubscribe(after: count) }
            try client.flush()
            writeStderr("Listening on \(subject)\n")
            var received = 0
            while count.map({ received < $0 }) ?? true {
                let message: Message
                do {
                    message = try subscription.next()
                } catch DocketError.subscriptionClosed {
                    if let count, received >= count { break }
                    throw DocketError.connectionClosed("the subscription ended")
                }
                received += 1
                if raw {
                    writeStdout(message.payload + [10])
                    continue
                }
                var line = message.subject
                if let reply = message.reply { line += " [reply \(reply)]" }
                line += ": " + printable(message.payload) + "\n"
                if headers, let list = message.headers {
                    for header in list { line += "  \(header.name): \(header.value)\n" }
                }
                writeStdout(line)
            }
        }
    }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a queue's job lifecycle events, one readable line per event.",
        discussion: """
            Subscribes to $JOB.<queue>.> and prints each event (enqueued, started, progress, \
            completed, failed, stalled, lost, dead, throttled, retried, expired, waiting, \
            blocked, unblocked) as it happens, with the \
            time, the job, the attempt and what matters for that event. Use * as the queue to \
            follow every queue. A jump in an event's sequence number means events were missed, \
            and is reported.
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The queue to follow, or * for every queue.")
    var queue: String

    @Option(help: "Stop after this many events.")
    var count: Int?

    @Flag(help: "Print each event's JSON body instead of a readable line.")
    var json = false

    func run() throws {
        try connection.with(follows: true) { client in
            let subscription = try client.subscribeEvents(queue: queue)
            try client.flush()
            writeStderr("Following events of \(queue == "*" ? "every queue" : "queue \(queue)")\n")
            var lastSeq: [String: Int64] = [:]
            var received = 0
            while count.map({ received < $0 }) ?? true {
                let message = try subscription.next()
                received += 1
                if json {
                    writeStdout(message.payload + [10])
                    continue
                }
                guard let event = JobEvent(message) else {
                    writeStdout("\(message.subject): \(printable(message.payload))\n")
                    continue
                }
                if let last = lastSeq[event.queue], event.seq > last + 1 {
                    writeStdout("(\(event.seq - last - 1) events of \(event.queue) missed)\n")
                }
                lastSeq[event.queue] = event.seq
                writeStdout(Self.describe(event) + "\n")
            }
        }
    }

    /// `12:00:01.234 emails #42 started, attempt 1/3, waited 12 ms`.
    static func describe(_ event: JobEvent) -> String {
        var parts = ["\(timeOfDay(event.at)) \(event.queue) #\(event.id) \(event.event)"]
        if let group = event.group { parts[0] += " [group \(group)]" }
        switch event.event {
        case "enqueued", "retried":
            parts.append("now \(event.state)")
        case "started":
            parts.append("attempt \(event.attempt)/\(event.maxAttempts)")
            if let wait = event.waitMilliseconds { parts.append("waited \(wait) ms") }
        case "progress":
            var text = "\(event.progress ?? 0)%"
            if let note = event.note { text += " \(note)" }
            parts.append(text)
        case "completed":
            parts.append("attempt \(event.attempt)/\(event.maxAttempts)")
            if let run = event.runMilliseconds { parts.append("ran \(run) ms") }
            if let bytes = event.resultBytes { parts.append("result \(bytes) bytes") }
        case "failed", "stalled", "lost":
            parts.append("attempt \(event.attempt)/\(event.maxAttempts)")
            if event.next == "retry", let delay = event.retryInMilliseconds {
                parts.append("retry in \(delay) ms")
            } else if let next = event.next {
                parts.append("next: \(next)")
            }
            if let error = event.error, !error.isEmpty { parts.append("error: \(Self.oneLine(error))") }
        case "dead":
            if let error = event.error, !error.isEmpty { parts.append("error: \(Self.oneLine(error))") }
        case "blocked":
            parts.append("waits for " + (event.parents ?? []).map { "#\($0)" }.joined(separator: ", "))
        case "unblocked":
            parts.append("now \(event.state)")
        case "throttled":
            if let hold = event.retryInMilliseconds { parts.append("held \(hold) ms") }
            if let error = event.error, !error.isEmpty { parts.append("error: \(Self.oneLine(error))") }
        default:
            parts.append("state \(event.state)")
        }
        return parts.joined(separator: ", ")
    }

    static func oneLine(_ text: String) -> String {
        let flat = text.trimmingBlanks().split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " | ")
        return flat.count > 200 ? String(flat.prefix(200)) + "…" : flat
    }
}

// MARK: Jobs

/// The ENQ options `enq` and `route` share. `--at` and `--key` are `enq`'s own: a route makes
/// a new job of every message, so the server refuses a fixed time or key for it.
struct EnqueueFlags: ParsableArguments {
    @Option(help: "Run no sooner than this from now, such as 30s or 5m.")
    var delay: String?

    @Option(help: "The priority: lower runs first, from -1000000 to 1000000 (default 0).")
    var priority: Int?

    @Option(help: "The most times the job may run, from 1 to 1000 (default 3).")
    var attempts: Int?

    @Option(help: "The wait before each retry: fixed:<duration> or exp:<base>[:<cap>] (default exp:1s:1h).")
    var backoff: String?

    @Option(help: "Spread each backoff wait randomly, downwards, by up to this fraction from 0 to 1.")
    var jitter: Double?

    @Option(help: "How long a worker may hold the job without a heartbeat, such as 30s (default 30s).")
    var lease: String?

    @Option(help: "The group (tenant, customer) whose group_rate applies.")
    var group: String?

    @Option(help: "Not started within this long after it is enqueued, such as 10m, the job is not run: it becomes dead (expired).")
    var ttl: String?

    func options() throws -> JobOptions {
        JobOptions(
            delay: try delay.map { try parseDuration($0, "--delay") }, priority: priority, attempts: attempts,
            backoff: backoff.map { Backoff($0) }, jitter: jitter, lease: try lease.map { try parseDuration($0, "--lease") },
            group: group, ttl: try ttl.map { try parseDuration($0, "--ttl") })
    }
}

struct JobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Show a job: its state, attempts, progress, last error and result, as JSON.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The job id.")
    var id: String

    func run() throws {
        let id = try parseJobID(id)
        try connection.with { client in
            writeStdout(JSONFormat.pretty(try client.inspectRaw(id)) + "\n")
        }
    }
}

struct Parents: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the jobs a job was enqueued after (--after), with their outcomes.",
        discussion: """
            Prints one line per parent, in the order of --after: its id, queue and state, then \
            its result (completed) or last error. A parent deleted since shows as deleted. A \
            job without parents prints nothing (and says so on standard error). --json prints \
            the server's array.
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The job id.")
    var id: String

    @Flag(help: "Print the parents as JSON.")
    var json = false

    func run() throws {
        let id = try parseJobID(id)
        try connection.with { client in
            if json {
                writeStdout(JSONFormat.pretty(try client.parentsRaw(id)) + "\n")
                return
            }
            let parents = try client.parents(id)
            if parents.isEmpty { writeStderr("Job \(id) has no parents.\n") }
            for parent in parents { writeStdout(Self.line(parent) + "\n") }
        }
    }

    /// `41\tresize\tcompleted\tresult: small.png`.
    static func line(_ parent: ParentInfo) -> String {
        if parent.isDeleted { return "\(parent.id)\t-\tdeleted" }
        var fields = ["\(parent.id)", parent.queue ?? "-", parent.state]
        if let result = parent.result { fields.append("result: " + Events.oneLine(result)) }
        if let error = parent.error, !error.isEmpty { fields.append("error: " + Events.oneLine(error)) }
        return fields.joined(separator: "\t")
    }
}

struct WaitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until a job is completed or dead.",
        discussion: """
            Prints the result of a completed job and exits 0; prints the last error of a dead \
            job to standard error and exits 1; when --timeout passes first, says which state \
            the job is in and exits 2. A lost connection exits 3 (the job may still finish: wait \
            again), a refusal 4 (no such job).
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The job id.")
    var id: String

    @Option(help: "Give up after this long, such as 30s.")
    var timeout: String?

    func run() throws {
        let id = try parseJobID(id)
        let timeout = try timeout.map { try parseDuration($0, "--timeout") }
        let code = try connection.with { client in Self.report(try client.wait(id, timeout: timeout), id: id) }
        if code != 0 { throw ExitCode(code) }
    }

    static func report(_ outcome: WaitOutcome, id: UInt64) -> Int32 {
        switch outcome {
        case .completed(let result):
            writeStdout(result + (result.last == 10 || result.isEmpty ? [] : [10]))
            return 0
        case .dead(let error):
            writeStderr("docket: job \(id) is dead: \(printable(error))\n")
            return ExitStatus.dead
        case .pending(let state):
            writeStderr("docket: job \(id) is still \(state)\n")
            return ExitStatus.pending
        }
    }
}

struct Retry: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a dead job again, or every dead job of a queue.",
        discussion: "A retried job starts over with its attempts reset.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The id of the dead job to run again.")
    var id: String?

    @Option(help: "Run every dead job of this queue again instead.")
    var queue: String?

    @Flag(
        inversion: .prefixedNo,
        help: "With --queue, show how many dead jobs are being retried while the server works (default: when standard error is a terminal).")
    var progress: Bool?

    func validate() throws {
        if (id == nil) == (queue == nil) { throw ValidationError("Give either a job id or --queue, not both.") }
        if progress != nil, queue == nil { throw ValidationError("--progress goes with --queue.") }
    }

    func run() throws {
        if let queue {
            let showProgress = progress ?? ProgressBar.stderrIsTerminal
            try connection.with { client in
                // The server retries the whole queue in one commit: what can be shown is how
                // many, and that it is under way.
                var label = "retrying the dead jobs of \(queue)"
                if showProgress, let dead = try client.queue(queue)["jobs"]?["dead"]?.intValue {
                    label = "retrying \(grouped(dead)) dead job\(dead == 1 ? "" : "s") of \(queue)"
                }
                let bar = ProgressBar(label: label, total: nil, enabled: showProgress)
                let count = try bar.spinning { try client.retryQueue(queue) }
                writeStdout("\(count) dead job\(count == 1 ? "" : "s") of \(queue) will run again.\n")
            }
        } else if let id {
            let id = try parseJobID(id)
            try connection.with { client in
                try client.retry(id)
                writeStdout("Job \(id) will run again.\n")
            }
        }
    }
}

struct Dead: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a queue's dead jobs, oldest first.",
        discussion: "Prints one line per dead job: its id, attempts and last error; --json prints the documents.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The queue.")
    var queue: String

    @Option(help: "List at most this many (the server's default is 100).")
    var limit: Int?

    @Flag(help: "Print the job documents as JSON.")
    var json = false

    func run() throws {
        try connection.with { client in
            let jobs = try client.dead(queue, limit: limit)
            if json {
                writeStdout("[" + jobs.map { JSONFormat.compact($0.json) }.joined(separator: ",") + "]\n")
                return
            }
            if jobs.isEmpty { writeStderr("No dead jobs in \(queue).\n") }
            for job in jobs {
                writeStdout("\(job.id)\tattempts \(job.attempts)/\(job.maxAttempts)\t\(Events.oneLine(job.lastError ?? ""))\n")
            }
        }
    }
}

struct Del: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a job, in any state.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The job id.")
    var id: String

    func run() throws {
        let id = try parseJobID(id)
        try connection.with { client in
            try client.delete(id)
            writeStdout("Job \(id) deleted.\n")
        }
    }
}

// MARK: Queues and server

struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Show a queue's settings and state, or change its settings.",
        discussion: """
            Without options, prints the queue's document as JSON. Settings are persisted; each \
            option takes 'none' to return the setting to its default (or no limit). For example \
            'docket queue render --rate 100/1s --concurrency 4' allows at most 100 starts in any \
            second and 4 jobs at once. After a change the queue's document is printed.
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The queue.")
    var name: String

    @Option(help: "At most N jobs started in any window, written N/<duration>: 100/1s, 100/s, 5/250ms.")
    var rate: String?

    @Option(help: "The same limit, for each group of the queue separately.")
    var groupRate: String?

    @Option(help: "At most this many jobs of the queue active at once.")
    var concurrency: String?

    @Option(help: "The default most runs of jobs enqueued from now on.")
    var attempts: String?

    @Option(help: "The default backoff of jobs enqueued from now on: fixed:<duration> or exp:<base>[:<cap>].")
    var backoff: String?

    @Option(help: "The default jitter (0 to 1) of jobs enqueued from now on.")
    var jitter: String?

    @Option(help: "The default lease of jobs enqueued from now on, such as 30s.")
    var lease: String?

    @Option(help: "How many completed jobs to keep.")
    var keepCompleted: String?

    @Option(help: "How many dead jobs to keep.")
    var keepDead: String?

    @Flag(help: "Pause the queue: nothing of it starts, though jobs can still be enqueued.")
    var pause = false

    @Flag(help: "Resume a paused queue.")
    var resume = false

    var settings: [QueueSetting] {
        let pairs: [(String, String?)] = [
            ("rate", rate), ("group_rate", groupRate), ("concurrency", concurrency), ("attempts", attempts),
            ("backoff", backoff), ("jitter", jitter), ("lease", lease), ("keep_completed", keepCompleted),
            ("keep_dead", keepDead),
        ]
        return pairs.compactMap { name, value in value.map { QueueSetting(name, $0) } }
    }

    func validate() throws {
        if pause && resume { throw ValidationError("Give --pause or --resume, not both.") }
    }

    func run() throws {
        try connection.with { client in
            if !settings.isEmpty { try client.setQueue(name, settings) }
            if pause { try client.pause(name) }
            if resume { try client.resume(name) }
            writeStdout(JSONFormat.pretty(try client.queueRaw(name)) + "\n")
        }
    }
}

struct Queues: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every queue with its job counts.",
        discussion: "Prints a table of queues and how many jobs each has in each state; --json prints the documents.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Flag(help: "Print the queue documents as JSON.")
    var json = false

    func run() throws {
        try connection.with { client in
            let queues = try client.queues()
            if json {
                writeStdout("[" + queues.map { JSONFormat.compact($0.json) }.joined(separator: ",") + "]\n")
                return
            }
            let header = ["QUEUE", "WAITING", "DELAYED", "BLOCKED", "ACTIVE", "COMPLETED", "DEAD", "PAUSED"]
            var rows = [header]
            for queue in queues {
                let jobs = queue["jobs"]
                func count(_ state: String) -> String { jobs?[state]?.intValue.map { String($0) } ?? "0" }
                rows.append([
                    queue["queue"]?.stringValue ?? "?", count("waiting"), count("delayed"), count("blocked"), count("active"), count("completed"),
                    count("dead"), queue["paused"]?.boolValue == true ? "yes" : "no",
                ])
            }
            let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                let cells = row.enumerated().map { index, cell in
                    index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
                }
                writeStdout(cells.joined(separator: "  ") + "\n")
            }
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the server's counters as JSON.",
        discussion: "Connections, messages and bytes in and out, jobs, queues, commits and store use.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    func run() throws {
        try connection.with { client in
            writeStdout(JSONFormat.pretty(try client.statsRaw()) + "\n")
        }
    }
}

// MARK: Routes

struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Turn every message published on matching subjects into a job, and print the route's id.",
        discussion: "The message payload becomes the job payload; the job options given here apply to every job.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The subject pattern, wildcards allowed, such as orders.*.")
    var pattern: String

    @Argument(help: "The queue the jobs go to.")
    var queue: String

    @OptionGroup var flags: EnqueueFlags

    func run() throws {
        let options = try flags.options()
        try connection.with { client in
            writeStdout("\(try client.route(pattern, to: queue, options: options))\n")
        }
    }
}

struct Unroute: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a route.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The route id.")
    var id: String

    func run() throws {
        let id = try parseJobID(id)
        try connection.with { client in
            try client.unroute(id)
            writeStdout("Route \(id) removed.\n")
        }
    }
}

struct Routes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the routes as JSON.")

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    func run() throws {
        try connection.with { client in
            writeStdout("[" + (try client.routes()).map { JSONFormat.compact($0.json) }.joined(separator: ",\n ") + "]\n")
        }
    }
}
