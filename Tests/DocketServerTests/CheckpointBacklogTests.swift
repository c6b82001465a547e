import DocketTestSupport
import Foundation
import Testing

/// A producer faster than the checkpoints waits for them (`--max-checkpoint-backlog`): every
/// command that makes jobs is still answered, and everyone else is served meanwhile.
@Suite(.serialized) struct CheckpointBacklogTests {
    private static let count = 20_000

    /// 20,000 ENQs of 1 KB pipelined under `--sync none` log 20 MB, twenty times the 1 MiB
    /// allowed ahead of the checkpoints: the producer waits (STATS counts it), gets every
    /// answer, and another client's PINGs are answered while it waits.
    @Test(arguments: ["none", "always"])
    func aProducerWaitsForTheCheckpointsAndOthersGoOn(_ sync: String) throws {
        var ids: [UInt64] = []
        try flood(sync, request: "ENQ q 1024") { producer in
            let line = try producer.readLine()
            guard line.hasPrefix("+OK ") else { return line }
            ids.append(UInt64(line.dropFirst(4)) ?? 0)
            return nil
        }
        #expect(ids == ids.sorted() && Set(ids).count == Self.count, "every ENQ answered once, in order")
    }

    /// A stock NATS client makes jobs by publishing: its `$DOCKET.API.ENQ` requests wait as a
    /// wire ENQ does.
    @Test(arguments: ["none", "always"])
    func apiEnqueuesWaitForTheCheckpoints(_ sync: String) throws {
        try flood(sync, request: "PUB $DOCKET.API.ENQ.q _INBOX.enq 1024") { try Self.message($0, startingWith: "{\"id\":") }
    }

    /// So do publishes a route turns into jobs (with a reply subject, each hears its jobs' ids).
    @Test(arguments: ["none", "always"])
    func routedPublishesWaitForTheCheckpoints(_ sync: String) throws {
        try flood(sync, request: "PUB orders.new _INBOX.enq 1024") { try Self.message($0, startingWith: "{\"jobs\":[") }
    }

    /// nil if the next message is an answer on `_INBOX.enq` that starts so, else what came.
    private static func message(_ producer: LineClient, startingWith start: String) throws -> String? {
        let (line, body) = try producer.readMessage()
        let answer = String(decoding: body, as: UTF8.self)
        return line.hasPrefix("MSG _INBOX.enq 1 ") && answer.hasPrefix(start) ? nil : "\(line) \(answer)"
    }

    /// `count` of `request` with 1 KB payloads, pipelined by one client (with a route from
    /// `orders.*` into `q`, and subscribed to `_INBOX.enq`) against a 1 MiB backlog; `answer`
    /// reads each answer (nil: as expected). Another client PINGs every 2,000 answers.
    private func flood(_ sync: String, request: String, answer: (LineClient) throws -> String?) throws {
        let server = try DocketdProcess(["--sync", sync, "--max-checkpoint-backlog", "1MiB", "--max-pending", "64MiB"])
        defer { _ = server.stop() }
        let producer = try server.client()
        producer.timeout = 120
        _ = try producer.handshake()
        let other = try server.client()
        other.timeout = 60
        _ = try other.handshake()
        try other.line("ROUTE orders.* q")
        #expect(try other.readLine().hasPrefix("+OK "))
        try producer.line("SUB _INBOX.enq 1")

        let payload = String(repeating: "x", count: 1024)
        // Written while this thread reads the answers: the server stops reading the producer
        // while it waits, and a send of all 20 MB first would never end.
        nonisolated(unsafe) let writer = producer
        let sending = Thread {
            var pipeline = ""
            for _ in 0..<Self.count { pipeline += "\(request)\r\n\(payload)\r\n" }
            try? writer.send(pipeline)
        }
        sending.start()
        var pings = 0
        for answered in 1...Self.count {
            if let wrong = try answer(producer) {
                Issue.record("request \(answered) answered \(wrong)")
                return
            }
            if answered % 2_000 == 0 {
                try other.line("PING")
                #expect(try other.readLine() == "PONG")
                pings += 1
            }
        }
        #expect(pings == 10)
        let stats = try other.object("STATS")
        #expect(stats["jobs"] as? Int == Self.count)
        #expect((stats["checkpoint_waits"] as? Int ?? 0) > 0, "the producer never waited: \(stats["checkpoint_waits"] ?? "no such field")")
        #expect(server.stop() == 0)
    }
}
