import DocketWire
import Testing

@Suite struct JobFramingTests {
    static let cases: [(String, [Rendered])] = [
        ("ENQ emails 5\r\nhello\r\n", ["ENQ <emails> [hello]"]),
        ("enq emails delay=5s  pri=-1 key=a 2\r\nhi\r\n", ["ENQ <emails delay=5s  pri=-1 key=a> [hi]"]),
        ("RESERVE a,b timeout=1s\r\n", ["RESERVE <a,b timeout=1s>"]),
        ("ACK 12\r\n", ["ACK <12>"]),
        ("ACK 12 2\r\nok\r\n", ["ACK <12> [ok]"]),
        ("FAIL 12 retry=no 4\r\nboom\r\n", ["FAIL <12 retry=no> [boom]"]),
        ("FAIL 12 retry=5s\r\n", ["FAIL <12 retry=5s>"]),
        ("PROGRESS 3 50\r\n", ["PROGRESS <3 50>"]),
        ("PROGRESS 3 50 4\r\nhalf\r\n", ["PROGRESS <3 50> [half]"]),
        ("TOUCH 3\r\nINSPECT 3\r\nDEAD q limit=5\r\nRETRY queue=q\r\nDEL 3\r\n",
         ["TOUCH <3>", "INSPECT <3>", "DEAD <q limit=5>", "RETRY <queue=q>", "DEL <3>"]),
    ]

    @Test(arguments: cases)
    func framesJobVerbs(_ input: String, _ expected: [Rendered]) {
        #expect(feed(input) == expected)
    }

    @Test func enqNeedsAByteCount() {
        #expect(feed("ENQ q\r\n") == [.error(.invalidProtocol)])
        #expect(feed("ENQ\r\n") == [.error(.invalidProtocol)])
        #expect(feed("ENQ q 9\r\n", limits: ParseLimits(maxControlLine: 64, maxPayload: 8)) == [.error(.maxPayload)])
    }

    @Test func jobPayloadsSurviveEverySplit() {
        let stream = Array("ENQ q pri=1 3\r\nabc\r\nACK 1 2\r\nok\r\nPING\r\n".utf8)
        for split in 0...stream.count {
            #expect(feed([Array(stream[..<split]), Array(stream[split...])]) == ["ENQ <q pri=1> [abc]", "ACK <1> [ok]", "PING"])
        }
    }
}

@Suite struct JobCommandTests {
    func parse(_ verb: JobVerb, _ arguments: String) -> Result<JobCommand, JobError> {
        Array(arguments.utf8).withUnsafeBytes { JobCommand.parse(verb, $0, 0..<$0.count) }
    }

    func code(_ verb: JobVerb, _ arguments: String) -> JobError.Code? {
        if case .failure(let error) = parse(verb, arguments) { return error.code }
        return nil
    }

    @Test func enqueueOptions() throws {
        guard case .enqueue(let queue, let options) = try parse(.enq, "mail delay=250ms pri=-7 attempts=5 backoff=exp:1s:1m jitter=0.2 lease=2m key=o-1").get() else {
            Issue.record("not an enqueue")
            return
        }
        #expect(queue == 0..<4)
        #expect(options.delayMilliseconds == 250)
        #expect(options.priority == -7)
        #expect(options.maxAttempts == 5)
        #expect(options.backoff == .exponential(baseMilliseconds: 1000, capMilliseconds: 60_000))
        #expect(options.jitter == 0.2)
        #expect(options.leaseMilliseconds == 120_000)
        #expect(options.key == 77..<80)
        guard case .enqueue(_, let fixed) = try parse(.enq, "q backoff=fixed:30s at=1700000000").get() else { return }
        #expect(fixed.backoff == .fixed(milliseconds: 30_000))
        #expect(fixed.runAtMilliseconds == 1_700_000_000_000)
    }

