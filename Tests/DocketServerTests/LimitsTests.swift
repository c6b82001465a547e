import DocketTestSupport
import Foundation
import Testing

/// Bad input and limits: each gets its documented reply, and everyone else keeps being served.
@Suite struct LimitsTests {
    @Test func payloadOverTheLimitIsRefusedBeforeItIsRead() throws {
        let server = try DocketdProcess(["--max-payload", "8"])
        let bystander = try server.client()
        _ = try bystander.handshake()
        let client = try server.client()
        _ = try client.handshake()
        try client.line("PUB foo 9")
        #expect(try client.readLine() == "-ERR 'Maximum Payload Violation'")
        _ = try client.readUntilClosed()
        #expect(try bystander.sync() == [])
    }

    @Test func controlLineOverTheLimitCloses() throws {
        let server = try DocketdProcess(["--max-control-line", "64"])
        let client = try server.client()
        _ = try client.handshake()
        try client.line("SUB " + String(repeating: "a", count: 60) + " 1")
        #expect(try client.readLine() == "-ERR 'maximum control line exceeded'")
        _ = try client.readUntilClosed()
        #expect(server.log.waitForLine(containing: "maximum control line exceeded", timeout: 5) != nil)
    }

    @Test func junkGetsUnknownOperationAndASanitizedLog() throws {
        let server = try DocketdProcess()
        let bystander = try server.client()
        _ = try bystander.handshake()
        let client = try server.client()
        _ = try client.readLine()
        try client.send([0xFF, 0xFE, 0x00, 0x41, 0x0D, 0x0A])
        #expect(try client.readLine() == "-ERR 'Unknown Protocol Operation'")
        _ = try client.readUntilClosed()
        #expect(server.log.waitForLine(containing: #"proto='\xff\xfe\x00A\r\n'"#, timeout: 5) != nil)
        #expect(try bystander.sync() == [])
    }

