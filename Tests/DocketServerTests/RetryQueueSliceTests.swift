import DocketTestSupport
import Foundation
import Testing

/// RETRY queue=<q> revives a slice of dead jobs per loop pass: other clients are served between
/// the slices, the answer still counts every job, and each slice is committed as it goes.
@Suite(.serialized, .enabled(if: DocketdProcess.storeUnderTest == "lmdb", "the embedded store's RETRY is sliced"))
struct RetryQueueSliceTests {
    private static let count = 20_000

    /// A server whose queue `q` holds `count` dead jobs (each failed with `retry=no`).
    private func serverWithDeadJobs() throws -> (DocketdProcess, LineClient) {
        let server = try DocketdProcess()
        let client = try server.client()
        client.timeout = 120
        _ = try client.handshake()
        try client.line("QUEUE q keep_dead=100000")
        #expect(try client.readLine() == "+OK")
        try kill(Self.count, on: client)
        return (server, client)
    }

    /// Enqueues `count` jobs to `q`, reserves them and fails them for good.
    private func kill(_ count: Int, on client: LineClient) throws {
        try client.send(String(repeating: "ENQ q 0\r\n\r\n", count: count))
        for _ in 0..<count { #expect(try client.readLine().hasPrefix("+OK ")) }
        try failAll(count, on: client)
    }

    /// Reserves `count` jobs of `q` and fails them for good.
    private func failAll(_ count: Int, on client: LineClient) throws {
        try client.send(String(repeating: "RESERVE q\r\n", count: count))
        var ids: [String] = []
        for _ in 0..<count {
            let line = try client.readLine()
            #expect(line.hasPrefix("JOB "), "\(line)")
            ids.append(String(line.split(separator: " ")[1]))
            #expect(try client.readLine() == "")
        }
        try client.send(ids.map { "FAIL \($0) retry=no\r\n" }.joined())
        for _ in 0..<count { #expect(try client.readLine() == "+OK dead") }
        #expect(try jobs(client)["dead"] == count)
    }

    private func jobs(_ client: LineClient, _ queue: String = "q") throws -> [String: Int] {
        try client.object("QUEUE \(queue)")["jobs"] as? [String: Int] ?? [:]
    }

    /// Another client looking at the queue while the RETRY goes on sees some jobs revived and
    /// some still dead (done in one pass, it saw all dead or none), and its PINGs are answered.
    @Test func otherClientsAreServedBetweenTheSlicesAndTheAnswerCountsThemAll() throws {
        let (server, retrier) = try serverWithDeadJobs()
        defer { _ = server.stop() }
        let other = try server.client()
        other.timeout = 60
        _ = try other.handshake()
        try retrier.line("RETRY queue=q")
        var between = 0
        var looks = 0
        while looks < 100_000 {
            looks += 1
            let counts = try jobs(other)
            if counts["dead"] == 0 { break }
            if counts["dead"]! < Self.count { between += 1 }
            try other.line("PING")
            #expect(try other.readLine() == "PONG")
        }
        #expect(try retrier.readLine() == "+OK \(Self.count)")
        #expect(between > 0, "the queue was never seen part-way revived in \(looks) looks")
        #expect(try jobs(other)["waiting"] == Self.count)
        #expect(server.stop() == 0)
    }

    /// Through `$DOCKET.API` the answer also waits for the last slice; a RETRY whose connection
    /// closes at once goes on to the end, and what it revived is on disk.
    @Test func theAPIAnswersTheCountAndAClosedConnectionsRetryFinishesDurably() throws {
        let (server, client) = try serverWithDeadJobs()
        defer { _ = server.stop() }
        try client.line("SUB _INBOX.retry 1")
        try client.send("PUB $DOCKET.API.RETRY.queue=q _INBOX.retry 0\r\n\r\n")
        let (_, answer) = try client.readMessage()
        #expect(String(decoding: answer, as: UTF8.self) == "{\"count\":\(Self.count)}")
        #expect(try jobs(client)["waiting"] == Self.count)

        // Dead again, then a RETRY whose connection hangs up at once.
        try failAll(Self.count, on: client)
        let leaving = try server.client()
        _ = try leaving.handshake()
        try leaving.line("RETRY queue=q")
        shutdown(leaving.fd, Int32(SHUT_RDWR))
        let deadline = Date().addingTimeInterval(60)
        while try jobs(client)["waiting"] != Self.count, Date() < deadline { usleep(50_000) }
        #expect(try jobs(client)["waiting"] == Self.count)
        #expect(server.stop() == 0)
        let again = try server.restart()
        defer { _ = again.stop() }
        let reader = try again.client()
        _ = try reader.handshake()
        let restored = try jobs(reader)
        #expect(restored["waiting"] == Self.count && restored["dead"] == 0, "\(restored)")
        #expect(again.stop() == 0)
    }
}
