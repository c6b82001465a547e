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

    /// docketd on `store`; nil (the test passes, saying why) where PostgreSQL cannot be started.
    func docketd(_ store: Store) throws -> DocketdProcess? {
        guard store == .postgres else { return try DocketdProcess() }
        guard case .success(let cluster) = TestPostgres.shared else {
            print("FlowTests on postgres skipped: no PostgreSQL cluster")
            return nil
        }
        return try DocketdProcess(["--store", "postgres://\(TestPostgres.user)@127.0.0.1:\(cluster.port)/\(try cluster.createDatabase())"])
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
}
