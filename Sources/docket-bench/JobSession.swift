/// One connection of a job run, driven by a `JobLoop`: it sends its first commands when the
/// run starts and reacts to each reply by queueing the next commands in `output`.
///
/// Only the loop's thread touches a session.
protocol JobSession: AnyObject {
    var role: SessionRole { get }
    var connection: Connection { get }
    var output: OutputBuffer { get set }
    var stats: SessionStats { get }
    /// Queues the first commands. `now` is the run's start, in monotonic nanoseconds.
    func start(now: UInt64)
    /// Handles a reply to one of this session's commands (never `.ping` or `.ignored`, which
    /// the loop answers itself). `now` is when the read that brought it returned.
    func handle(_ reply: JobReply, now: UInt64) throws
}

extension JobSession {
    /// The error for a reply that is not what the oldest unanswered command can get.
    func unexpected(_ reply: JobReply) -> BenchError {
        switch reply {
        case .error(let text): return BenchError("the server said \(text)")
        case .done: return BenchError("a confirmation arrived where a reserved job was due")
        case .job: return BenchError("a reserved job arrived where a confirmation was due")
        case .noJob: return BenchError("a reserve timeout arrived where a confirmation was due")
        case .ping, .ignored: return BenchError("a keep-alive reached the session")
        }
    }
}
