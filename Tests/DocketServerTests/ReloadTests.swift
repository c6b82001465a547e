import DocketTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SIGHUP reads the configuration again, as nats-server's reload does: users, passwords,
/// permissions and the token change for new and connected clients alike, without a restart.
@Suite struct ReloadTests {
    func login(_ server: DocketdProcess, _ user: String, _ password: String) throws -> LineClient {
        let client = try server.client()
        _ = try client.readLine()  // INFO
        try client.send(#"CONNECT {"verbose":false,"user":"\#(user)","pass":"\#(password)"}"# + "\r\nPING\r\n")
        return client
    }

    func reload(_ server: DocketdProcess, _ config: URL, _ text: String) throws {
        let before = server.log.lines.filter { $0.contains("SIGHUP") }.count
        try text.write(to: config, atomically: true, encoding: .utf8)
        kill(server.pid, SIGHUP)
        let deadline = Date().addingTimeInterval(10)
        while server.log.lines.filter({ $0.contains("SIGHUP") }).count == before && Date() < deadline { usleep(10_000) }
    }

    @Test func usersPasswordsAndPermissionsChangeForConnectedClients() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        try """
            authorization { users = [
              { user: alice, password: one, permissions: { publish: "orders.>", subscribe: ">" } }
              { user: bob, password: two }
              { user: dave, password: four }
            ] }
            """.write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        let alice = try login(server, "alice", "one")
        let bob = try login(server, "bob", "two")
        let dave = try login(server, "dave", "four")
        for client in [alice, bob, dave] { #expect(try client.readLine() == "PONG") }
        try alice.send("SUB secret.plans 1\r\nSUB news 2\r\nPING\r\n")
        #expect(try alice.readLine() == "PONG")
        // Not yet a user.
        let early = try login(server, "carol", "three")
        #expect(try early.readLine() == "-ERR 'Authorization Violation'")

        try reload(server, config, """
            authorization { users = [
              { user: alice, password: one, permissions: { publish: "billing.>", subscribe: { deny: "secret.>" } } }
              { user: carol, password: three }
              { user: dave, password: changed }
            ] }
            """)
        #expect(server.log.lines.contains { $0.contains("SIGHUP: reloaded") }, "\(server.log.text)")
        // bob is gone and dave's password changed: both are closed.
        #expect(try bob.readLine() == "-ERR 'Authorization Violation'")
        #expect(try dave.readLine() == "-ERR 'Authorization Violation'")
        // carol may log in now, with the new password only for dave.
        #expect(try login(server, "carol", "three").readLine() == "PONG")
        #expect(try login(server, "dave", "four").readLine() == "-ERR 'Authorization Violation'")
        #expect(try login(server, "dave", "changed").readLine() == "PONG")
        // alice stays, with her new rights: the old subject is refused, the new one allowed,
        // and the subscription they no longer allow is gone.
        try alice.send("PUB orders.new 1\r\nx\r\nPING\r\n")
        #expect(try alice.readLine() == #"-ERR 'Permissions Violation for Publish to "orders.new"'"#)
        #expect(try alice.readLine() == "PONG")
        let carol = try login(server, "carol", "three")
        #expect(try carol.readLine() == "PONG")
        try carol.send("PUB secret.plans 1\r\ns\r\nPUB news 1\r\nn\r\nPING\r\n")
        #expect(try carol.readLine() == "PONG")
        try alice.send("PUB billing.x 1\r\nb\r\nPING\r\n")
        #expect(try alice.readLine() == "MSG news 2 1")
        #expect(try alice.readLine() == "n")
        #expect(try alice.readLine() == "PONG")
    }

    /// README, "Users and permissions": job rights (`docket { permissions }`) follow the file at
    /// a reload too, for a client already connected, as subject permissions do.
    @Test func jobRightsChangeForAConnectedClient() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        func file(_ rights: String) -> String {
            "authorization { users = [ { user: webapp, password: one } ] }\ndocket { permissions { webapp: { \(rights) } } }\n"
        }
        try file("enqueue: emails").write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        let webapp = try login(server, "webapp", "one")
        #expect(try webapp.readLine() == "PONG")
        try webapp.send("ENQ billing 1\r\nx\r\n")
        #expect(try webapp.readLine() == "-ERR 'FORBIDDEN user webapp may not enqueue on queue billing'")

        try reload(server, config, file("enqueue: billing"))
        #expect(server.log.lines.contains { $0.contains("SIGHUP: reloaded") }, "\(server.log.text)")
        try webapp.send("ENQ billing 1\r\nx\r\nENQ emails 1\r\nx\r\n")
        #expect(try webapp.readLine().hasPrefix("+OK "))
        #expect(try webapp.readLine() == "-ERR 'FORBIDDEN user webapp may not enqueue on queue emails'")
    }

