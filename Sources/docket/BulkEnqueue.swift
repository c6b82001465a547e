import ArgumentParser
import DocketClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `docket enq <queue> --from <file>`: one job per line, sent in pipelined batches.
struct BulkEnqueue {
    let queue: String
    let defaults: JobOptions
    let path: String
    let raw: Bool
    let printIDs: Bool
    let progress: Bool

    /// ENQs in flight at once: one round trip per batch, not per job.
    static let batchSize = 1000
    /// Refused lines reported one by one; the summary counts them all.
    static let reportedLines = 100

    /// What happened to the lines so far.
    struct Tally {
        var enqueued = 0
        var duplicates = 0
        var refused = 0
        /// Jobs sent whose outcome the lost connection hides: how many, and their lines.
        var unknown = 0
        var unknownLines: ClosedRange<Int>?
        /// Why the run stopped before the end of the input (nil: it did not).
        var stoppedAt: (line: Int, error: DocketError)?
    }

    /// Enqueues every line; returns the exit status.
    func run(_ connection: ServerOptions) throws -> Int32 {
        let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValidationError("--from \(path): \(String(cString: strerror(errno))).") }
        defer { if fd != 0 { close(fd) } }
        // A regular file (also as standard input) has a size, and the bar a 100%.
        var info = stat()
        var total: Int64? = nil
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
            let offset = Int64(lseek(fd, 0, SEEK_CUR))
            total = max(0, Int64(info.st_size) - max(0, offset))
        }
        let source = path == "-" ? "standard input" : path
        let bar = ProgressBar(label: "enq \(queue)", total: total, enabled: progress)
        let startedAt = monotonicMilliseconds()
        var reader = LineReader(fd: fd)
        var tally = Tally()

        let readError: String? = try connection.with(reconnect: false) { client -> String? in
            // Each line read, in order: a job to send, or why it is not one.
            var batch: [(line: Int, job: Result<DocketConnection.JobRequest, JobLine.Invalid>)] = []
            batch.reserveCapacity(Self.batchSize)
            var jobs = 0
            while true {
                let next: LineReader.Line?
                do throws(LineReader.ReadError) {
                    next = try reader.next()
                } catch {
                    return error.description
                }
                if let line = next {
                    if line.tooLong {
                        batch.append((line.number, .failure(JobLine.Invalid("longer than \(LineReader.maxLine >> 20) MiB"))))
                    } else if !line.bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                        let job = JobLine.parse(line.bytes, defaults: defaults, raw: raw).map {
                            DocketConnection.JobRequest(queue: queue, payload: $0.payload, options: $0.options)
                        }
                        if case .success = job { jobs += 1 }
                        batch.append((line.number, job))
                    }
                }
                if jobs == Self.batchSize || (next == nil && !batch.isEmpty) {
                    send(client, batch, &tally, bar)
                    batch.removeAll(keepingCapacity: true)
                    jobs = 0
                    if tally.stoppedAt != nil { return nil }
                }
                bar.update(done: reader.consumed, count: tally.enqueued)
                if next == nil { return nil }
            }
        }
        bar.update(done: reader.consumed, count: tally.enqueued, force: true)
        bar.clear()
        summarize(tally, source: source, elapsed: monotonicMilliseconds() - startedAt)
        if let readError {
            writeStderr("docket: reading \(source): \(readError); the lines after line \(reader.number - 1) were not read\n")
            return ExitCode.validationFailure.rawValue
        }
        if tally.unknown > 0 { return ExitStatus.unreachable }
        return tally.refused > 0 ? ExitStatus.refused : 0
    }

    /// Sends the jobs of one batch, and reports every line's outcome in order.
    private func send(
        _ client: DocketConnection, _ batch: [(line: Int, job: Result<DocketConnection.JobRequest, JobLine.Invalid>)],
        _ tally: inout Tally, _ bar: ProgressBar
    ) {
        var results = client.enqueueEach(batch.compactMap { try? $0.job.get() })[...]
        var output = ""
        for (line, job) in batch {
            if case .failure(let invalid) = job {
                refuse(line, invalid.description, &tally, bar)
                continue
            }
            switch results.popFirst()! {
            case .success(let enqueued):
                tally.enqueued += 1
                if enqueued.duplicate { tally.duplicates += 1 }
                if printIDs { output += enqueued.duplicate ? "\(line) \(enqueued.id) duplicate\n" : "\(line) \(enqueued.id)\n" }
            case .failure(let error) where Self.isConnectionFailure(error):
                tally.unknown += 1
                tally.unknownLines = (tally.unknownLines?.lowerBound ?? line)...line
                if tally.stoppedAt == nil { tally.stoppedAt = (line, error) }
            case .failure(let error):
                refuse(line, error.description, &tally, bar)
                // Refusals that every later line would get too end the run.
                if tally.stoppedAt == nil, Self.refusesEverything(error) { tally.stoppedAt = (line, error) }
            }
        }
        if !output.isEmpty {
            bar.clear()
            writeStdout(output)
        }
    }

    private func refuse(_ line: Int, _ why: String, _ tally: inout Tally, _ bar: ProgressBar) {
        tally.refused += 1
        guard tally.refused <= Self.reportedLines else { return }
        bar.clear()
        writeStderr("docket: line \(line): \(why)\n")
        if tally.refused == Self.reportedLines { writeStderr("docket: (further refused lines are counted, not shown)\n") }
    }

    private func summarize(_ tally: Tally, source: String, elapsed: Int64) {
        let seconds = Double(max(elapsed, 1)) / 1000
        var text = "docket: \(grouped(tally.enqueued)) job\(tally.enqueued == 1 ? "" : "s") enqueued on \(queue) from \(source)"
        if tally.duplicates > 0 { text += " (\(grouped(tally.duplicates)) duplicate\(tally.duplicates == 1 ? "" : "s"): known keys, nothing created)" }
        text += " in \(formatSeconds(seconds))"
        if tally.enqueued > 0, seconds >= 0.2 { text += ", \(grouped(Int(Double(tally.enqueued) / seconds))) jobs/s" }
        if tally.refused > 0 { text += "; \(grouped(tally.refused)) line\(tally.refused == 1 ? "" : "s") refused" }
        writeStderr(text + "\n")
        if let range = tally.unknownLines, let stop = tally.stoppedAt {
            let lines = range.lowerBound == range.upperBound ? "line \(range.lowerBound)" : "lines \(range.lowerBound) to \(range.upperBound)"
            writeStderr(
                "docket: \(stop.error): the outcome of \(grouped(tally.unknown)) job\(tally.unknown == 1 ? "" : "s") (\(lines)) is unknown, "
                    + "and the lines after them were not sent; enqueue them again safely only if they have keys\n")
        } else if let stop = tally.stoppedAt {
            writeStderr("docket: stopped at line \(stop.line): \(stop.error); the lines after it were not sent\n")
        }
    }

    /// The connection failed: what the server did with the job is unknown.
    static func isConnectionFailure(_ error: DocketError) -> Bool {
        switch error {
        case .connectFailed, .connectionLost, .connectionClosed, .timeout, .protocolViolation, .tlsConfiguration, .tlsNotOffered,
            .tlsFailed:
            return true
        default:
            return false
        }
    }

    /// A refusal about the queue or the server, not the line.
    static func refusesEverything(_ error: DocketError) -> Bool {
        if case .notAuthorized = error { return true }
        return [ServerErrorCode("STORE_FULL"), ServerErrorCode("FORBIDDEN"), ServerErrorCode("BAD_QUEUE")].contains(error.code)
    }
}

