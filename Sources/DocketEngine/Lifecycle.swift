import DocketWire

/// A job transition worth telling the world about, as published on `$JOB.<queue>.<event>`.
/// It is a snapshot: the job may have moved on by the time it is published.
public struct LifecycleEvent: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case enqueued, started, progress, completed, failed, stalled, lost, dead, throttled, retried, scheduled, expired
        /// A delayed job (a `delay=`, `at=`, or a retry's backoff) became due, or was promoted.
        case waiting
        /// Enqueued `after=` jobs not all completed yet; `unblocked` once they are.
        case blocked, unblocked
    }

    public let kind: Kind
    public var sequence: UInt64
    public let queue: String
    public let id: UInt64
    public let attempt: Int
    public let maxAttempts: Int
    public let state: JobState
    public let at: Int64
    public var progress: Int? = nil
    public var note: [UInt8]? = nil
    public var error: [UInt8]? = nil
    /// For failures: what happens next (`retry` or `dead`) and, for a retry, after how long.
    public var next: String? = nil
    public var retryInMilliseconds: Int? = nil
    public var waitMilliseconds: Int? = nil
    public var runMilliseconds: Int? = nil
    public var resultBytes: Int? = nil
    public var group: [UInt8]? = nil
    /// For `scheduled`: the schedule and the tick (unix ms) the job is for.
    public var schedule: String? = nil
    public var tick: Int64? = nil
    /// For `blocked`: the jobs it waits for.
    public var parents: [UInt64]? = nil

    public init(
        kind: Kind, sequence: UInt64, queue: String, id: UInt64, attempt: Int, maxAttempts: Int, state: JobState, at: Int64
    ) {
        self.kind = kind
        self.sequence = sequence
        self.queue = queue
        self.id = id
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.state = state
        self.at = at
    }

    /// The event's JSON body.
    public var json: String {
        var bytes: [UInt8] = []
        appendJSON(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the event's JSON body to `out`. Events go out for every transition while anyone
    /// listens, so the common fields are written as bytes, with no `String` on the way; only
    /// the free-text fields (note, error, group) take the slower, fully escaping path.
    public func appendJSON(to out: inout [UInt8]) {
        var first = true
        func key(_ name: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func number(_ value: Int) {
            if value < 0 { out.append(UInt8(ascii: "-")) }
            var magnitude = value.magnitude
            var digits: [UInt8] = []
            repeat {
                digits.append(UInt8(48 + magnitude % 10))
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: digits.reversed())
        }
        func plain(_ text: String) {
            // Queue names, event kinds and state names are letters, digits, '_' and '-'.
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: text.utf8)
            out.append(UInt8(ascii: "\""))
        }
        func text(_ bytes: [UInt8]) {
            JSONObjectWriter.appendQuoted(String(decoding: bytes, as: UTF8.self), to: &out)
        }
        key("seq"); number(Int(sequence))
        key("event"); plain(kind.rawValue)
        key("id"); number(Int(id))
        key("queue"); plain(queue)
        key("attempt"); number(attempt)
        key("max_attempts"); number(maxAttempts)
        key("state"); plain(state.name)
        key("at"); number(Int(at))
        if let group { key("group"); text(group) }
        if let progress { key("progress"); number(progress) }
        if let note { key("note"); text(note) }
        if let error { key("error"); text(error) }
        if let next { key("next"); plain(next) }
        if let retryInMilliseconds { key("retry_in_ms"); number(retryInMilliseconds) }
        if let waitMilliseconds { key("wait_ms"); number(waitMilliseconds) }
        if let runMilliseconds { key("run_ms"); number(runMilliseconds) }
        if let resultBytes { key("result_bytes"); number(resultBytes) }
        if let schedule { key("schedule"); plain(schedule) }
        if let tick { key("tick"); number(Int(tick)) }
        if let parents {
            key("parents")
            out.append(UInt8(ascii: "["))
            for (index, parent) in parents.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                number(Int(parent))
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
    }
}

/// A WAIT for a job's outcome.
public final class JobWatch {
    public let owner: UInt64
    public let id: UInt64
    public internal(set) var isDone = false

    init(owner: UInt64, id: UInt64) {
        self.owner = owner
        self.id = id
    }
}

/// What WAIT finds.
public enum WatchStart {
    /// The job is already completed or dead.
    case finished(Job)
    case notFound
    /// Resolved later by a `.watchFinished`, `.watchGone` or `.watchTimedOut` event.
    case waiting(JobWatch)
}