    @Test func aConfigurationThatNoLongerParsesLeavesEverythingAsItWas() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        try #"authorization { token: "s3cret" }"#.write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.readLine()
        try client.send(#"CONNECT {"verbose":false,"auth_token":"s3cret"}"# + "\r\nPING\r\n")
        #expect(try client.readLine() == "PONG")
        try reload(server, config, "authorization { token: ")
        // The line says what is wrong and where, in the words a start would use.
        let refusal = server.log.lines.first { $0.contains("SIGHUP: the configuration was not reloaded") }
        #expect(refusal?.contains("the server goes on as it was: \(config.path):1:") == true, "\(server.log.text)")
        #expect(refusal?.contains(": Parse error: expected a value") == true, "\(server.log.text)")
        #expect(refusal?.contains("CommandError") == false, "\(server.log.text)")
        try client.send("PING\r\n")
        #expect(try client.readLine() == "PONG")
        // A new token closes the clients that proved the old one.
        try reload(server, config, #"authorization { token: "n3w" }"#)
        #expect(try client.readLine() == "-ERR 'Authorization Violation'")
    }

    /// README: the monitoring port asks for the client port's credentials, and a reload changes
    /// who may log in at once. It kept the users it started with: the old password read
    /// `/connz`, the new one got 401, and users added to a server started without any were
    /// not asked for at all.
    @Test func theMonitoringPortTakesTheReloadedUsers() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        try "http_port: 0\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        /// The status of a GET of /connz, with these Basic credentials (nil: none).
        func connz(_ credentials: String?) throws -> String {
            guard let port = server.httpPort else { throw HarnessError("no monitoring port") }
            let client = try LineClient(port: port)
            let authorization = credentials.map { "Authorization: Basic \(Data($0.utf8).base64EncodedString())\r\n" } ?? ""
            try client.send("GET /connz HTTP/1.1\r\nHost: 127.0.0.1\r\n\(authorization)\r\n")
            return String(String(decoding: try client.readUntilClosed(), as: UTF8.self).prefix(12))
        }
        #expect(try connz(nil) == "HTTP/1.1 200")
        try reload(server, config, "http_port: 0\nauthorization { users = [ { user: ops, password: one } ] }\n")
        #expect(try connz(nil) == "HTTP/1.1 401")
        #expect(try connz("ops:one") == "HTTP/1.1 200")
        try reload(server, config, "http_port: 0\nauthorization { users = [ { user: ops, password: two } ] }\n")
        #expect(try connz("ops:one") == "HTTP/1.1 401")
        #expect(try connz("ops:two") == "HTTP/1.1 200")
    }

    @Test func noAuthUserAndTheLogLevelFollowTheFile() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        let users = "authorization { users = [ { user: guest, password: g } ] }\n"
        try (users + "no_auth_user: guest\n").write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        let anonymous = try server.client()
        _ = try anonymous.readLine()
        try anonymous.send(#"CONNECT {"verbose":false}"# + "\r\nPING\r\n")
        #expect(try anonymous.readLine() == "PONG")
        let named = try login(server, "guest", "g")
        #expect(try named.readLine() == "PONG")
        #expect(!server.log.text.contains("[TRC]"))
        // Without no_auth_user the client that proved nothing goes; the one that logged in stays.
        try reload(server, config, users + "trace: true\n")
        #expect(try anonymous.readLine() == "-ERR 'Authorization Violation'")
        try named.send("PING\r\n")
        #expect(try named.readLine() == "PONG")
        // trace: true took effect: the PING just sent is in the log.
        #expect(server.log.waitForLine(containing: "<<- [PING]", timeout: 5) != nil, "\(server.log.text)")
    }

