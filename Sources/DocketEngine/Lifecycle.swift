import DocketWire

/// A job transition worth telling the world about, as published on `$JOB.<queue>.<event>`.
/// It is a snapshot: the job may have moved on by the time it is published.
public struct LifecycleEvent: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case enqueued, started, progress, completed, failed, stalled, lost, dead, throttled, retried
    }

    public let kind: Kind
    public let sequence: UInt64
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

    /// The event's JSON body.
    public var json: String {
        var writer = JSONObjectWriter()
        writer.add("seq", Int(sequence))
        writer.add("event", kind.rawValue)
        writer.add("id", Int(id))
        writer.add("queue", queue)
        writer.add("attempt", attempt)
        writer.add("max_attempts", maxAttempts)
        writer.add("state", state.name)
        writer.add("at", Int(at))
        if let group { writer.add("group", String(decoding: group, as: UTF8.self)) }
        if let progress { writer.add("progress", progress) }
        if let note { writer.add("note", String(decoding: note, as: UTF8.self)) }
        if let error { writer.add("error", String(decoding: error, as: UTF8.self)) }
        if let next { writer.add("next", next) }
        if let retryInMilliseconds { writer.add("retry_in_ms", retryInMilliseconds) }
        if let waitMilliseconds { writer.add("wait_ms", waitMilliseconds) }
        if let runMilliseconds { writer.add("run_ms", runMilliseconds) }
        if let resultBytes { writer.add("result_bytes", resultBytes) }
        return writer.result
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