/// Reads lines from a file descriptor, without their LF (or CR LF), numbered from 1.
struct LineReader {
    struct Line {
        var number: Int
        var bytes: ArraySlice<UInt8>
        /// Longer than `maxLine`: its bytes were dropped.
        var tooLong: Bool
    }

    /// The longest line kept (a payload is at most the server's max_payload, 64 MiB at most).
    static let maxLine = 64 << 20

    let fd: Int32
    private var buffer: [UInt8] = []
    private var chunk: [UInt8] = []
    private var start = 0
    /// Where the search for the next LF resumes.
    private var scanned = 0
    private var atEnd = false
    private var skipping = false
    /// The number the next line gets.
    private(set) var number = 1
    /// Bytes of the lines returned so far, line ends included.
    private(set) var consumed: Int64 = 0

    init(fd: Int32) { self.fd = fd }

    struct ReadError: Error, CustomStringConvertible {
        let description: String
    }

    mutating func next() throws(ReadError) -> Line? {
        while true {
            if let newline = buffer[scanned...].firstIndex(of: 10) {
                let line = finish(upTo: newline, length: newline - start + 1)
                start = newline + 1
                scanned = start
                return line
            }
            scanned = buffer.count
            if atEnd {
                guard start < buffer.count || skipping else { return nil }
                let line = finish(upTo: buffer.count, length: buffer.count - start)
                start = buffer.count
                skipping = false
                return line
            }
            if buffer.count - start > Self.maxLine {
                // Too long: keep reading to its end, dropping what comes.
                skipping = true
                consumed += Int64(buffer.count - start)
                buffer.removeAll(keepingCapacity: true)
                start = 0
                scanned = 0
            } else if start > 0 {
                buffer.removeFirst(start)
                scanned -= start
                start = 0
            }
            try fill()
        }
    }

    /// The line from `start` to `end` (the LF, or the end of input); `length` counts its end.
    private mutating func finish(upTo end: Int, length: Int) -> Line {
        consumed += Int64(length)
        defer { number += 1 }
        if skipping {
            skipping = false
            return Line(number: number, bytes: [], tooLong: true)
        }
        var last = end
        if last > start, buffer[last - 1] == 13 { last -= 1 }
        return Line(number: number, bytes: buffer[start..<last], tooLong: false)
    }

