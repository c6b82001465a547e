/// One complete command from a client, as offsets into the buffer it was parsed from.
///
/// Ranges index the `UnsafeRawBufferPointer` given to `ClientParser.parse`; nothing is copied,
/// so an op is only meaningful while that buffer is.
public enum ClientOp: Equatable, Sendable {
    /// `CONNECT <json>`: the JSON object, unparsed.
    case connect(json: Range<Int>)
    case ping
    case pong
    /// `PUB <subject> [reply-to] <#bytes>` and its payload.
    case pub(subject: Range<Int>, reply: Range<Int>?, payload: Range<Int>)
    /// `HPUB <subject> [reply-to] <#header bytes> <#total bytes>`; `message` covers the header
    /// block followed by the payload, and the header block is its first `headerCount` bytes.
    case hpub(subject: Range<Int>, reply: Range<Int>?, headerCount: Int, message: Range<Int>)
    /// `SUB <subject> [queue group] <sid>`.
    case sub(subject: Range<Int>, queue: Range<Int>?, sid: Range<Int>)
    /// `UNSUB <sid> [max messages]`.
    case unsub(sid: Range<Int>, max: Int?)
    /// `HELP`: a Docket extension listing the verbs.
    case help
    /// A Docket job verb: its arguments (between the verb and the byte count, if any) and its
    /// payload, if the verb carried one. `JobCommand.parse` gives them meaning.
    case job(JobVerb, arguments: Range<Int>, payload: Range<Int>?)
}

/// The Docket job verbs.
public enum JobVerb: Sendable, Equatable, CaseIterable {
    case enq, reserve, ack, fail, progress, touch, inspect, dead, retry, del
    case queue, pause, resume, stats, queues
    case wait, route, unroute, routes
    case list, purge, promote
    case schedule, unschedule, schedules
    case batch, parents, children
    case cancel

    /// Fields that always come before an optional trailing byte count, or nil if the verb
    /// never carries a payload. A verb's trailing count is the last field when there are more
    /// fields than this and it is all digits (options always contain `=`, so they never are).
    var fieldsBeforeCount: Int? {
        switch self {
        case .enq, .ack, .fail: return 1
        case .progress, .schedule: return 2
        case .reserve, .touch, .inspect, .dead, .retry, .del, .queue, .pause, .resume, .stats, .queues, .wait, .route,
            .unroute, .routes, .list, .purge, .promote, .unschedule, .schedules, .batch, .parents, .children, .cancel:
            return nil
        }
    }

    public var name: String {
        switch self {
        case .enq: return "ENQ"
        case .reserve: return "RESERVE"
        case .ack: return "ACK"
        case .fail: return "FAIL"
        case .progress: return "PROGRESS"
        case .touch: return "TOUCH"
        case .inspect: return "INSPECT"
        case .dead: return "DEAD"
        case .retry: return "RETRY"
        case .del: return "DEL"
        case .queue: return "QUEUE"
        case .pause: return "PAUSE"
        case .resume: return "RESUME"
        case .stats: return "STATS"
        case .queues: return "QUEUES"
        case .wait: return "WAIT"
        case .route: return "ROUTE"
        case .unroute: return "UNROUTE"
        case .routes: return "ROUTES"
        case .list: return "LIST"
        case .purge: return "PURGE"
        case .promote: return "PROMOTE"
        case .schedule: return "SCHEDULE"
        case .unschedule: return "UNSCHEDULE"
        case .schedules: return "SCHEDULES"
        case .batch: return "BATCH"
        case .parents: return "PARENTS"
        case .children: return "CHILDREN"
        case .cancel: return "CANCEL"
        }
    }
}

/// What `ClientParser.parse` found at the start of the bytes it was given.
public enum ParseOutcome: Equatable, Sendable {
    /// A complete op; the next command starts at `next`.
    case op(ClientOp, next: Int)
    /// Only blank lines; skip to `next`.
    case skip(next: Int)
    /// The command is not complete yet; read more bytes and call again from the same start.
    case incomplete
    /// The bytes break the protocol. Every parse failure is fatal: framing can no longer be trusted.
    case failure(ProtocolError)
}

/// The limits the parser enforces while framing commands.
public struct ParseLimits: Sendable, Equatable {
    /// Longest control line in bytes, not counting its line ending.
    public var maxControlLine: Int
    /// Largest payload (for HPUB: header block plus payload) in bytes.
    public var maxPayload: Int

    public init(maxControlLine: Int = 4096, maxPayload: Int = 1 << 20) {
        self.maxControlLine = maxControlLine
        self.maxPayload = maxPayload
    }

    /// The most bytes one command can occupy in an input buffer: a full control line with its
    /// CRLF, a full payload and the CRLF after it. An input buffer this large never needs to grow.
    public var maxCommandSize: Int { maxControlLine + 2 + maxPayload + 2 }
}
