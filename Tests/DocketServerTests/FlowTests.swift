import DocketTestSupport
import Foundation
import Testing

/// Flows (`after=`) at sizes and in orders users reach, on both job stores: each test runs the
/// same commands against the embedded store and against PostgreSQL and expects the same replies.
@Suite(.serialized) struct FlowTests {
    enum Store: String, CustomStringConvertible, CaseIterable, Sendable {
        case lmdb, postgres
        var description: String { rawValue }
    }

    /// docketd on `store` with `flags`; nil (the test passes, saying why) where PostgreSQL
    /// cannot be started.
    func docketd(_ store: Store, _ flags: [String] = []) throws -> DocketdProcess? {
        guard let flags = try storeFlags(store, flags) else { return nil }
        return try DocketdProcess(flags)
    }

    /// `flags`, with a new database's `--store` on PostgreSQL; nil where it cannot be started.
    func storeFlags(_ store: Store, _ flags: [String]) throws -> [String]? {
        guard store == .postgres else { return flags }
        guard case .success(let cluster) = TestPostgres.shared else {
            print("FlowTests on postgres skipped: no PostgreSQL cluster")
            return nil
        }
        return flags + ["--store", "postgres://\(TestPostgres.user)@127.0.0.1:\(cluster.port)/\(try cluster.createDatabase())"]
    }

    /// A chain `count` jobs long on `queue`, each after the one before, the first after
    /// `first` (if any), in BATCHes of 1,000; the ids, in order.
    func chain(_ client: LineClient, on queue: String, count: Int, after first: Int? = nil) throws -> [Int] {
        var ids: [Int] = []
        while ids.count < count {
            let size = min(1000, count - ids.count)
            var text = "BATCH \(size)\r\n"
            for index in 0..<size {
                let parent = index > 0 ? "#\(index)" : (ids.last ?? first).map(String.init)
                text += "ENQ \(queue)\(parent.map { " after=\($0)" } ?? "") 1\r\nx\r\n"
            }
            try client.send(text)
            let reply = try client.readLine()
            let batch = reply.split(separator: " ").dropFirst().compactMap { Int($0) }
            guard reply.hasPrefix("+OK "), batch.count == size else {
                Issue.record("BATCH answered \(reply)")
                return ids
            }
            ids += batch
        }
        return ids
    }

    /// A death spreads down a chain 1,000 jobs deep: PostgreSQL settled each level in a nested
    /// trigger call, ran out of stack (`stack depth limit exceeded`, somewhere between 500 and
    /// 1,000 levels) and refused the FAIL (and DEL, and the lease's end) of the first job,
    /// every time.
    @Test(arguments: Store.allCases)
    func aDeathSpreadsDownAChainAThousandDeep(_ store: Store) throws {
        guard let server = try docketd(store) else { return }
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.handshake()
        let root = try chain(client, on: "root", count: 1)
        let ids = try chain(client, on: "chain", count: 1000, after: root.first)
        try #require(ids.count == 1000)
        try client.line("RESERVE root timeout=0")
        #expect(try client.readMessage().0.hasPrefix("JOB \(root[0]) "))
        try client.send("FAIL \(root[0]) retry=no 4\r\nboom\r\n")
        #expect(try client.readLine() == "+OK dead")
        let last = try client.object("INSPECT \(ids[999])")
        #expect(last["state"] as? String == "dead")
        #expect(last["last_error"] as? String == "parent \(ids[998]) dead")
        let counts = try client.object("QUEUE chain")["jobs"] as? [String: Any]
        #expect(counts?["dead"] as? Int == 1000 && counts?["blocked"] as? Int == 0, "\(counts ?? [:])")

        // Deleting the first job of a blocked chain kills it the same way.
        let second = try chain(client, on: "again", count: 1000)
        try client.line("DEL \(second[0])")
        #expect(try client.readLine() == "+OK")
        let end = try client.object("INSPECT \(second[999])")
        #expect(end["state"] as? String == "dead")
        #expect(end["last_error"] as? String == "parent \(second[998]) dead")
    }