    @Test func argumentErrorsSayWhatIsWrong() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.readLine()
        try client.line("PUB foo bar baz 1")
        #expect(try client.readLine() == "-ERR 'Invalid Protocol: PUB needs <subject> [reply-to] <#bytes>'")
        _ = try client.readUntilClosed()
    }

    @Test func badSubjectsAreNotFatal() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.readLine()
        try client.line("SUB foo..bar 1")
        #expect(try client.readLine() == "-ERR 'Invalid Subject'")
        try client.line("PUB foo.* 1\r\nx")
        #expect(try client.readLine() == "-ERR 'Invalid Publish Subject'")
        #expect(try client.readLine() == "+OK")
        try client.line(#"CONNECT {"verbose":true,"pedantic":false}"#)
        #expect(try client.readLine() == "+OK")
        try client.line("PUB foo.* 1\r\nx")
        #expect(try client.readLine() == "+OK")
        #expect(try client.sync() == [])
    }

    @Test func connectErrorsClose() throws {
        for (options, expected) in [
            (#"{"protocol":2}"#, "-ERR 'invalid client protocol'"),
            (#"{"no_responders":true}"#, "-ERR 'no responders requires headers support'"),
            (#"{"verbose":"#, "-ERR 'Invalid Protocol: CONNECT needs a JSON object'"),
        ] {
            let server = try DocketdProcess()
            let client = try server.client()
            _ = try client.readLine()
            try client.line("CONNECT \(options)")
            #expect(try client.readLine() == expected)
            _ = try client.readUntilClosed()
        }
    }

    @Test func hpubWithoutHeadersNegotiatedCloses() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        try client.send("HPUB h 12 12\r\nNATS/1.0\r\n\r\n\r\n")
        #expect(try client.readLine() == "-ERR 'Headers Not Negotiated'")
        _ = try client.readUntilClosed()
    }

    @Test func connectionsBeyondTheLimitAreRefused() throws {
        let server = try DocketdProcess(["--max-connections", "2"])
        var first: LineClient? = try server.client()
        let second = try server.client()
        _ = try first!.handshake()
        _ = try second.handshake()
        let third = try server.client()
        // As nats-server: INFO first, so that a client's handshake reads why it is refused.
        #expect(try third.readLine().hasPrefix("INFO {"))
        #expect(try third.readLine() == "-ERR 'maximum connections exceeded'")
        _ = try third.readUntilClosed()
        try first!.sync()
        first = nil
        // The slot frees up once the server has seen the close.
        var admitted = false
        for _ in 0..<100 where !admitted {
            let next = try server.client()
            admitted = try next.readLine().hasPrefix("INFO")
            if !admitted { usleep(10_000) }
        }
        #expect(admitted)
    }

    /// A refused client that writes its CONNECT (and more) after the refusal went out, as
    /// nats.py does, must still read the refusal: the server reads and drops its bytes rather
    /// than closing under them (a close with unread bytes resets the connection, and the
    /// client's next write fails with "connection reset").
    @Test func aRefusedClientThatKeepsWritingReadsWhy() throws {
        let server = try DocketdProcess(["--max-connections", "1"])
        let holder = try server.client()
        _ = try holder.handshake()
        for _ in 0..<5 {
            let refused = try server.client()
            #expect(try refused.readLine().hasPrefix("INFO {"))
            try refused.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
            usleep(50_000)
            try refused.send("SUB a 1\r\nPING\r\n")
            #expect(try refused.readLine() == "-ERR 'maximum connections exceeded'")
            _ = try refused.readUntilClosed()
        }
        #expect(try holder.sync() == [])
    }

    /// The server keeps a refused connection open at most `--refusal-linger`, however its
    /// client trickles bytes in. (Its side is shut at once, so the client reads the end after
    /// the error; that its socket is closed shows when a write comes back reset.)
    @Test func aRefusedConnectionLingersNoLongerThanTheLimit() throws {
        let server = try DocketdProcess(["--max-connections", "1", "--refusal-linger", "400ms"])
        let holder = try server.client()
        _ = try holder.handshake()
        let refused = try server.client()
        let start = Date()
        #expect(try refused.readLine().hasPrefix("INFO {"))
        #expect(try refused.readLine() == "-ERR 'maximum connections exceeded'")
        #expect(try refused.readUntilClosed().isEmpty)
        // A byte every 50 ms: each read restarts libevent's timeout, not the deadline.
        while Self.stillTakes(refused) && Date().timeIntervalSince(start) < 3 {}
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.3, "closed after \(elapsed) s: before its client could read the refusal")
        #expect(elapsed < 1.5, "closed after \(elapsed) s")
        #expect(try holder.sync() == [])
    }

    /// Lingering refusals are bounded in number: past `--max-refusals-lingering` the oldest
    /// is closed, so a flood of refused connections does not hold descriptors.
    @Test func lingeringRefusalsAreBoundedInNumber() throws {
        let server = try DocketdProcess(["--max-connections", "1", "--refusal-linger", "20s", "--max-refusals-lingering", "2"])
        let holder = try server.client()
        _ = try holder.handshake()
        var refused: [LineClient] = []
        for _ in 0..<3 {
            let client = try server.client()
            #expect(try client.readLine().hasPrefix("INFO {"))
            #expect(try client.readLine() == "-ERR 'maximum connections exceeded'")
            refused.append(client)
        }
        // The first made room for the third; the other two wait for their clients.
        #expect(!Self.stillTakes(refused[0]) || !Self.stillTakes(refused[0]))
        #expect(Self.stillTakes(refused[1]) && Self.stillTakes(refused[1]))
        #expect(Self.stillTakes(refused[2]) && Self.stillTakes(refused[2]))
        #expect(try holder.sync() == [])
    }

    /// What a refused client still sends is read and dropped up to `--refusal-drain`; past it
    /// the socket is closed, however long `--refusal-linger` would keep it.
    @Test func aRefusedConnectionIsClosedPastItsDrainBound() throws {
        let server = try DocketdProcess(["--max-connections", "1", "--refusal-linger", "20s", "--refusal-drain", "1KiB"])
        let holder = try server.client()
        _ = try holder.handshake()
        let within = try server.client()
        let past = try server.client()
        for client in [within, past] {
            #expect(try client.readLine().hasPrefix("INFO {"))
            #expect(try client.readLine() == "-ERR 'maximum connections exceeded'")
        }
        try within.send(String(repeating: "x", count: 512))
        try past.send(String(repeating: "x", count: 2048))
        usleep(200_000)
        #expect(Self.stillTakes(within) && Self.stillTakes(within))
        #expect(!Self.stillTakes(past) || !Self.stillTakes(past))
        #expect(try holder.sync() == [])
    }

    @Test(arguments: [
        (["--refusal-linger", "soon"], "--refusal-linger must be a duration"),
        (["--refusal-drain", "lots"], "--refusal-drain must be a size"),
        (["--max-refusals-lingering=-1"], "--max-refusals-lingering must be 0 or more"),
    ])
    func refusalLimitsThatMakeNoSenseRefuseTheStart(_ flags: [String], _ message: String) throws {
        let (status, output) = try DocketdProcess.runToExit(["--port", "0"] + flags)
        #expect(status != 0)
        #expect(output.contains(message), "\(output)")
    }

    /// Whether the server still reads `client`'s bytes: one is sent, and 50 ms later another,
    /// which fails once the first came back reset (the server's socket is closed).
    static func stillTakes(_ client: LineClient) -> Bool {
        guard (try? client.send("P")) != nil else { return false }
        usleep(50_000)
        return (try? client.send("P")) != nil
    }

    @Test func subscriptionLimitIsNotFatal() throws {
        let server = try DocketdProcess(["--max-subscriptions", "2"])
        let client = try server.client()
        _ = try client.handshake()
        try client.line("SUB a 1")
        try client.line("SUB b 2")
        try client.line("SUB c 3")
        #expect(try client.sync() == ["-ERR 'maximum subscriptions exceeded'"])
    }

    @Test func subscriptionMemoryIsBoundedForAllConnectionsTogether() throws {
        // 8 KiB: four subscriptions of 1,450-byte subjects (1,450 + sid + 512 each), then none.
        let server = try DocketdProcess(["--max-subscription-memory", "8KiB"])
        let greedy = try server.client()
        _ = try greedy.handshake()
        let long = String(repeating: "s", count: 1_448)
        for sid in 1...4 { try greedy.line("SUB \(long).\(sid) \(sid)") }
        #expect(try greedy.sync() == [])
        try greedy.line("SUB \(long).5 5")
        #expect(try greedy.sync() == ["-ERR 'maximum subscriptions exceeded'"])
        // Another connection finds the room taken too, and keeps working.
        let other = try server.client()
        _ = try other.handshake()
        try other.line("SUB short 1")
        #expect(try other.sync() == ["-ERR 'maximum subscriptions exceeded'"])
        // The refused SUBs were not fatal: the subscriptions held still hear their messages.
        try other.line("PUB \(long).3 2\r\nhi")
        try other.sync()
        #expect(try greedy.sync() == ["MSG \(long).3 3 2", "hi"])
        // An UNSUB gives its room back.
        try greedy.line("UNSUB 1")
        try greedy.sync()
        try other.line("SUB short 1")
        #expect(try other.sync() == [])
    }

    @Test func slowConsumerIsCutOffWithoutSlowingOthers() throws {
        let server = try DocketdProcess(["--max-pending", "256KiB"])
        let stuck = try server.client()
        _ = try stuck.handshake()
        try stuck.line("SUB firehose 1")
        try stuck.sync()
        let healthy = try server.client()
        _ = try healthy.handshake()
        try healthy.line("SUB firehose 1")
        try healthy.sync()
        let publisher = try server.client()
        _ = try publisher.handshake()
        // 16 MiB towards a subscriber that reads nothing: far more than its socket buffers
        // and its 256 KiB allowance together. The healthy one reads 64 KiB after each batch.
        let payload = String(repeating: "x", count: 4000)
        var batch = ""
        for _ in 0..<16 { batch += "PUB firehose 4000\r\n\(payload)\r\n" }
        var healthyCount = 0
        for _ in 0..<256 {
            try publisher.send(batch)
            try publisher.sync()
            healthyCount += try healthy.sync().count / 2
        }
        #expect(healthyCount == 256 * 16)
        #expect(server.log.waitForLine(containing: "Slow Consumer Detected", timeout: 5) != nil)
        _ = try stuck.readUntilClosed()
    }

    /// A WAIT for a finished job answers with its whole result: a few kilobytes of them,
    /// pipelined by a client that reads nothing, must not queue their replies' gigabytes
    /// before the output limit is looked at.
    @Test func pipelinedLargeRepliesAreCutOffAtTheOutputLimitNotAfterTheRead() throws {
        let server = try DocketdProcess(["--max-payload", "256KiB", "--max-pending", "1MiB"])
        let worker = try server.client()
        _ = try worker.handshake()
        try worker.send("ENQ big 1\r\nx\r\nRESERVE big\r\n")
        #expect(try worker.readLine() == "+OK 1")
        #expect(try worker.readLine().hasPrefix("JOB 1 big 1 "))
        #expect(try worker.readLine() == "x")
        let result = String(repeating: "r", count: 256 << 10)
        try worker.send("ACK 1 \(result.utf8.count)\r\n\(result)\r\n")
        #expect(try worker.readLine() == "+OK")
        func peakKiB() throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
            return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        }
        let before = try peakKiB()
        let greedy = try server.client()
        _ = try greedy.handshake()
        // 400 WAITs in 4 KB: 100 MiB of replies if all were queued.
        try greedy.send(String(repeating: "WAIT 1\r\n", count: 400))
        #expect(server.log.waitForLine(containing: "Slow Consumer Detected: pending output over", timeout: 5) != nil)
        #expect(try worker.sync() == [])
        let grown = try peakKiB() - before
        #expect(grown < 16 << 10, "the server's peak RSS grew by \(grown) KiB")
    }

    @Test func aSocketThatTakesNothingIsCutOffAtTheWriteDeadline() throws {
        // Pending output is allowed to grow (64 MiB), so only the deadline can end this.
        let server = try DocketdProcess(["--write-deadline", "300ms"])
        let stuck = try server.client()
        _ = try stuck.handshake()
        try stuck.line("SUB firehose 1")
        try stuck.sync()
        let publisher = try server.client()
        _ = try publisher.handshake()
        let payload = String(repeating: "z", count: 8000)
        var batch = ""
        for _ in 0..<64 { batch += "PUB firehose 8000\r\n\(payload)\r\n" }
        // 16 MiB: more than the kernel buffers of both sockets hold.
        for _ in 0..<32 { try publisher.send(batch) }
        try publisher.sync()
        #expect(server.log.waitForLine(containing: "write deadline of 300 ms exceeded", timeout: 10) != nil)
        try publisher.send("PUB firehose 1\r\nx\r\n")
        #expect(try publisher.sync() == [])
    }

    /// A connection blocked in RESERVE is not pinged (it reads nothing until served), so the
    /// kernel probes it instead, on the pings' timing: a worker's host that vanishes without a
    /// close would otherwise hold its place, and be handed the next job, for ever.
    @Test func aBlockedConnectionIsWatchedByTCPKeepalive() throws {
        let server = try DocketdProcess(["--ping-interval", "7s"])
        let worker = try server.client()
        _ = try worker.handshake()
        try worker.line("RESERVE nothing-comes")
        usleep(200_000)
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(worker.fd, $0, &length) }
        }
        let clientPort = Int(UInt16(bigEndian: address.sin_port))
        // The server's end: local port the server's, remote port ours. Its timer column reads
        // "02:<ticks>" while a keepalive timer runs (ticks in hundredths of a second).
        // Read to its end: a /proc file reports no size, and with many sockets open (a full
        // parallel test run) a read of a guessed size can stop short of the row.
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/net/tcp"))
        let table = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        try handle.close()
        let fields = try #require(
            table.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }.first {
                $0.count > 5 && $0[1].hasSuffix(String(format: ":%04X", server.port)) && $0[2].hasSuffix(String(format: ":%04X", clientPort))
            })
        let timer = fields[5].split(separator: ":")
        #expect(timer.first == "02", "the server's socket runs no keepalive timer: \(fields[5])")
        let ticks = Int(timer.last ?? "", radix: 16) ?? -1
        #expect(ticks > 0 && ticks <= 700, "the keepalive's first probe is not within the ping interval: \(ticks) ticks")
    }

    @Test func staleClientsAreClosedAfterUnansweredPings() throws {
        let server = try DocketdProcess(["--ping-interval", "100ms", "--max-pings-out", "2"])
        let lively = try server.client()
        _ = try lively.handshake()
        let stalled = try server.client()
        _ = try stalled.handshake()
        // Half a command, then silence: the client is stuck, and only pings can tell.
        try stalled.send("PUB foo 10\r\nabc")
        #expect(try stalled.readLine() == "PING")
        #expect(try lively.readLine() == "PING")
        try lively.line("PONG")
        #expect(try stalled.readLine() == "PING")
        #expect(try lively.readLine() == "PING")
        try lively.line("PONG")
        #expect(try stalled.readLine() == "-ERR 'Stale Connection'")
        _ = try stalled.readUntilClosed()
        #expect(try lively.readLine() == "PING")
        try lively.line("PONG")
        let lines = try lively.sync()
        #expect(lines.allSatisfy { $0 == "PING" })
    }
}
