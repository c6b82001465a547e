import DocketTestSupport
import Foundation
import Testing

/// Reading a queue (LIST pages through it while jobs come and go; QUEUE's state), on both job
/// stores.
@Suite(.serialized) struct ListingTests {
    enum Store: String, CaseIterable {
        case lmdb, postgres
    }

    /// A docketd on `store`, or nil (with the reason printed) when PostgreSQL cannot be started.
    func docketd(_ store: Store, _ flags: [String] = []) throws -> DocketdProcess? {
        switch store {
        case .lmdb: return try DocketdProcess(flags)
        case .postgres:
            guard case .success(let cluster) = TestPostgres.shared else {
                print("ListingTests on PostgreSQL skipped: no PostgreSQL")
                return nil
            }
            let database = try cluster.createDatabase()
            return try DocketdProcess(["--store", "postgres://\(TestPostgres.user)@127.0.0.1:\(cluster.port)/\(database)"] + flags)
        }
    }

    /// A queue whose rate window is full says so, and when it opens: `next_start_at` is the
    /// older of the window's two starts plus the hour, as the embedded engine computes it.
    @Test(arguments: Store.allCases) func aFullRateWindowSaysWhenItOpens(_ store: Store) throws {
        guard let server = try docketd(store) else { return }
        let client = try server.client()
        _ = try client.handshake()
        try client.line("QUEUE slow rate=2/1h")
        #expect(try client.readLine() == "+OK")
        try client.send("ENQ slow 1\r\na\r\nENQ slow 1\r\nb\r\nENQ slow 1\r\nc\r\n")
        #expect(try [client.readLine(), client.readLine(), client.readLine()] == ["+OK 1", "+OK 2", "+OK 3"])
        for _ in 0..<2 {
            try client.line("RESERVE slow timeout=0")
            _ = try client.readMessage()
            usleep(20_000)  // two different start times
        }
        let first = try #require(client.object("INSPECT 1")["started_at"] as? Int)
        let queue = try client.object("QUEUE slow")
        #expect(queue["blocked_by"] as? String == "rate")
        #expect(queue["next_start_at"] as? Int == first + 3_600_000, "\(queue)")
        #expect(server.stop() == 0)
    }

    /// The jobs a queue keeps out of its ready order are still listed, each once: a waiting job
    /// its group's rate parked, and a job that died, was retried and died again.
    @Test(arguments: Store.allCases) func parkedAndTwiceDeadJobsAreListedOnce(_ store: Store) throws {
        guard let server = try docketd(store) else { return }
        let client = try server.client()
        _ = try client.handshake()
        try client.line("QUEUE send group_rate=1/1h")
        #expect(try client.readLine() == "+OK")
        try client.send("ENQ send group=acme 2\r\na1\r\nENQ send group=acme 2\r\na2\r\nENQ send attempts=1 1\r\nd\r\n")
        #expect(try [client.readLine(), client.readLine(), client.readLine()] == ["+OK 1", "+OK 2", "+OK 3"])
        // Job 2 waits, parked behind acme's rate; job 3 dies, comes back and dies again.
        var started: [String] = []
        for _ in 0..<2 {
            try client.line("RESERVE send timeout=0")
            started.append(String(plainJobLine(try client.readMessage().0).split(separator: " ")[1]))
        }
        #expect(started == ["1", "3"])
        for round in 0..<2 {
            if round > 0 {
                try client.line("RETRY 3")
                #expect(try client.readLine() == "+OK")
                try client.line("RESERVE send timeout=0")
                #expect(plainJobLine(try client.readMessage().0).hasPrefix("JOB 3 send "))
            }
            try client.line("FAIL 3")
            #expect(try client.readLine() == "+OK dead")
        }
        try client.line("ACK 1")
        #expect(try client.readLine() == "+OK")
        let waiting = try #require(try client.object("LIST send state=waiting")["jobs"] as? [[String: Any]])
        #expect(waiting.compactMap { $0["id"] as? Int } == [2])
        let dead = try #require(try client.object("LIST send state=dead")["jobs"] as? [[String: Any]])
        #expect(dead.compactMap { $0["id"] as? Int } == [3])
        let completed = try #require(try client.object("LIST send state=completed")["jobs"] as? [[String: Any]])
        #expect(completed.compactMap { $0["id"] as? Int } == [1])
        #expect(server.stop() == 0)
    }

