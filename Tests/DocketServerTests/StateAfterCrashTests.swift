import DocketTestSupport
import Foundation
import Testing

/// After kill -9 the server must report exactly the state its acknowledged replies made: every
/// kind of change a client can have acknowledged (delays, priorities, keys and replace=true,
/// FAIL with a backoff, death and RETRY, DEL, ACK with a result, a BATCH flow, queue settings,
/// PAUSE, routes and schedules, both made and removed), whatever --sync it ran and restarts
/// with. Nothing missing, nothing resurrected, nothing changed.
@Suite(.enabled(if: DocketdProcess.storeUnderTest == "lmdb", "kill -9 rounds of the embedded store"))
struct StateAfterCrashTests {
    @Test(arguments: [("always", "always"), ("always", "none"), ("none", "always"), ("none", "none")])
    func everyAcknowledgedChangeSurvivesAKill(ranWith: String, restartsWith: String) throws {
        let first = try DocketdProcess(["--sync", ranWith])
        let client = try first.client()
        _ = try client.handshake()
        func expect(_ command: String, _ reply: String) throws {
            try client.send(command)
            let answer = try client.readLine()
            #expect(answer == reply, "\(command.split(separator: "\r\n").first ?? "")")
        }
        func reserve(_ queue: String) throws -> Int {
            try client.line("RESERVE \(queue) timeout=0")
            let (control, _) = try client.readMessage()
            return try #require(Int(control.split(separator: " ")[1]))
        }
        try expect("ENQ mix delay=1h pri=3 1\r\na\r\n", "+OK 1")
        try expect("ENQ mix pri=-2 attempts=2 backoff=fixed:1h key=k1 1\r\nb\r\n", "+OK 2")
        try expect("ENQ mix key=k1 replace=true 2\r\nbb\r\n", "+OK 2 replaced")
        try expect("ENQ mix key=k1 1\r\nB\r\n", "+OK 2 duplicate")
        try expect("ENQ mix attempts=1 1\r\nc\r\n", "+OK 3")
        #expect(try reserve("mix") == 2)
        try expect("FAIL 2 4\r\nslow\r\n", "+OK retry 3600000")
        #expect(try reserve("mix") == 3)
        try expect("FAIL 3 4\r\nboom\r\n", "+OK dead")
        try expect("RETRY 3\r\n", "+OK")
        try expect("ENQ mix 1\r\nd\r\n", "+OK 4")
        try expect("DEL 4\r\n", "+OK")
        try expect("ENQ other 1\r\ne\r\n", "+OK 5")
        #expect(try reserve("other") == 5)
        try expect("PROGRESS 5 50 4\r\nhalf\r\n", "+OK")
        try expect("ACK 5 4\r\ndone\r\n", "+OK")
        try expect("BATCH 3\r\nENQ flow 1\r\nx\r\nENQ flow 1\r\ny\r\nENQ flow after=#1,#2 on_parent_dead=run 1\r\nz\r\n", "+OK 6 7 8")
        #expect(try reserve("flow") == 6)
        try expect("FAIL 6 retry=no 4\r\nlost\r\n", "+OK dead")
        try expect("QUEUE mix rate=5/1h concurrency=3 keep_dead=50 lease=10m\r\n", "+OK")
        try expect("PAUSE other\r\n", "+OK")
        try expect("ROUTE ev.* mix pri=1\r\n", "+OK 1")
        try expect("ROUTE ev2.* mix\r\n", "+OK 2")
        try expect("UNROUTE 2\r\n", "+OK")
        try expect("SCHEDULE nightly mix every=1h 1\r\ns\r\n", "+OK")
        try expect("SCHEDULE gone mix every=1h 1\r\ng\r\n", "+OK")
        try expect("UNSCHEDULE gone\r\n", "+OK")
        let before = try Snapshot(client)
        #expect(before.jobs[4] == nil && before.jobs[3]?["state"] as? String == "waiting")
        #expect(before.jobs[8]?["state"] as? String == "blocked")
        #expect((before.routes as? [Any])?.count == 1 && (before.schedules as? [Any])?.count == 1)

        // Killed at once (the last batches only in the log, or only in LMDB's page cache),
        // then again once a checkpoint has surely run.
        first.crash()
        let second = try first.restart(["--sync", restartsWith])
        let afterReplay = try Snapshot(second)
        before.expectSame(as: afterReplay, "after a kill right after the last reply")
        usleep(300_000)
        second.crash()
        let third = try second.restart(["--sync", ranWith])
        defer { third.stop() }
        before.expectSame(as: try Snapshot(third), "after a kill past a checkpoint")
    }
}

/// Everything a client can read back of the state the test made.
private struct Snapshot {
    var jobs: [Int: [String: Any]] = [:]
    var queues: [String: Any] = [:]
    var routes: Any
    var schedules: Any

    init(_ server: DocketdProcess) throws {
        let client = try server.client()
        _ = try client.handshake()
        try self.init(client)
    }

    init(_ client: LineClient) throws {
        for id in 1...8 {
            try client.line("INSPECT \(id)")
            let control = try client.readLine()
            if control.hasPrefix("JSON "), let count = Int(control.dropFirst(5)) {
                jobs[id] = try JSONSerialization.jsonObject(with: Data(try client.readBytes(count + 2))) as? [String: Any]
            } else {
                #expect(control.contains("NOT_FOUND"), "INSPECT \(id): \(control)")
            }
        }
        for name in ["mix", "other", "flow"] {
            let document = try client.object("QUEUE \(name)")
            queues[name] = ["config": document["config"] ?? NSNull(), "paused": document["paused"] ?? NSNull(),
                            "totals": document["totals"] ?? NSNull()]
        }
        routes = try client.document("ROUTES")
        schedules = try client.document("SCHEDULES")
    }

    func expectSame(as other: Snapshot, _ when: String) {
        for id in 1...8 {
            let mine = jobs[id].map { NSDictionary(dictionary: $0) }
            let theirs = other.jobs[id].map { NSDictionary(dictionary: $0) }
            #expect(mine == theirs, "job \(id) \(when): \(String(describing: jobs[id])) became \(String(describing: other.jobs[id]))")
        }
        #expect(NSDictionary(dictionary: queues) == NSDictionary(dictionary: other.queues), "queues \(when): \(queues) became \(other.queues)")
        #expect(NSArray(array: routes as? [Any] ?? []) == NSArray(array: other.routes as? [Any] ?? []), "routes \(when)")
        #expect(NSArray(array: schedules as? [Any] ?? []) == NSArray(array: other.schedules as? [Any] ?? []), "schedules \(when): \(schedules) became \(other.schedules)")
    }
}