    static let badOptions: [(JobVerb, String, JobError.Code)] = [
        (.enq, "", .badQueue),
        (.enq, "bad.queue", .badQueue),
        (.enq, "q\u{00e9}", .badQueue),
        (.enq, String(repeating: "q", count: 129), .badQueue),
        (.enq, "q colour=red", .badOption),
        (.enq, "q pri=x", .badOption),
        (.enq, "q pri=2000000", .badOption),
        (.enq, "q attempts=0", .badOption),
        (.enq, "q attempts=2 attempts=3", .badOption),
        (.enq, "q delay=5s at=1", .badOption),
        (.enq, "q backoff=exp:5s:1s", .badOption),
        (.enq, "q backoff=linear:1s", .badOption),
        (.enq, "q jitter=2", .badOption),
        (.enq, "q lease=0s", .badOption),
        (.enq, "q novalue", .badOption),
        (.enq, "q after=1,1", .badOption),
        (.enq, "q after=0", .badOption),
        (.enq, "q on_parent_dead=run", .badOption),
        (.enq, "q after=1 on_parent_dead=maybe", .badOption),
        (.enq, "q key_ttl=1h", .badOption),
        (.enq, "q replace=true", .badOption),
        (.enq, "q key=k key_ttl=0s", .badOption),
        (.reserve, "", .badQueue),
        (.reserve, "a,,b", .badQueue),
        (.reserve, "a wait=5s", .badOption),
        (.reserve, "a timeout=soon", .badOption),
        (.ack, "", .badID),
        (.ack, "x1", .badID),
        (.ack, "0", .badID),
        (.ack, "1 2 3", .badOption),
        (.fail, "1 retry=maybe", .badOption),
        (.fail, "1 retry=no retry=no", .badOption),
        (.progress, "1", .badOption),
        (.progress, "1 101", .badOption),
        (.dead, "q limit=0", .badOption),
        (.retry, "queue=a.b", .badQueue),
        (.retry, "list=q", .badOption),
        (.schedule, "s q cron=\"\"", .badOption),
        (.schedule, "s q cron=0", .badOption),
        (.schedule, "s q every=500ms", .badOption),
    ]

    @Test(arguments: badOptions)
    func rejects(_ verb: JobVerb, _ arguments: String, _ expected: JobError.Code) {
        #expect(code(verb, arguments) == expected)
    }

    @Test func otherVerbs() throws {
        #expect(try parse(.reserve, "a,b-2,c_3 timeout=0").get() == .reserve(queues: QueueNames(first: 0..<1, more: [2..<5, 6..<9]), timeoutMilliseconds: 0))
        #expect(try parse(.fail, "9 retry=no").get() == .fail(id: 9, .never, attempt: nil))
        #expect(try parse(.fail, "9 retry=2s").get() == .fail(id: 9, .after(milliseconds: 2000), attempt: nil))
        #expect(try parse(.fail, "9").get() == .fail(id: 9, .policy, attempt: nil))
        #expect(try parse(.progress, "9 100").get() == .progress(id: 9, percent: 100, attempt: nil))
    }

    @Test func attemptFencesTheHeldVerbs() throws {
        #expect(try parse(.ack, "9 attempt=2").get() == .ack(id: 9, attempt: 2))
        #expect(try parse(.touch, "9 attempt=12").get() == .touch(id: 9, attempt: 12))
        #expect(try parse(.fail, "9 attempt=3 retry=no").get() == .fail(id: 9, .never, attempt: 3))
        #expect(try parse(.fail, "9 retry=no attempt=3").get() == .fail(id: 9, .never, attempt: 3))
        #expect(try parse(.fail, "9 attempt=1 throttle=1s").get() == .throttle(id: 9, milliseconds: 1000, groupOnly: false, attempt: 1))
        #expect(try parse(.progress, "9 50 attempt=4").get() == .progress(id: 9, percent: 50, attempt: 4))
        for bad in ["9 attempt=0", "9 attempt=x", "9 attempt=", "9 attempt=1 attempt=1", "9 other=1", "9 2"] {
            #expect(code(.ack, bad) == .badOption, "\(bad)")
            #expect(code(.touch, bad) == .badOption, "\(bad)")
        }
        #expect(code(.progress, "9 50 attempt=0") == .badOption)
        #expect(code(.fail, "9 attempt=0") == .badOption)
        #expect(try parse(.retry, "18446744073709551").get() == .retryJob(id: 18_446_744_073_709_551))
        #expect(try parse(.retry, "queue=q").get() == .retryQueue(queue: 6..<7))
        #expect(try parse(.dead, "q").get() == .dead(queue: 0..<1, limit: 100))
    }

    @Test func errorLinesAreQuotedSafely() {
        let line = JobError(.badOption, "it's bad").line
        #expect(line == "-ERR 'BAD_OPTION it\"s bad'\r\n")
        // A field can hold a bare CR (only blanks split fields); echoed, it must not split the line.
        #expect(JobError(.badOption, "a\rb=1: unknown option").line == "-ERR 'BAD_OPTION a?b=1: unknown option'\r\n")
    }
}