    /// `--max-flow-depth` bounds the chains of unfinished jobs an ENQ may make longer, alike on
    /// both stores: a parent that finished counts for nothing, a BATCH is refused as a whole, a
    /// duplicate is no new job, and a depth counted at ENQ is kept across a restart.
    @Test(arguments: Store.allCases)
    func aFlowDeeperThanTheLimitIsRefused(_ store: Store) throws {
        guard let flags = try storeFlags(store, ["--max-flow-depth", "3"]) else { return }
        var server = try DocketdProcess(flags)
        defer { _ = server.stop() }
        var client = try server.client()
        _ = try client.handshake()
        let tooDeep = "-ERR 'LIMIT the job would be 4 deep in its flow, and 3 may be (--max-flow-depth)'"
        let ids = try chain(client, on: "flow", count: 3)
        try #require(ids.count == 3)
        try client.send("ENQ flow after=\(ids[2]) 1\r\nx\r\n")
        #expect(try client.readLine() == tooDeep)
        try client.send("ENQ flow after=\(ids[0]),\(ids[2]) 1\r\nx\r\n")
        #expect(try client.readLine() == tooDeep)
        try client.send("ENQ side after=\(ids[1]) 1\r\nx\r\n")
        let third = try client.readLine()
        #expect(third.hasPrefix("+OK "))
        // The whole batch or nothing: its second ENQ would be 4 deep.
        try client.send("BATCH 2\r\nENQ other after=\(ids[1]) 1\r\nx\r\nENQ other after=#1 1\r\nx\r\n")
        #expect(try client.readLine() == "-ERR 'LIMIT job 2: the job would be 4 deep in its flow, and 3 may be (--max-flow-depth)'")
        let other = try client.object("QUEUE other")["jobs"] as? [String: Any]
        #expect((other?["blocked"] as? Int ?? 0) == 0, "\(other ?? [:])")
        // An ENQ whose key finds a job makes none, so it is no deeper than it was.
        try client.send("ENQ keyed key=k 1\r\nx\r\n")
        let keyed = try client.readLine()
        try client.send("ENQ keyed key=k after=\(ids[2]) 1\r\nx\r\n")
        #expect(try client.readLine() == keyed + " duplicate")

        // The first job completes: its child is 2 deep still (depth is counted at ENQ), and
        // that count is kept across a restart.
        try client.line("RESERVE flow timeout=0")
        #expect(try client.readMessage().0.hasPrefix("JOB \(ids[0]) "))
        try client.line("ACK \(ids[0])")
        #expect(try client.readLine() == "+OK")
        #expect(server.stop() == 0)
        server = try server.restart(flags)
        client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ flow after=\(ids[2]) 1\r\nx\r\n")
        #expect(try client.readLine() == tooDeep)

        // Once the chain has finished, a job after its last one starts a flow of its own.
        for id in ids.dropFirst() {
            try client.line("RESERVE flow timeout=0")
            #expect(try client.readMessage().0.hasPrefix("JOB \(id) "))
            try client.line("ACK \(id)")
            #expect(try client.readLine() == "+OK")
        }
        try client.send("ENQ flow after=\(ids[2]) 1\r\nx\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))
    }

    /// INSPECT listed every child: past ~170,000 the reply did not fit max_payload. It lists
    /// the first 1,000 now and says there are more; CHILDREN pages through them all.
    @Test(arguments: Store.allCases)
    func childrenComeInPages(_ store: Store) throws {
        guard let server = try docketd(store) else { return }
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.handshake()
        let parent = try chain(client, on: "parent", count: 1)[0]
        var children: [Int] = []
        for size in [1000, 5] {
            try client.send("BATCH \(size)\r\n" + String(repeating: "ENQ kids after=\(parent) 1\r\nx\r\n", count: size))
            children += try client.readLine().split(separator: " ").dropFirst().compactMap { Int($0) }
        }
        try #require(children.count == 1005)
        let inspected = try client.object("INSPECT \(parent)")
        #expect(inspected["children"] as? [Int] == Array(children.prefix(1000)))
        #expect(inspected["children_truncated"] as? Bool == true)
        let first = try client.object("CHILDREN \(parent)")
        #expect(first["id"] as? Int == parent && first["children"] as? [Int] == Array(children.prefix(1000)))
        #expect(first["next"] as? Int == children[999])
        let second = try client.object("CHILDREN \(parent) after=\(children[999]) limit=3")
        #expect(second["children"] as? [Int] == Array(children[1000..<1003]) && second["next"] as? Int == children[1002])
        let last = try client.object("CHILDREN \(parent) after=\(children[1002])")
        #expect(last["children"] as? [Int] == Array(children[1003...]) && last["next"] is NSNull)
        // A job with few children: no flag; one without: no list.
        let child = try client.object("INSPECT \(children[0])")
        #expect(child["children"] == nil && child["children_truncated"] == nil)
        #expect(try client.object("CHILDREN \(children[0])")["children"] as? [Int] == [])
        try client.line("CHILDREN 999999")
        #expect(try client.readLine() == "-ERR 'NOT_FOUND job 999999 does not exist'")
        try client.line("CHILDREN \(parent) limit=0")
        #expect(try client.readLine() == "-ERR 'BAD_OPTION limit=0: CHILDREN takes <job-id> [after=<job-id>] [limit=1-1000], each once'")
    }
}
