import ArgumentParser
import DocketClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

struct Enq: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enqueue a job and print its id; or one job per line of a file (--from).",
        usage: """
            docket enq <queue> <payload> [<options>]
            docket enq <queue> <payload> --wait [--timeout <timeout>] [<options>]
            docket enq <queue> --from <file> [--raw] [--ids] [<options>]
            """,
        discussion: """
            Prints the new job's id, or '<id> duplicate' when --key names a job the queue still \
            knows (then nothing is created). The job is on disk when the id is printed. With \
            --replace, a duplicate of a job still waiting or delayed gives it this payload and run \
            time instead, and '<id> replaced' is printed (debounce: --key user-7 --delay 5s \
            --replace on every event runs the job once, 5 s after the last one).

            With --after 12,13 the job is blocked until jobs 12 and 13 have completed, then runs \
            as it would have; if one of them dies (or is deleted) first, the job dies too, unless \
            --on-parent-dead run. 'docket parents <id>' shows what its parents gave.

            With --wait, the id goes to standard error, and standard output gets only the \
            job's result once it is completed, so that 'docket enq q "$x" --wait | jq .' \
            composes. A dead job prints its error on standard error and exits 1; --timeout \
            passing first exits 2.

            --from enqueues one job per line of a file (- reads standard input), pipelined: \
            many ENQs in flight at once, not one round trip each. A line is the payload as it \
            is, unless it is a JSON object with a "payload" member: that is a job, with any of \
            the members delay, at, priority, attempts, backoff, jitter, lease, key and group \
            written as the options here ({"payload": {"to": "ann"}, "key": "welcome-ann", \
            "delay": "30s"}). A string payload is enqueued as its text, any other JSON value as \
            its JSON text. --raw takes every line as it is. Blank lines are skipped and a CR \
            before the LF is dropped. The options given here apply to every job, and a line's \
            own members override them. A line that is not a valid job, or that the server \
            refuses, is reported with its number on standard error and the others go on. A \
            progress bar shows on standard error when it is a terminal, and a summary at the \
            end. Exit status: 0 every job enqueued (duplicates included); 4 some lines refused; \
            3 the connection was lost (the lines it names have an unknown outcome: only jobs \
            with keys are safe to enqueue again).
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Argument(help: "The queue: 1 to 128 letters, digits, _ or -.")
    var queue: String

    @Argument(help: "The job payload; - reads it from standard input.")
    var payload: String?

    @OptionGroup var flags: EnqueueFlags

    @Option(help: "Run no sooner than this time, in unix seconds.")
    var at: Int64?

    @Option(help: "An idempotency key: a second job with the same key is not created while the first is known.")
    var key: String?

    @Option(
        help: ArgumentHelp(
            "With --key: remember the key at least this long after the ENQ, even once the job is removed (a deduplication window).",
            valueName: "duration"))
    var keyTTL: String?

    @Flag(help: "With --key: a duplicate of a job still waiting or delayed replaces its payload and run time.")
    var replace = false

    @Option(help: "Not started by this time, in unix milliseconds, the job is not run (not with --ttl).")
    var expires: Int64?

    @Option(
        help: ArgumentHelp(
            "Start only once these jobs have completed: job ids, comma-separated (--after 12,13). Until then the job is blocked.",
            valueName: "ids"))
    var after: String?

    @Option(
        help: ArgumentHelp(
            "With --after, what a parent's death (or deletion) does: fail (the job dies too, the default) or run (it counts as done).",
            valueName: "fail|run"))
    var onParentDead: ParentDeathPolicy?

    @Flag(help: "Wait until the job is completed or dead, and print only its result (the id goes to standard error).")
    var wait = false

    @Option(help: "With --wait, give up after this long (exit status 2).")
    var timeout: String?

    @Option(help: ArgumentHelp("Enqueue one job per line of this file; - reads standard input.", valueName: "file"))
    var from: String?

    @Flag(help: "With --from, take every line as a payload as it is, JSON objects with a payload member too.")
    var raw = false

    @Flag(help: "With --from, print '<line> <id>' (or '<line> <id> duplicate') for each job enqueued.")
    var ids = false

    @Flag(
        inversion: .prefixedNo,
        help: "With --from, show a progress bar on standard error (default: when standard error is a terminal).")
    var progress: Bool?

    func validate() throws {
        if let from {
            if payload != nil { throw ValidationError("Give a payload or --from, not both.") }
            if keyTTL != nil || replace { throw ValidationError("--key-ttl and --replace go with --key, which does not go with --from.") }
            if key != nil {
                throw ValidationError(#"--key names one job: with --from, give each line its own ({"payload": …, "key": "…"})."#)
            }
            if wait { throw ValidationError("--wait waits for one job: it does not go with --from.") }
            if from != "-" {
                var info = stat()
                if access(from, R_OK) != 0 || stat(from, &info) != 0 {
                    throw ValidationError("--from \(from): \(String(cString: strerror(errno))).")
                }
                if (info.st_mode & S_IFMT) == S_IFDIR { throw ValidationError("--from \(from): a directory, not a file of jobs.") }
            }
            // Checked once here rather than refused on every line.
            if !isQueueName(queue) { throw ValidationError("\"\(queue)\" is not a queue name: 1 to 128 letters, digits, _ or -.") }
        } else {
            if payload == nil { throw ValidationError("Give the payload (- reads it from standard input), or --from <file>.") }
            if raw || ids || progress != nil { throw ValidationError("--raw, --ids and --progress go with --from.") }
        }
        if timeout != nil, !wait { throw ValidationError("--timeout goes with --wait.") }
        _ = try parents()
        if key == nil, from == nil, keyTTL != nil || replace { throw ValidationError("--key-ttl and --replace go with --key.") }
        if let keyTTL { _ = try parseDuration(keyTTL, "--key-ttl") }
        if onParentDead != nil, after == nil { throw ValidationError("--on-parent-dead goes with --after: the jobs whose death it is about.") }
    }

    /// `--after 12,13` as parents: job ids, each once.
    func parents() throws -> [JobParent]? {
        guard let after else { return nil }
        let items = after.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingBlanks() }
        var ids: [UInt64] = []
        for item in items {
            guard let id = UInt64(item), id > 0 else {
                throw ValidationError("--after \(after): \"\(item)\" is not a job id (give job ids, comma-separated: --after 12,13).")
            }
            guard !ids.contains(id) else { throw ValidationError("--after \(after): job \(id) is named twice.") }
            ids.append(id)
        }
        guard ids.count <= 100 else { throw ValidationError("--after names at most 100 jobs, not \(ids.count).") }
        return ids.map(JobParent.job)
    }

    func run() throws {
        var options = try flags.options()
        options.at = at
        options.key = key
        options.expires = expires
        options.after = try parents()
        options.onParentDead = onParentDead
        options.keyTTL = try keyTTL.map { try parseDuration($0, "--key-ttl") }
        options.replace = replace
        if let from {
            let code = try BulkEnqueue(
                queue: queue, defaults: options, path: from, raw: raw, printIDs: ids,
                progress: progress ?? ProgressBar.stderrIsTerminal
            ).run(connection)
            if code != 0 { throw ExitCode(code) }
            return
        }
        let bytes = payloadBytes(payload!)
        let waitTimeout = try timeout.map { try parseDuration($0, "--timeout") }
        let code = try connection.with { client -> Int32 in
            let result = try client.enqueue(queue, bytes, options: options)
            let line = result.duplicate ? "\(result.id) duplicate\n" : result.replaced ? "\(result.id) replaced\n" : "\(result.id)\n"
            guard wait else {
                writeStdout(line)
                return 0
            }
            // Standard output is the result alone, for pipelines; the id is still told.
            writeStderr(line)
            return WaitCommand.report(try client.wait(result.id, timeout: waitTimeout), id: result.id)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