    private mutating func fill() throws(ReadError) {
        if chunk.isEmpty { chunk = [UInt8](repeating: 0, count: 1 << 20) }
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw ReadError(description: String(cString: strerror(errno))) }
            if count == 0 { atEnd = true }
            buffer.append(contentsOf: chunk[..<count])
            return
        }
    }
}

/// One line of a `--from` file as a job: the payload as it is, or a JSON job object.
struct JobLine {
    var payload: [UInt8]
    var options: JobOptions

    /// The members a job object may have.
    static let members = ["payload", "delay", "at", "priority", "attempts", "backoff", "jitter", "lease", "key", "group"]

    struct Invalid: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The job a line stands for; `defaults` are the command line's options.
    static func parse(_ line: ArraySlice<UInt8>, defaults: JobOptions, raw: Bool) -> Result<JobLine, Invalid> {
        guard !raw, let object = jobObject(line) else { return .success(JobLine(payload: Array(line), options: defaults)) }
        var options = defaults
        let bytes = Array(line)
        for (name, value) in object where !members.contains(name) {
            _ = value
            return .failure(Invalid("unknown member \"\(name)\": a job object has \(members.joined(separator: ", "))"))
        }
        let payload: [UInt8]
        switch object["payload"]! {
        case .string(let text): payload = Array(text.utf8)
        case .null: payload = []
        default:
            guard let text = memberText(bytes, "payload") else { return .failure(Invalid("the payload cannot be read")) }
            payload = Array(text)
        }
        func present(_ name: String) -> JSONValue? {
            guard let value = object[name], value != .null else { return nil }
            return value
        }
        func duration(_ name: String) throws(Invalid) -> DocketDuration? {
            switch present(name) {
            case nil: return nil
            case .string(let text)? where DocketDuration(text).milliseconds != nil: return DocketDuration(text)
            case .number(let seconds)? where seconds >= 0: return .seconds(seconds)
            default: throw Invalid("\(name) must be a duration such as \"30s\", or a number of seconds")
            }
        }
        func integer(_ name: String) throws(Invalid) -> Int? {
            guard let value = present(name) else { return nil }
            guard let number = value.numberValue, number == number.rounded(), abs(number) < 1e15 else {
                throw Invalid("\(name) must be a whole number")
            }
            return Int(number)
        }
        func text(_ name: String) throws(Invalid) -> String? {
            guard let value = present(name) else { return nil }
            guard let text = value.stringValue else { throw Invalid("\(name) must be a string") }
            return text
        }
        do throws(Invalid) {
            let delay = try duration("delay")
            let at = try integer("at")
            if delay != nil || at != nil {
                // The line's own time replaces the command line's, whichever way it is written.
                options.delay = delay
                options.at = at.map(Int64.init)
            }
            if let priority = try integer("priority") { options.priority = priority }
            if let attempts = try integer("attempts") { options.attempts = attempts }
            if let backoff = try text("backoff") { options.backoff = Backoff(backoff) }
            if let value = present("jitter") {
                guard let jitter = value.numberValue else { throw Invalid("jitter must be a number from 0 to 1") }
                options.jitter = jitter
            }
            if let lease = try duration("lease") { options.lease = lease }
            if let key = try text("key") { options.key = key }
            if let group = try text("group") { options.group = group }
        } catch {
            return .failure(error)
        }
        return .success(JobLine(payload: payload, options: options))
    }

    /// The members of a line that is a JSON object with a `payload` member; nil for any other
    /// line (a payload as it is).
    static func jobObject(_ line: ArraySlice<UInt8>) -> [String: JSONValue]? {
        guard let first = line.firstIndex(where: { !isBlank($0) }), line[first] == UInt8(ascii: "{") else { return nil }
        guard case .object(let members)? = line.withUnsafeBytes({ JSONValue.parse($0) }), members["payload"] != nil else {
            return nil
        }
        return members
    }

    /// The text of the value of the top-level member `name` of the JSON object `bytes` (which
    /// is valid JSON), as written.
    static func memberText(_ bytes: [UInt8], _ name: String) -> ArraySlice<UInt8>? {
        var index = 0
        func skipBlanks() { while index < bytes.count, isBlank(bytes[index]) { index += 1 } }
        func skipString() {
            index += 1
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
            }
            index += 1
        }
        func skipValue() {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                repeat {
                    switch bytes[index] {
                    case UInt8(ascii: "\""):
                        skipString()
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                    default: break
                    }
                    index += 1
                } while depth > 0 && index < bytes.count
            default:
                while index < bytes.count, !isBlank(bytes[index]), ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[index]) {
                    index += 1
                }
            }
        }
        skipBlanks()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        while true {
            skipBlanks()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let keyStart = index
            skipString()
            let key = bytes[keyStart..<index].withUnsafeBytes { JSONValue.parse($0) }?.stringValue
            skipBlanks()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipBlanks()
            guard index < bytes.count else { return nil }
            let valueStart = index
            skipValue()
            if key == name { return bytes[valueStart..<min(index, bytes.count)] }
            skipBlanks()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }
}
