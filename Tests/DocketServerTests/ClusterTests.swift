import DocketTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Several docketd nodes sharing events through a nats-server cluster (`--cluster-nats`), each
/// node connected to a different nats-server of it, or through routes of their own (`--cluster`,
/// `--routes`); with PostgreSQL, sharing jobs too. All on loopback; skipped, saying why, where
/// nats-server (or PostgreSQL) is missing.
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

    /// A fresh database of the shared test PostgreSQL, as a URL; nil (and the test skipped,
    /// saying so) without PostgreSQL.
    func database(for test: String) throws -> String? {
        guard case .success(let postgres) = TestPostgres.shared else {
            print("ClusterTests.\(test) skipped: no PostgreSQL")
            return nil
        }
        return "postgres://\(TestPostgres.user)@127.0.0.1:\(postgres.port)/\(try postgres.createDatabase())"
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

    /// ENQ with a key until the answer is +OK (UNAVAILABLE while the database is away: nothing
    /// was promised, so the same ENQ goes again); the job's id.
    func enqueueUntilAcknowledged(_ client: LineClient, key: String, deadline: Date) throws -> Int? {
        while Date() < deadline {
            try client.send("ENQ load key=\(key) lease=2s backoff=fixed:0 attempts=20 3\r\njob\r\n")
            let answer = try client.readLine()
            if answer.hasPrefix("+OK ") { return Int(answer.split(separator: " ")[1]) }
            #expect(answer.hasPrefix("-ERR 'UNAVAILABLE"), "\(answer)")
            usleep(100_000)
        }
        return nil
    }

    /// Reserves and acks on `client` until `stop` says so; the ids it was told +OK for.
    func work(_ client: LineClient, until stop: () -> Bool) throws -> [Int] {
        var completed: [Int] = []
        while !stop() {
            try client.line("RESERVE load timeout=300ms")
            let line = try client.readLine()
            if line.hasPrefix("-ERR 'UNAVAILABLE") {
                usleep(100_000)
                continue
            }
            guard line.hasPrefix("JOB ") else { continue }  // NOJOB
            _ = try client.readLine()
            let id = Int(line.split(separator: " ")[1])!
            try client.line("ACK \(id)")
            if try client.readLine() == "+OK" { completed.append(id) }
        }
        return completed
    }

    /// Under load, PostgreSQL restarts and the producer's nats-server is killed: in the end every
    /// job acknowledged to the producer is completed, once (one `completed` event per job, seen
    /// on another node), however the ENQs and ACKs in flight were answered.
    @Test func aDatabaseRestartAndANATSKillMidLoadLoseNothingAcknowledged() throws {
        guard case .success = TestPostgres.shared else {
            print("ClusterTests.aDatabaseRestartAndANATSKillMidLoadLoseNothingAcknowledged skipped: no PostgreSQL")
            return
        }
        let postgres = try TestPostgres.makePrivate()
        defer { postgres.remove() }
        let database = try postgres.createDatabase()
        let url = "postgres://\(TestPostgres.user)@127.0.0.1:\(postgres.port)/\(database)"
        guard let (cluster, servers) = try nodes(["--store", url, "--node-timeout", "3s"]) else { return }
        let (producer, worker, watcher) = (try client(servers[0]), try client(servers[1]), try client(servers[2]))
        try watcher.line("SUB $JOB.load.completed 9")
        try watcher.line("SUB probe 8")
        try watcher.sync()
        try awaitFlow(worker, watcher, subject: "probe", sid: "8")

        let deadline = Date().addingTimeInterval(60)
        var acknowledged: [String: Int] = [:]
        for index in 0..<60 { acknowledged["k\(index)"] = try enqueueUntilAcknowledged(producer, key: "k\(index)", deadline: deadline) }
        var completed = try work(worker) { (try? worker.object("QUEUE load")["jobs"] as? [String: Any])?["completed"] as? Int ?? 0 >= 20 }

        // Both faults at once, with jobs waiting, active and being enqueued.
        var held: [Int] = []
        for _ in 0..<3 {
            try worker.line("RESERVE load timeout=1s")
            let line = try worker.readLine()
            guard line.hasPrefix("JOB ") else { Issue.record("\(line)"); continue }
            _ = try worker.readLine()
            held.append(Int(line.split(separator: " ")[1])!)
        }
        try postgres.stopServer()
        cluster.kill(0)
        for index in 60..<80 {
            try producer.send("ENQ load key=k\(index) lease=2s backoff=fixed:0 attempts=20 3\r\njob\r\n")
            let answer = try producer.readLine()
            if answer.hasPrefix("+OK ") { acknowledged["k\(index)"] = Int(answer.split(separator: " ")[1]) }
        }
        try postgres.startServer()
        for index in 60..<120 where acknowledged["k\(index)"] == nil {
            acknowledged["k\(index)"] = try enqueueUntilAcknowledged(producer, key: "k\(index)", deadline: deadline)
        }
        for id in held {  // +OK if its lease outlived the outage, else an error and a later attempt
            try worker.line("ACK \(id)")
            if try worker.readLine() == "+OK" { completed.append(id) }
        }
        #expect(acknowledged.count == 120, "\(120 - acknowledged.count) ENQs never acknowledged")

        // Drain on two nodes; what was held when the database went returns when its lease ends.
        let rest = try client(servers[2])
        let done = {
            guard let jobs = (try? worker.object("QUEUE load"))?["jobs"] as? [String: Any] else { return false }
            return jobs["waiting"] as? Int == 0 && jobs["delayed"] as? Int == 0 && jobs["active"] as? Int == 0 || Date() > deadline
        }
        completed += try work(worker, until: done)
        completed += try work(rest, until: done)
        for (key, id) in acknowledged {
            let info = try rest.object("INSPECT \(id)")
            #expect(info["state"] as? String == "completed", "\(key) -> job \(id): \(info)")
        }
        #expect(Set(completed).count == completed.count, "no job was acknowledged as completed twice")

        // One completed event per job, on a third node.
        watcher.timeout = 1
        var events: [Int: Int] = [:]
        while let line = try? watcher.readLine() {
            guard line.hasPrefix("MSG $JOB.load.completed") else { continue }
            let body = try watcher.readLine()
            let event = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            if let id = event?["id"] as? Int { events[id, default: 0] += 1 }
        }
        #expect(events.count == 120 && events.values.allSatisfy { $0 == 1 }, "\(events.filter { $0.value != 1 }) of \(events.count)")
        for server in servers { #expect(server.stop() == 0) }
    }

    /// Starts `count` worker threads, worker i on `servers[i % servers.count]`, each reserving
    /// from `queue` and acknowledging while `keepGoing()`: the ids acknowledged go to `record`
    /// (and each one's node index to `perNode`), failures too; each worker ends with `finish()`.
    /// Threads of their own: concurrentPerform would run only as many workers as there are cores.
    func startWorkers(
        _ count: Int, queue: String, on servers: [DocketdProcess], record: Record, perNode: Record? = nil,
        while keepGoing: @escaping @Sendable () -> Bool
    ) {
        for worker in 0..<count { Thread.detachNewThread {
            defer { record.finish() }
            do {
                let connection = try servers[worker % servers.count].client()
                _ = try connection.handshake()
                while keepGoing() {
                    try connection.line("RESERVE \(queue) timeout=200ms")
                    let line = try connection.readLine()
                    if line == "NOJOB" { continue }
                    guard line.hasPrefix("JOB ") else { return record.fail("worker \(worker): \(line)") }
                    _ = try connection.readLine()
                    let id = Int(line.split(separator: " ")[1])!
                    try connection.line("ACK \(id)")
                    guard try connection.readLine() == "+OK" else { return record.fail("ACK \(id) refused") }
                    record.add(id)
                    perNode?.add(worker % servers.count)
                }
            } catch {
                record.fail("worker \(worker): \(error)")
            }
        } }
    }

    /// A job route made through `definer` makes one job of a message published through
    /// `publisher` on another node, though other nodes hear the message too.
    func expectOneJobPerMessage(routedOn definer: LineClient, publishedOn publisher: LineClient, countedOn reader: LineClient) throws {
        try definer.line("ROUTE orders.* invoices")
        #expect(try definer.readLine().hasPrefix("+OK "))
        usleep(300_000)  // the route reaches the other nodes by NOTIFY
        try publisher.send("PUB orders.7 5\r\norder\r\n")
        try publisher.sync()
        usleep(500_000)
        let queue = try reader.object("QUEUE invoices")
        let jobs = try #require(queue["jobs"] as? [String: Any])
        #expect(jobs["waiting"] as? Int == 1, "exactly one job for one message: \(jobs)")
    }

    /// `rate=20/1s` on a queue holds across three nodes with two workers on each: in no second
    /// (by the database's clock, each job's `started_at`) do more than 20 jobs start, however
    /// many nodes claim; and every node gets work.
    @Test func aRateLimitHoldsAcrossThreeNodes() throws {
        guard let url = try database(for: "aRateLimitHoldsAcrossThreeNodes") else { return }
        guard let (cluster, servers) = try nodes(["--store", url]) else { return }
        _ = cluster
        let admin = try client(servers[0])
        try admin.line("QUEUE limited rate=20/1s")
        #expect(try admin.readLine() == "+OK")
        for _ in 0..<120 { try admin.send("ENQ limited 3\r\njob\r\n") }
        for _ in 0..<120 { #expect(try admin.readLine().hasPrefix("+OK ")) }

        let record = Record()
        let perNode = Record()
        let deadline = Date().addingTimeInterval(3.5)
        startWorkers(6, queue: "limited", on: servers, record: record, perNode: perNode) { Date() < deadline }
        #expect(record.waitForFinish(count: 6, timeout: 30))
        #expect(record.failures.isEmpty, "\(record.failures)")
        let starts = try record.ids.map { id in try #require(try admin.object("INSPECT \(id)")["started_at"] as? Int) }.sorted()
        var busiest = 0
        for (index, start) in starts.enumerated() {
            busiest = max(busiest, starts[index...].prefix { $0 - start < 1000 }.count)
        }
        #expect(busiest <= 20, "\(busiest) jobs started within one second")
        #expect(starts.count >= 40, "only \(starts.count) jobs in 3.5 s at 20/s")
        #expect(Set(perNode.ids) == [0, 1, 2], "every node worked: \(Set(perNode.ids))")
        for server in servers { #expect(server.stop() == 0) }
    }

    /// A queue's event numbers follow the order its changes committed in, whichever nodes
    /// made them: with jobs enqueued on A while workers on B and C take them as soon as they
    /// commit, every job's `enqueued` is numbered before its `started`, and that before its
    /// `completed`, and the numbers are 1, 2, 3…, each once. (Numbers taken after the commit,
    /// in a node's next transaction, put a fast worker's `started` ahead of a busy producer's
    /// `enqueued`.) Every third job is delayed: its `waiting`, when it comes due, is told by
    /// whichever node notices first, before the `started` of the node that claims it.
    @Test func eventNumbersFollowTheCommitOrderAcrossNodes() throws {
        guard let url = try database(for: "eventNumbersFollowTheCommitOrderAcrossNodes") else { return }
        guard let (cluster, servers) = try nodes(["--store", url]) else { return }
        _ = cluster
        let watcher = try client(servers[2])
        try watcher.line("SUB $JOB.order.> 9")
        try watcher.line("SUB probe 8")
        try watcher.sync()
        try awaitFlow(try client(servers[0]), watcher, subject: "probe", sid: "8")
        try awaitFlow(try client(servers[1]), watcher, subject: "probe", sid: "8")

        let jobs = 150
        let record = Record()
        let deadline = Date().addingTimeInterval(30)
        startWorkers(4, queue: "order", on: Array(servers[1...]), record: record) { record.ids.count < jobs && Date() < deadline }
        // The producer keeps A's connection to the database busy: a few ENQs at a time.
        let producer = try client(servers[0])
        for _ in 0..<(jobs / 3) {
            try producer.send("ENQ order delay=100ms 3\r\njob\r\n")
            for _ in 0..<2 { try producer.send("ENQ order 3\r\njob\r\n") }
            for _ in 0..<3 { #expect(try producer.readLine().hasPrefix("+OK ")) }
        }
        #expect(record.waitForFinish(count: 4, timeout: 40))
        #expect(record.failures.isEmpty, "\(record.failures)")

        watcher.timeout = 1
        var seqs: [Int] = []
        var perJob: [Int: [String: Int]] = [:]
        while let line = try? watcher.readLine() {
            guard line.hasPrefix("MSG $JOB.order.") else { continue }
            let event = try JSONSerialization.jsonObject(with: Data(try watcher.readLine().utf8)) as? [String: Any]
            guard let seq = event?["seq"] as? Int, let id = event?["id"] as? Int, let kind = event?["event"] as? String else { continue }
            seqs.append(seq)
            perJob[id, default: [:]][kind] = seq
        }
        #expect(seqs.sorted() == Array(1...max(1, seqs.count)), "each number once, without gaps (\(seqs.count) events)")
        let outOfOrder = perJob.filter { _, events in
            guard let enqueued = events["enqueued"], let started = events["started"], let completed = events["completed"] else { return true }
            // A job claimed the moment it comes due may have no `waiting` (nobody noticed first).
            if let waiting = events["waiting"], !(enqueued < waiting && waiting < started) { return true }
            return !(enqueued < started && started < completed)
        }
        let told = perJob.values.filter { $0["waiting"] != nil }.count
        #expect(told > 0 && told <= jobs / 3, "\(told) waiting events for \(jobs / 3) delayed jobs")
        #expect(perJob.count == jobs && outOfOrder.isEmpty, "\(outOfOrder.count) of \(perJob.count) jobs out of order: \(outOfOrder.prefix(5).map { "job \($0.key): \($0.value)" })")
        for server in servers { #expect(server.stop() == 0) }
    }

    /// With jobs in one PostgreSQL: a job enqueued on A, reserved on B and acknowledged on C is
    /// seen by a `$JOB.q.>` subscriber on C, each event once; a route defined through A makes exactly one job of a
    /// message published on B.
    @Test func jobEventsAndRoutesAcrossNodes() throws {
        guard let url = try database(for: "jobEventsAndRoutesAcrossNodes") else { return }
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
        // The worker finishes through C: the attempt is the fence, whichever node it reserved on.
        let worker = try client(servers[2])
        try worker.line("ACK 1 attempt=2")
        #expect(try worker.readLine().hasPrefix("-ERR 'NOT_HELD job 1 is on attempt 1, not 2"))
        try worker.line("ACK 1 attempt=1")
        #expect(try worker.readLine() == "+OK")
        try b.line("ACK 1 attempt=1")
        #expect(try b.readLine().hasPrefix("-ERR 'NOT_HELD"), "B's lease ended with C's ACK")
        // A second job the other way round: enqueued on B, worked on A.
        try b.send("ENQ q 3\r\ntwo\r\n")
        let second = try b.readLine()
        #expect(second.hasPrefix("+OK "))
        let secondID = second.split(separator: " ").last.map(String.init) ?? ""
        try a.line("RESERVE q timeout=5s")
        #expect(plainJobLine(try a.readMessage().0) == "JOB \(secondID) q 1 3")
        try a.line("ACK \(secondID) attempt=1")
        #expect(try a.readLine() == "+OK")
        c.timeout = 1
        // (seq, job, event) as they arrive. Events made on different nodes reach C by different
        // routes of the NATS cluster, so they may arrive out of order; the database numbers them,
        // one count per queue for every node: each number once, no gaps.
        var arrived: [(seq: Int, id: Int, event: String)] = []
        while let line = try? c.readLine() {
            guard line.hasPrefix("MSG $JOB.q.") else { continue }
            let text = (try? c.readLine()) ?? ""
            let body = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            arrived.append((body?["seq"] as? Int ?? -1, body?["id"] as? Int ?? -1, String(line.split(separator: " ")[1])))
        }
        #expect(arrived.map(\.seq).sorted() == [1, 2, 3, 4, 5, 6], "each event once, numbered without gaps: \(arrived)")
        for id in [1, Int(secondID) ?? 0] {
            #expect(
                Set(arrived.filter { $0.id == id }.map(\.event)) == ["$JOB.q.enqueued", "$JOB.q.started", "$JOB.q.completed"],
                "job \(id): \(arrived)")
        }

        try expectOneJobPerMessage(routedOn: a, publishedOn: b, countedOn: c)
        for server in servers { #expect(server.stop() == 0) }
    }

    /// Three docketd nodes routed to each other (no nats-server), their jobs in one PostgreSQL:
    /// each node publishes its own commits' events and the routes carry them, so a `$JOB.q.>`
    /// subscriber on every node sees every event of jobs enqueued on A and worked on B and C
    /// once, numbered 1, 2, 3… without gaps; and a message published on B makes one job of a
    /// job route, though the message also crosses to the other nodes.
    @Test func routedNodesOnOneDatabaseTellEachEventOnce() throws {
        guard let url = try database(for: "routedNodesOnOneDatabaseTellEachEventOnce") else { return }
        let first = try DocketdProcess(["--store", url, "--cluster", "nats://127.0.0.1:0"])
        let listening = try #require(first.log.lines.first { $0.contains("Listening for route connections on") })
        let seed = "nats://" + (listening.split(separator: " ").last.map(String.init) ?? "")
        let servers = try [first] + (0..<2).map { _ in try DocketdProcess(["--store", url, "--cluster", "nats://127.0.0.1:0", "--routes", seed]) }
        let watchers = try servers.map { server in
            let watcher = try client(server)
            try watcher.line("SUB $JOB.q.> 9")
            try watcher.line("SUB probe 8")
            try watcher.sync()
            return watcher
        }
        for (index, watcher) in watchers.enumerated() {
            for other in servers.indices where other != index { try awaitFlow(try client(servers[other]), watcher, subject: "probe", sid: "8") }
        }

        let jobs = 60
        let producer = try client(servers[0])
        for _ in 0..<jobs { try producer.send("ENQ q 3\r\njob\r\n") }
        for _ in 0..<jobs { #expect(try producer.readLine().hasPrefix("+OK ")) }
        let record = Record()
        let deadline = Date().addingTimeInterval(30)
        startWorkers(4, queue: "q", on: Array(servers[1...]), record: record) { record.ids.count < jobs && Date() < deadline }
        #expect(record.waitForFinish(count: 4, timeout: 40))
        #expect(record.failures.isEmpty, "\(record.failures)")
        #expect(Set(record.ids).count == jobs)

        for (index, watcher) in watchers.enumerated() {
            watcher.timeout = 1
            var seqs: [Int] = []
            var kinds: [String: Int] = [:]
            while let line = try? watcher.readLine() {
                guard line.hasPrefix("MSG $JOB.q.") else { continue }
                let event = try JSONSerialization.jsonObject(with: Data(try watcher.readLine().utf8)) as? [String: Any]
                seqs.append(event?["seq"] as? Int ?? -1)
                kinds[event?["event"] as? String ?? "?", default: 0] += 1
            }
            #expect(seqs.sorted() == Array(1...(3 * jobs)), "node \(index): each event once, without gaps (\(seqs.count) events)")
            #expect(kinds == ["enqueued": jobs, "started": jobs, "completed": jobs], "node \(index): \(kinds)")
        }

        try expectOneJobPerMessage(routedOn: producer, publishedOn: try client(servers[1]), countedOn: watchers[2])
        for server in servers { #expect(server.stop() == 0) }
    }
}
