import ArgumentParser
import DocketClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The write end of the pipe `docket top`'s signal handler writes to.
nonisolated(unsafe) private var topSignalFD: Int32 = -1

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live view of the queues: jobs per state, rates, workers, and what holds them.",
        discussion: """
            Reads STATS and QUEUES (or QUEUE, for the queues given with --queue) every \
            --interval, and shows per queue the jobs WAITING, DELAYED and ACTIVE (each held by \
            a busy worker); the IDLE workers waiting for a job; the DEAD and DONE (completed) \
            jobs kept; the attempts started (START/s), the jobs completed (DONE/s) and the \
            attempts failed (FAIL/s) per second; and what holds the queue (STATUS): paused, \
            throttled (and for how long more), rate-limited or at its concurrency cap.

            The first screen's rates are the server's, over the last minute; each later one's \
            are counted since the screen before. On a terminal the view is redrawn in place \
            until q, Ctrl-C or --count screens; otherwise each screen is printed as plain text, \
            one (or --count) in all.
            """)

    @OptionGroup(title: "Connection options") var connection: ServerOptions

    @Option(
        name: .customLong("queue"),
        help: ArgumentHelp("Show only this queue; repeat it, or separate names with commas.", valueName: "queue"))
    var queueNames: [String] = []

    @Option(help: "How many screens to show (default: 1 when standard output is not a terminal; else until q or Ctrl-C).")
    var count: Int?

    @Option(help: "How often the view is refreshed.")
    var interval = "1s"

    var names: [String] { queueNames.flatMap { $0.split(separator: ",").map(String.init) } }

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1.") }
        guard let milliseconds = DocketDuration(interval).milliseconds, milliseconds >= 100 else {
            throw ValidationError("--interval must be a duration of at least 100ms, such as 1s.")
        }
        for name in names where !isQueueName(name) {
            throw ValidationError("\"\(name)\" is not a queue name: 1 to 128 letters, digits, _ or -.")
        }
    }

    func run() throws {
        let period = DocketDuration(interval).milliseconds!
        let live = isatty(1) != 0 && environment("TERM") != "dumb"
        let screens = count ?? (live ? nil : 1)
        let names = self.names
        let address = connection.address
        try connection.with(requestTimeout: .seconds(5), follows: true) { client in
            if !live {
                var previous: TopSnapshot? = nil
                for index in 0..<(screens ?? 1) {
                    if index > 0 {
                        sleepMilliseconds(period)
                        writeStdout("\n")
                    }
                    let snapshot = try TopSnapshot.take(client, queues: names)
                    writeStdout(snapshot.render(since: previous, address: address).joined(separator: "\n") + "\n")
                    previous = snapshot
                }
                return
            }
            try TopScreen(client: client, queues: names, address: address, period: period, screens: screens).run()
        }
    }
}

/// What one refresh read: the server's counters and the queues' documents.
struct TopSnapshot {
    /// When it was read, on the monotonic clock.
    var at: Int64
    /// Unix milliseconds when it was read.
    var wallClock: Int64
    var stats: JSONValue
    var queues: [JSONValue]

    static func take(_ client: DocketConnection, queues names: [String]) throws -> TopSnapshot {
        // Only the members shown are kept, read by name (the documents' one common interface,
        // whether the client returns them as JSON values or typed).
        let statsDocument = try client.stats()
        let stats = JSONValue.object(Dictionary(uniqueKeysWithValues: statsMembers.map { ($0, statsDocument[$0] ?? .null) }))
        var queues: [JSONValue] = []
        if names.isEmpty {
            for document in try client.queues() {
                queues.append(.object(Dictionary(uniqueKeysWithValues: queueMembers.map { ($0, document[$0] ?? .null) })))
            }
        } else {
            for name in names {
                let document = try client.queue(name)
                queues.append(.object(Dictionary(uniqueKeysWithValues: queueMembers.map { ($0, document[$0] ?? .null) })))
            }
        }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return TopSnapshot(
            at: monotonicMilliseconds(), wallClock: Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000, stats: stats,
            queues: queues)
    }

    static let statsMembers = ["docket_version", "uptime_ms", "connections", "jobs", "queues", "store_used_bytes", "store_capacity_bytes"]
    static let queueMembers = ["queue", "paused", "config", "jobs", "totals", "rates", "waiting_workers", "blocked_by", "held_until"]

    static let columns = ["QUEUE", "WAITING", "DELAYED", "ACTIVE", "IDLE", "DEAD", "DONE", "START/s", "DONE/s", "FAIL/s", "STATUS"]

