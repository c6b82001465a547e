import DocketTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Several docketd nodes sharing events through a nats-server cluster (`--cluster-nats`), each
/// node connected to a different nats-server of it; with PostgreSQL, sharing jobs too. All on
/// loopback; skipped, saying why, where nats-server (or PostgreSQL) is missing.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ClusterTests {
    /// Three nats-servers in a cluster and three docketd, node i joined to server i first.
    func nodes(_ flags: [String] = []) throws -> (NATSCluster, [DocketdProcess])? {
        guard NATSCluster.binary != nil else {
            print("ClusterTests skipped: nats-server is not installed")
            return nil
        }
        let cluster = try NATSCluster(count: 3)
        let urls = cluster.nodes.map(\.url)
        let servers = try (0..<3).map { index in
            // Its own server first, then the others to fail over to.
            let order = (0..<3).map { urls[($0 + index) % 3] }
            return try DocketdProcess(["--cluster-nats", order.joined(separator: ",")] + flags)
        }
        return (cluster, servers)
    }

    func client(_ server: DocketdProcess) throws -> LineClient {
        let client = try server.client()
        _ = try client.handshake()
        return client
    }

    /// Publishes `probe` on `publisher` until `subscriber` (subscribed to it with sid `sid`)
    /// gets one: the upstream subscriptions and the cluster's routes are in place.
    func awaitFlow(_ publisher: LineClient, _ subscriber: LineClient, subject: String, sid: String) throws {
        let deadline = Date().addingTimeInterval(10)
        subscriber.timeout = 0.2
        defer { subscriber.timeout = 5 }
        while Date() < deadline {
            try publisher.send("PUB \(subject) 5\r\nprobe\r\n")
            if let line = try? subscriber.readLine(), line.hasPrefix("MSG \(subject) \(sid) ") {
                _ = try subscriber.readLine()
                // Probes still in flight are let through before the test starts counting.
                usleep(300_000)
                while let _ = try? subscriber.readLine() {}
                return
            }
        }
        throw HarnessError("no message crossed the cluster in 10 s")
    }

    /// The MSG payloads a client gets until it has been quiet for `quiet` seconds.
    func drain(_ client: LineClient, quiet: TimeInterval = 0.5) -> [String] {
        client.timeout = quiet
        defer { client.timeout = 5 }
        var payloads: [String] = []
        while let line = try? client.readLine() {
            guard line.hasPrefix("MSG ") || line.hasPrefix("HMSG ") else { continue }
            payloads.append((try? client.readLine()) ?? "")
        }
        return payloads
    }

    @Test func messagesReachEveryNodeOnceAndQueueGroupsSpanNodes() throws {
        guard let (cluster, servers) = try nodes() else { return }
        _ = cluster
        let clients = try servers.map(client)
        for client in clients { try client.line("SUB news 1") }
        for client in clients { try client.sync() }
        try awaitFlow(clients[0], clients[1], subject: "news", sid: "1")
        try awaitFlow(clients[0], clients[2], subject: "news", sid: "1")
        for client in clients { _ = drain(client) }

        // One publication on A: every subscriber, on every node, gets it once.
        try clients[0].send("PUB news 5\r\nhello\r\n")
        try clients[1].send("PUB news 5\r\nfrom1\r\n")
        for client in clients { #expect(drain(client).sorted() == ["from1", "hello"]) }

        // A queue group with a member on each node: each message to exactly one of them.
        for client in clients { try client.line("SUB work workers 2") }
        for client in clients { try client.sync() }
        usleep(500_000)
        let count = 60
        for index in 0..<count { try clients[index % 3].send("PUB work \(String(index).utf8.count)\r\n\(index)\r\n") }
        let delivered = clients.map { drain($0, quiet: 1) }
        let all = delivered.flatMap { $0 }
        #expect(all.count == count && Set(all) == Set((0..<count).map(String.init)), "\(delivered.map(\.count))")
        #expect(delivered.allSatisfy { !$0.isEmpty }, "every node's member had a share: \(delivered.map(\.count))")

        // The link's state is in STATS.
        let stats = try clients[0].object("STATS")
        let link = try #require(stats["cluster"] as? [String: Any])
        #expect(link["connected"] as? Bool == true && link["url"] as? String == cluster.nodes[0].url)
        for server in servers { #expect(server.stop() == 0) }
    }

    /// The nats-server a node is connected to dies: the node moves to another, and messages
    /// flow again both ways; meanwhile its own clients were served as usual.
    @Test func aNodeMovesToAnotherNATSServerWhenItsOwnDies() throws {
        guard let (cluster, servers) = try nodes() else { return }
        let a = try client(servers[0])
        let b = try client(servers[1])
        try a.line("SUB news 1")
        try b.line("SUB news 1")
        try a.sync()
        try b.sync()
        try awaitFlow(a, b, subject: "news", sid: "1")
        try awaitFlow(b, a, subject: "news", sid: "1")
        _ = drain(b)

        cluster.kill(0)
        // Local delivery does not wait for the cluster.
        try a.send("PUB news 5\r\nlocal\r\n")
        #expect(drain(a, quiet: 0.3).contains("local"))
        try awaitFlow(b, a, subject: "news", sid: "1")
        try awaitFlow(a, b, subject: "news", sid: "1")
        _ = drain(a)
        let stats = try a.object("STATS")
        let link = try #require(stats["cluster"] as? [String: Any])
        #expect(link["connected"] as? Bool == true && (link["reconnects"] as? Int ?? 0) >= 1)
        #expect(link["url"] as? String != cluster.nodes[0].url)
        for server in servers { #expect(server.stop() == 0) }
    }

    /// With jobs in one PostgreSQL: a job enqueued on A, worked on B, is seen by a `$JOB.q.>`
    /// subscriber on C, each event once; a route defined through A makes exactly one job of a
    /// message published on B.
    @Test func jobEventsAndRoutesAcrossNodes() throws {
        guard case .success(let postgres) = TestPostgres.shared else {
            print("ClusterTests.jobEventsAndRoutesAcrossNodes skipped: no PostgreSQL")
            return
        }
        let database = try postgres.createDatabase()
        let url = "postgres://\(TestPostgres.user)@127.0.0.1:\(postgres.port)/\(database)"
        guard let (cluster, servers) = try nodes(["--store", url]) else { return }
        _ = cluster
        let (a, b, c) = (try client(servers[0]), try client(servers[1]), try client(servers[2]))
        try c.line("SUB $JOB.q.> 9")
        try c.line("SUB probe 8")
        try c.sync()
        try awaitFlow(a, c, subject: "probe", sid: "8")
        try awaitFlow(b, c, subject: "probe", sid: "8")

        try a.send("ENQ q 3\r\none\r\n")
        #expect(try a.readLine() == "+OK 1")
        try b.line("RESERVE q timeout=5s")
        #expect(plainJobLine(try b.readMessage().0) == "JOB 1 q 1 3")
        try b.line("ACK 1")
        #expect(try b.readLine() == "+OK")
        c.timeout = 1
        var events: [String] = []
        while let line = try? c.readLine() {
            guard line.hasPrefix("MSG $JOB.q.") else { continue }
            events.append(String(line.split(separator: " ")[1]))
            _ = try? c.readLine()
        }
        #expect(events == ["$JOB.q.enqueued", "$JOB.q.started", "$JOB.q.completed"])

        try a.line("ROUTE orders.* invoices")
        #expect(try a.readLine().hasPrefix("+OK "))
        usleep(300_000)  // the route reaches B by NOTIFY
        try b.send("PUB orders.7 5\r\norder\r\n")
        try b.sync()
        usleep(500_000)
        let queue = try c.object("QUEUE invoices")
        let jobs = try #require(queue["jobs"] as? [String: Any])
        #expect(jobs["waiting"] as? Int == 1, "exactly one job for one message: \(jobs)")
        for server in servers { #expect(server.stop() == 0) }
    }
}
