import DocketTestSupport
import Foundation
import Testing

/// The bridge: lifecycle events, WAIT, routes.
@Suite struct EventsTests {
    /// Reads MSGs until `count` have come, returning (subject, decoded JSON body) pairs.
    func events(_ client: LineClient, _ count: Int) throws -> [(String, [String: Any])] {
        try (0..<count).map { _ in
            let (control, body) = try client.readMessage()
            let subject = String(control.split(separator: " ")[1])
            return (subject, try JSONSerialization.jsonObject(with: Data(body)) as! [String: Any])
        }
    }

    @Test func everyTransitionIsPublishedInOrderWithSequenceNumbers() throws {
        let server = try DocketdProcess()
        let watcher = try server.client()
        _ = try watcher.handshake()
        try watcher.line("SUB $JOB.work.> 1")
        try watcher.sync()
        let worker = try server.client()
        _ = try worker.handshake()
        try worker.send("ENQ work attempts=3 backoff=fixed:0s lease=200ms 1\r\nx\r\n")
        #expect(try worker.readLine() == "+OK 1")
        try worker.line("RESERVE work")
        _ = try worker.readMessage()
        try worker.send("PROGRESS 1 30 4\r\nnote\r\n")
        #expect(try worker.readLine() == "+OK")
        try worker.send("FAIL 1 4\r\nboom\r\n")
        #expect(try worker.readLine() == "+OK retry 0")
        try worker.line("RESERVE work")
        _ = try worker.readMessage()
        // Let the lease run out: a "stalled" event, then the third attempt fails for good.
        try worker.line("RESERVE work")
        _ = try worker.readMessage()
        try worker.send("FAIL 1 retry=no\r\n")
        #expect(try worker.readLine() == "+OK dead")
        try worker.line("RETRY 1")
        #expect(try worker.readLine() == "+OK")
        try worker.line("RESERVE work")
        _ = try worker.readMessage()
        try worker.line("FAIL 1 throttle=10ms")
        #expect(try worker.readLine() == "+OK throttled 10")
        try worker.line("RESERVE work")
        _ = try worker.readMessage()
        try worker.send("ACK 1 2\r\nok\r\n")
        #expect(try worker.readLine() == "+OK")
        let seen = try events(watcher, 14)
        #expect(seen.map { $0.0 } == [
            "$JOB.work.enqueued", "$JOB.work.started", "$JOB.work.progress", "$JOB.work.failed", "$JOB.work.started",
            "$JOB.work.stalled", "$JOB.work.started", "$JOB.work.failed", "$JOB.work.dead", "$JOB.work.retried",
            "$JOB.work.started", "$JOB.work.throttled", "$JOB.work.started", "$JOB.work.completed",
        ])
        #expect(seen.map { $0.1["seq"] as? Int } == Array(1...14))
        let failed = seen[3].1
        #expect(failed["error"] as? String == "boom" && failed["next"] as? String == "retry" && failed["state"] as? String == "waiting")
        #expect(seen[2].1["progress"] as? Int == 30 && seen[2].1["note"] as? String == "note")
        #expect(seen[8].1["state"] as? String == "dead")
        #expect(seen.last?.1["result_bytes"] as? Int == 2)
    }

    @Test func waitAnswersWithTheOutcome() throws {
        let server = try DocketdProcess()
        let producer = try server.client()
        _ = try producer.handshake()
        try producer.send("ENQ w 1\r\na\r\nENQ w attempts=1 1\r\nb\r\n")
        #expect(try [producer.readLine(), producer.readLine()] == ["+OK 1", "+OK 2"])
        // A WAIT that times out says where the job is.
        try producer.line("WAIT 1 timeout=50ms")
        #expect(try producer.readLine() == "PENDING 1 waiting")
        // Two waiters on one job, one of them gone before the end: fine.
        let waiter = try server.client()
        _ = try waiter.handshake()
        try waiter.line("WAIT 1")
        var quitter: LineClient? = try server.client()
        _ = try quitter!.handshake()
        try quitter!.line("WAIT 1")
        quitter = nil
        let worker = try server.client()
        _ = try worker.handshake()
        try worker.line("RESERVE w")
        _ = try worker.readMessage()
        try worker.send("ACK 1 4\r\ndone\r\n")
        #expect(try worker.readLine() == "+OK")
        let (outcome, result) = try waiter.readMessage()
        #expect(outcome == "OUTCOME 1 completed 4" && result == Array("done".utf8))
        // Dead jobs answer with their last error; finished jobs answer at once.
        try worker.line("RESERVE w")
        _ = try worker.readMessage()
        try worker.send("FAIL 2 6\r\nbroken\r\n")
        #expect(try worker.readLine() == "+OK dead")
        try producer.line("WAIT 2")
        let (dead, error) = try producer.readMessage()
        #expect(dead == "OUTCOME 2 dead 6" && error == Array("broken".utf8))
        try producer.line("WAIT 77")
        #expect(try producer.readLine().hasPrefix("-ERR 'NOT_FOUND"))
    }

    @Test func routesMakeExactlyOneJobPerMatchingPublishAndSurviveRestart() throws {
        let first = try DocketdProcess()
        let admin = try first.client()
        _ = try admin.handshake()
        try admin.line("ROUTE orders.* invoices pri=2")
        #expect(try admin.readLine() == "+OK 1")
        try admin.line("ROUTE orders.> audit")
        #expect(try admin.readLine() == "+OK 2")
        try admin.line("ROUTE $JOB.> sneaky")
        #expect(try admin.readLine().hasPrefix("-ERR 'BAD_OPTION"))
        #expect(first.stop() == 0)

        let second = try DocketdProcess(dataDirectory: first.dataDirectory)
        let publisher = try second.client()
        _ = try publisher.handshake(#"{"verbose":true}"#)
        #expect(try publisher.readLine() == "+OK")
        try publisher.line("SUB _INBOX.me 9")
        #expect(try publisher.readLine() == "+OK")
        try publisher.send("PUB orders.new _INBOX.me 5\r\nhello\r\n")
        #expect(try publisher.readLine() == "+OK")
        let (_, body) = try publisher.readMessage()
        #expect(String(decoding: body, as: UTF8.self) == #"{"jobs":[1,2]}"#)
        try publisher.send("PUB orders.eu.new 2\r\nhi\r\nPUB other 1\r\nx\r\n")
        #expect(try [publisher.readLine(), publisher.readLine()] == ["+OK", "+OK"])
        try publisher.line("QUEUES")
        let (_, queues) = try publisher.readMessage()
        let documents = try JSONSerialization.jsonObject(with: Data(queues)) as! [[String: Any]]
        let enqueued = Dictionary(uniqueKeysWithValues: documents.map {
            ($0["queue"] as! String, ($0["totals"] as! [String: Any])["enqueued"] as! Int)
        })
        #expect(enqueued == ["invoices": 1, "audit": 2])
        try publisher.line("RESERVE invoices timeout=0")
        let (job, payload) = try publisher.readMessage()
        #expect(job.hasPrefix("JOB ") && plainJobLine(job).hasSuffix(" invoices 1 5") && payload == Array("hello".utf8))
        try publisher.line("INSPECT \(job.split(separator: " ")[1])")
        #expect(String(decoding: try publisher.readMessage().1, as: UTF8.self).contains(#""priority":2"#))
        try publisher.line("UNROUTE 2")
        #expect(try publisher.readLine() == "+OK")
        try publisher.line("ROUTES")
        #expect(String(decoding: try publisher.readMessage().1, as: UTF8.self) == #"[{"id":1,"pattern":"orders.*","queue":"invoices","rule":"orders.* invoices pri=2"}]"#)
        #expect(second.stop() == 0)

        // The removed route's id is not handed out again after a restart.
        let third = try DocketdProcess(dataDirectory: first.dataDirectory)
        let again = try third.client()
        _ = try again.handshake()
        try again.line("ROUTE orders.> audit")
        #expect(try again.readLine() == "+OK 3")
        // ... and the removal itself was stored: route 2 stays gone.
        try again.line("ROUTES")
        let routes = try JSONSerialization.jsonObject(with: Data(again.readMessage().1)) as! [[String: Any]]
        #expect(routes.map { $0["id"] as! Int } == [1, 3])
    }

    @Test func aStuckEventSubscriberIsCutOffAndJobsStillComplete() throws {
        let server = try DocketdProcess(["--max-pending", "64KiB"])
        let stuck = try server.client()
        _ = try stuck.handshake()
        try stuck.line("SUB $JOB.> 1")
        try stuck.sync()
        let producer = try server.client()
        _ = try producer.handshake()
        var batch = ""
        for number in 0..<2000 { batch += "ENQ busy \(String(number).utf8.count)\r\n\(number)\r\n" }
        try producer.send(batch)
        for _ in 0..<2000 { _ = try producer.readLine() }
        for _ in 0..<2000 {
            try producer.line("RESERVE busy timeout=0")
            let line = try producer.readLine()
            let id = line.split(separator: " ")[1]
            _ = try producer.readBytes(Int(line.split(separator: " ").last!)! + 2)
            try producer.line("ACK \(id)")
            #expect(try producer.readLine() == "+OK")
        }
        #expect(server.log.waitForLine(containing: "Slow Consumer Detected", timeout: 5) != nil)
        try producer.line("QUEUE busy")
        #expect(String(decoding: try producer.readMessage().1, as: UTF8.self).contains(#""completed":2000"#))
    }
}