    /// Every job that stays waiting the whole time is seen exactly once, in run order; jobs
    /// taken meanwhile are never repeated, and the pages end.
    @Test(arguments: Store.allCases) func pagingIsStableWhileJobsComeAndGo(_ store: Store) throws {
        guard let server = try docketd(store) else { return }
        let client = try server.client()
        _ = try client.handshake()
        var batch = ""
        for index in 0..<250 { batch += "ENQ q pri=\(index % 3) 1\r\nx\r\n" }
        try client.send(batch)
        for _ in 0..<250 { #expect(try client.readLine().hasPrefix("+OK ")) }

        var seen: [Int] = []
        var priorities: [Int] = []
        var cursor: String?
        var taken: Set<Int> = []
        var pages = 0
        repeat {
            let page = try client.object("LIST q limit=100" + (cursor.map { " after=\($0)" } ?? ""))
            let jobs = try #require(page["jobs"] as? [[String: Any]])
            seen += jobs.compactMap { $0["id"] as? Int }
            priorities += jobs.compactMap { $0["priority"] as? Int }
            cursor = page["next"] as? String
            pages += 1
            // Between pages: two jobs start (from the front, already listed) and two new ones
            // come in behind everything of their priority.
            for _ in 0..<2 {
                try client.line("RESERVE q timeout=0")
                let (line, _) = try client.readMessage()
                taken.insert(Int(line.split(separator: " ")[1])!)
            }
            try client.send("ENQ q pri=2 1\r\nn\r\nENQ q pri=2 1\r\nn\r\n")
            #expect(try [client.readLine(), client.readLine()].allSatisfy { $0.hasPrefix("+OK ") })
        } while cursor != nil && pages < 20
        #expect(pages == 3 || pages == 4)
        #expect(Set(seen).count == seen.count, "a job was listed twice")
        #expect(priorities == priorities.sorted(), "pages are in run order")
        // The first 250 all appear (none were taken before they were listed: RESERVE takes from the front).
        #expect(Set(seen).isSuperset(of: Set(1...250)))
        #expect(taken.isSubset(of: Set(seen)))
        #expect(server.stop() == 0)
    }

    /// Replies that list jobs stop at the reply budget (the server's max_payload): DEAD and a
    /// LIST page take jobs until the next would pass it (the first always), LIST's `next` then
    /// picks up after the last one shown, and PARENTS lists every parent but leaves out the
    /// outcomes that do not fit. Before, one DEAD of jobs with large reasons built, held and
    /// sent a document of any size while the server served nobody else.
    @Test(arguments: Store.allCases) func listingRepliesStopAtTheBudget(_ store: Store) throws {
        let budget = 4096
        guard let server = try docketd(store, ["--max-payload", "\(budget)"]) else { return }
        let client = try server.client()
        _ = try client.handshake()
        let text = String(repeating: "r", count: 1500)
        /// A job of `queue` run once and finished by `verb` with `text`; its id.
        func finished(_ queue: String, _ verb: String, answer: String) throws -> Int {
            try client.send("ENQ \(queue) attempts=1 1\r\nx\r\n")
            let id = try #require(Int(client.readLine().dropFirst(4)))
            try client.line("RESERVE \(queue) timeout=0")
            _ = try client.readMessage()
            try client.send("\(verb) \(id) \(text.utf8.count)\r\n\(text)\r\n")
            #expect(try client.readLine() == answer)
            return id
        }
        let dead = try (0..<12).map { _ in try finished("big", "FAIL", answer: "+OK dead") }
        try client.line("DEAD big")
        let (deadHeader, deadBody) = try client.readMessage()
        #expect(deadHeader.hasPrefix("JSON "))
        let deadList = try #require(JSONSerialization.jsonObject(with: Data(deadBody)) as? [[String: Any]])
        #expect(deadList.count >= 1 && deadList.count < 12, "\(deadList.count) dead jobs")
        #expect(deadBody.count <= budget)
        #expect(deadList.first?["last_error"] as? String == text)

        var listed: [Int] = []
        var after: String? = nil
        var pages = 0
        repeat {
            try client.line("LIST big state=dead limit=1000" + (after.map { " after=\($0)" } ?? ""))
            let (_, body) = try client.readMessage()
            #expect(body.count <= budget)
            let page = try #require(JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            let jobs = try #require(page["jobs"] as? [[String: Any]])
            #expect(!jobs.isEmpty)
            listed += jobs.compactMap { $0["id"] as? Int }
            after = page["next"] as? String
            pages += 1
        } while after != nil && pages < 20
        #expect(pages > 1)
        #expect(listed.sorted() == dead, "every dead job once, over \(pages) pages")

        let parents = try (0..<5).map { _ in try finished("made", "ACK", answer: "+OK") }
        try client.send("ENQ child after=\(parents.map(String.init).joined(separator: ",")) 1\r\nx\r\n")
        let child = try #require(Int(client.readLine().dropFirst(4)))
        let parentList = try #require(client.document("PARENTS \(child)") as? [[String: Any]])
        #expect(parentList.compactMap { $0["id"] as? Int } == parents)
        #expect(parentList.first?["result"] as? String == text)
        let truncated = parentList.filter { $0["truncated"] as? Bool == true }
        #expect(!truncated.isEmpty && truncated.count < 5)
        #expect(truncated.allSatisfy { $0["result"] is NSNull && $0["state"] as? String == "completed" })
        #expect(server.stop() == 0)
    }
}