    /// The pid file and the ports file are written once, at start: a reload that names others
    /// says they wait for the next start, and the files written stay where they are.
    @Test func aNewPidFileOrPortsDirectoryWaitsForTheNextStart() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("docketd.conf")
        try "pid_file: \"\(folder.path)/a.pid\"\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        #expect(try String(contentsOfFile: folder.path + "/a.pid", encoding: .utf8) == String(server.pid))
        try reload(server, config, "pid_file: \"\(folder.path)/b.pid\"\nports_file_dir: \"\(folder.path)\"\n")
        #expect(server.log.lines.contains { $0.contains("applied only at the next start: pid_file, ports_file_dir") }, "\(server.log.text)")
        #expect(FileManager.default.fileExists(atPath: folder.path + "/a.pid") && !FileManager.default.fileExists(atPath: folder.path + "/b.pid"))
    }

    /// The limits that became configuration keys this session are read at start: a reload that
    /// changes them names each, instead of saying nothing.
    @Test func newShutdownAndHTTPLimitsWaitForTheNextStart() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        try "docket { shutdown_grace: 5s }\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        try reload(server, config, "docket { shutdown_grace: 9s, http_max_body: 2KiB, refusal_linger: 0 }\n")
        #expect(
            server.log.lines.contains { $0.contains("applied only at the next start: refusal_linger, shutdown_grace, http_max_body") },
            "\(server.log.text)")
    }

    /// The batch, schedule, route-table and waiting-request limits, lame duck's timing, the node and
    /// store timeouts and the nats cluster link's settings are read at start: a reload that
    /// changes them says so. They were neither applied nor named.
    @Test func limitsTimeoutsAndTheClusterLinkWaitForTheNextStart() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        try "docket { max_batch: 10 }\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        try reload(
            server, config,
            """
            lame_duck_duration: 30s
            lame_duck_grace_period: 3s
            docket {
              max_batch: 20, max_batch_bytes: 1MiB, max_schedules: 5, max_routes: 7, max_waiting_requests: 9
              node_timeout: 20s, store_timeout: 20s
              cluster_nats: "nats://127.0.0.1:1", cluster_max_pending: 1MiB, cluster_ping_interval: 2s
            }

            """)
        let expected = [
            "max_schedules", "max_routes", "max_batch", "max_batch_bytes", "max_waiting_requests", "lame_duck_duration",
            "lame_duck_grace_period", "node_timeout", "store_timeout", "cluster_nats", "cluster_max_pending", "cluster_ping_interval",
        ]
        #expect(
            server.log.lines.contains { $0.contains("applied only at the next start: \(expected.joined(separator: ", "))") },
            "\(server.log.text)")
    }

    /// `max_flow_depth` is read at start: a reload that changes it says so, and the limit stays.
    @Test func aNewFlowDepthWaitsForTheNextStart() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        try "docket { max_flow_depth: 1 }\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        try reload(server, config, "docket { max_flow_depth: 5 }\n")
        #expect(server.log.lines.contains { $0.contains("applied only at the next start: max_flow_depth") }, "\(server.log.text)")
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ a 1\r\nx\r\n")
        let parent = try client.readLine().dropFirst(4)
        try client.send("ENQ b after=\(parent) 1\r\nx\r\n")
        #expect(try client.readLine() == "-ERR 'LIMIT the job would be 2 deep in its flow, and 1 may be (--max-flow-depth)'")
    }

    /// `min_disk_free` applies at a reload: raised past what the disk has free, ENQ is refused
    /// (`STORE_FULL`); lowered again, it is taken. Before, the room changed only at a restart.
    @Test func aNewMinDiskFreeAppliesAtOnce() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        try "docket { min_disk_free: 1MB }\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        var disk = statvfs()
        guard statvfs(server.dataDirectory.path, &disk) == 0, Int(disk.f_bavail) * Int(disk.f_frsize) < 1 << 40 else {
            print("aNewMinDiskFreeAppliesAtOnce skipped: the disk has 1 TiB free or cannot be read")
            return
        }
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ q 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK 1")
        try reload(server, config, "docket { min_disk_free: 1TB }\n")
        try client.send("ENQ q 1\r\nx\r\n")
        let refused = try client.readLine()
        #expect(refused.hasPrefix("-ERR 'STORE_FULL") && refused.contains("keeps 1048576.0 MiB"), "\(refused)")
        #expect(!server.log.lines.contains { $0.contains("applied only at the next start") }, "\(server.log.text)")
        try reload(server, config, "docket { min_disk_free: 1MB }\n")
        try client.send("ENQ q 1\r\nx\r\n")
        #expect(try client.readLine() == "+OK 2")
    }

    /// `cluster { ping_interval, ping_max }` apply at a reload: a peer that stops answering
    /// (SIGSTOP) is taken for stale after the new interval and count, not after the 30 s
    /// interval the node started with.
    @Test func newRoutePingSettingsApplyAtOnce() throws {
        let routePort = try freeLoopbackPort()
        let peer = try DocketdProcess(["--cluster", "nats://127.0.0.1:\(routePort)"])
        defer {
            kill(peer.pid, SIGCONT)
            _ = peer.stop()
        }
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("docket-reload-\(UUID().uuidString).conf")
        defer { try? FileManager.default.removeItem(at: config) }
        let cluster = { (interval: String, max: Int) in
            "cluster { routes: [\"nats://127.0.0.1:\(routePort)\"], ping_interval: \"\(interval)\", ping_max: \(max) }\n"
        }
        try cluster("30s", 2).write(to: config, atomically: true, encoding: .utf8)
        let node = try DocketdProcess(["-c", config.path])
        defer { _ = node.stop() }
        #expect(node.log.waitForLine(containing: "Route connection created with", timeout: 10) != nil, "\(node.log.text)")
        kill(peer.pid, SIGSTOP)
        try reload(node, config, cluster("1s", 1))
        #expect(node.log.lines.contains { $0.contains("SIGHUP: routes are pinged every 1000 ms, and stale after 1 unanswered") }, "\(node.log.text)")
        #expect(node.log.waitForLine(containing: "Stale Route Connection", timeout: 10) != nil, "\(node.log.text)")
    }
}
