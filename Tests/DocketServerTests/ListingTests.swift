import DocketTestSupport
import Foundation
import Testing

/// LIST pages through a queue while jobs come and go, on both job stores.
@Suite(.serialized) struct ListingTests {
    enum Store: String, CaseIterable {
        case lmdb, postgres
    }

    /// A docketd on `store`, or nil (with the reason printed) when PostgreSQL cannot be started.
    func docketd(_ store: Store) throws -> DocketdProcess? {
        switch store {
        case .lmdb: return try DocketdProcess()
        case .postgres:
            guard case .success(let cluster) = TestPostgres.shared else {
                print("ListingTests on PostgreSQL skipped: no PostgreSQL")
                return nil
            }
            let database = try cluster.createDatabase()
            return try DocketdProcess(["--store", "postgres://\(TestPostgres.user)@127.0.0.1:\(cluster.port)/\(database)"])
        }
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
}