    /// The screen's lines: a header from STATS, then one row per queue. Rates are counted
    /// since `previous`, or are the server's (last minute) without it.
    func render(since previous: TopSnapshot?, address: String, width: Int? = nil) -> [String] {
        func number(_ value: JSONValue?) -> Int { value?.intValue ?? 0 }
        var lines: [String] = []
        let version = stats["docket_version"]?.stringValue ?? "?"
        let uptime = formatSeconds(Double(number(stats["uptime_ms"])) / 1000)
        lines.append("docket top  \(address)  docketd \(version)  up \(uptime)  \(timeOfDay(wallClock).prefix(8))")
        var second = "connections \(grouped(number(stats["connections"])))  jobs \(grouped(number(stats["jobs"])))"
        second += "  queues \(grouped(number(stats["queues"])))"
        let used = number(stats["store_used_bytes"])
        let capacity = number(stats["store_capacity_bytes"])
        second += "  store \(bytes(used))"
        if capacity > 0 { second += " of \(bytes(capacity)) (\(used * 100 / capacity)%)" }
        lines.append(second)
        let elapsed = previous.map { Double(at - $0.at) / 1000 } ?? 0
        lines.append(previous == nil || elapsed <= 0 ? "rates: per second over the last minute" : "rates: per second over the last \(formatSeconds(elapsed))")
        lines.append("")

        let before: [String: JSONValue] = Dictionary(
            (previous?.queues ?? []).compactMap { queue in queue["queue"]?.stringValue.map { ($0, queue) } },
            uniquingKeysWith: { first, _ in first })
        var rows = [Self.columns]
        for queue in queues {
            let name = queue["queue"]?.stringValue ?? "?"
            let jobs = queue["jobs"]
            func rate(_ total: String, _ serverRate: String) -> String {
                if let old = before[name], elapsed > 0 {
                    let delta = number(queue["totals"]?[total]) - number(old["totals"]?[total])
                    return formatRate(Double(max(0, delta)) / elapsed)
                }
                return formatRate(queue["rates"]?[serverRate]?.numberValue ?? 0)
            }
            rows.append([
                name, grouped(number(jobs?["waiting"])), grouped(number(jobs?["delayed"])), grouped(number(jobs?["active"])),
                grouped(number(queue["waiting_workers"])), grouped(number(jobs?["dead"])), grouped(number(jobs?["completed"])),
                rate("started", "started_per_s"), rate("completed", "completed_per_s"), rate("failed", "failed_per_s"),
                status(queue),
            ])
        }
        let widths = (0..<Self.columns.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { index, cell -> String in
                if index == row.count - 1 { return cell }
                // Names to the left, numbers to the right.
                return index == 0 ? cell.rightPadded(to: widths[index]) : cell.leftPadded(to: widths[index])
            }
            var line = cells.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            lines.append(line)
        }
        if queues.isEmpty { lines.append("(no queues yet: a queue exists once a job is enqueued on it, a setting is given to it or a worker waits on it)") }
        if let width { lines = lines.map { $0.count > width ? String($0.prefix(width)) : $0 } }
        return lines
    }

    /// What holds the queue, if anything.
    func status(_ queue: JSONValue) -> String {
        var marks: [String] = []
        if queue["paused"]?.boolValue == true { marks.append("paused") }
        switch queue["blocked_by"]?.stringValue {
        case "throttle":
            if let until = queue["held_until"]?.numberValue {
                marks.append("throttled \(formatSeconds(max(0, (until - Double(wallClock)) / 1000))) more")
            } else {
                marks.append("throttled")
            }
        case "rate":
            marks.append("rate-limited (\(Self.rateText(queue["config"]?["rate"]?.stringValue)))")
        case "concurrency":
            marks.append("at concurrency \(queue["config"]?["concurrency"]?.intValue.map { String($0) } ?? "cap")")
        case "paused", nil:
            break
        case let other?:
            marks.append(other)
        }
        return marks.joined(separator: ", ")
    }

    /// `100/1000ms` as `100/1s`.
    static func rateText(_ rate: String?) -> String {
        guard let rate, let slash = rate.firstIndex(of: "/") else { return rate ?? "?" }
        let window = rate[rate.index(after: slash)...]
        if window.hasSuffix("ms"), let milliseconds = Int(window.dropLast(2)), milliseconds % 1000 == 0 {
            return "\(rate[..<slash])/\(milliseconds / 1000)s"
        }
        return rate
    }
}

/// 0, 0.02, 0.5, 12, 1,234.
func formatRate(_ value: Double) -> String {
    if value <= 0 { return "0" }
    if value < 1 {
        let hundredths = Int((value * 100).rounded())
        if hundredths == 0 { return "<0.01" }
        return hundredths < 10 ? "0.0\(hundredths)" : hundredths % 10 == 0 ? "0.\(hundredths / 10)" : "0.\(hundredths)"
    }
    if value < 10 {
        let tenths = Int((value * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }
    return grouped(Int(value.rounded()))
}

/// 512 B, 20 KiB, 1.5 GiB.
func bytes(_ count: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(count) B" }
    return value < 10 ? "\(Double(Int(value * 10)) / 10) \(units[unit])" : "\(Int(value)) \(units[unit])"
}

func sleepMilliseconds(_ milliseconds: Int) {
    var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var left = timespec()
    while nanosleep(&request, &left) != 0 && errno == EINTR { request = left }
}

/// The view on a terminal: the alternate screen, redrawn in place; q or a signal ends it, and
/// the terminal is left as it was found.
struct TopScreen {
    let client: DocketConnection
    let queues: [String]
    let address: String
    let period: Int
    let screens: Int?

    func run() throws {
        let events = Self.installSignalHandlers()
        var saved = termios()
        let keyboard = isatty(0) != 0 && tcgetattr(0, &saved) == 0
        if keyboard {
            // Keys arrive one by one, unechoed; Ctrl-C still signals.
            var raw = saved
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
            _ = tcsetattr(0, TCSANOW, &raw)
        }
        writeStdout("\u{1B}[?1049h\u{1B}[?25l")
        defer {
            writeStdout("\u{1B}[?25h\u{1B}[?1049l")
            if keyboard { _ = tcsetattr(0, TCSANOW, &saved) }
        }
        var previous: TopSnapshot? = nil
        var latest: TopSnapshot? = nil
        var problem: String? = nil
        var shown = 0
        while true {
            do {
                let snapshot = try TopSnapshot.take(client, queues: queues)
                previous = latest
                latest = snapshot
                problem = nil
            } catch let error as DocketError {
                // Shown on the screen; the connection reconnects on its own meanwhile.
                problem = "\(error)"
                if case .server = error { throw error }
            }
            draw(latest, previous, problem)
            shown += 1
            if let screens, shown >= screens { return }
            // Wait for the next refresh, a key, or a signal.
            let due = monotonicMilliseconds() + Int64(period)
            while true {
                let left = due - monotonicMilliseconds()
                if left <= 0 { break }
                var pollers = [pollfd(fd: events, events: Int16(POLLIN), revents: 0)]
                if keyboard { pollers.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
                guard poll(&pollers, nfds_t(pollers.count), Int32(left)) > 0 else { continue }
                if pollers[0].revents != 0 {
                    var signal: UInt8 = 0
                    if read(events, &signal, 1) == 1, Int32(signal) == SIGWINCH {
                        draw(latest, previous, problem)
                        continue
                    }
                    return
                }
                if keyboard, pollers[1].revents != 0 {
                    var key: UInt8 = 0
                    let count = read(0, &key, 1)
                    if count <= 0 || key == UInt8(ascii: "q") || key == UInt8(ascii: "Q") { return }
                }
            }
        }
    }

    private func draw(_ snapshot: TopSnapshot?, _ previous: TopSnapshot?, _ problem: String?) {
        var size = winsize()
        let rows = ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_row > 0 ? Int(size.ws_row) : 24
        let width = terminalColumns()
        var lines = snapshot?.render(since: previous, address: address, width: width) ?? ["docket top  \(address)", ""]
        if let problem { lines.insert(String("docket: \(problem) (retrying)".prefix(width)), at: min(2, lines.count)) }
        lines[0] = String((lines[0] + "  (q quits)").prefix(width))
        if lines.count > rows - 1 {
            let hidden = lines.count - (rows - 2)
            lines = Array(lines.prefix(rows - 2)) + ["… \(hidden) more line\(hidden == 1 ? "" : "s"): a taller window, or --queue"]
        }
        writeStdout("\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\n") + "\u{1B}[J")
    }

    /// SIGINT, SIGTERM and SIGWINCH write their number to a pipe; returns its read end.
    static func installSignalHandlers() -> Int32 {
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        topSignalFD = fds[1]
        for signalNumber in [SIGINT, SIGTERM, SIGWINCH] {
            var action = sigaction()
            #if canImport(Darwin)
            action.__sigaction_u.__sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(topSignalFD, &byte, 1)
            }
            #else
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(topSignalFD, &byte, 1)
            }
            #endif
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(signalNumber, &action, nil)
        }
        return fds[0]
    }
}
