import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// The Swift client and the `docket` tool over TLS, against docketd with TLS.
@Suite struct TLSTests {
    /// A TLS connection trusting `pki`'s CA.
    static func connect(
        _ server: DocketdProcess, _ pki: TestPKI, host: String = "127.0.0.1", options: DocketConnection.Options = .init()
    ) throws(DocketError) -> DocketConnection {
        var options = options
        if options.tls == nil { options.tls = DocketConnection.TLSOptions(caFile: pki.ca) }
        return try DocketConnection("tls://\(host):\(server.port)", options: options)
    }

    /// A key every user of the machine can read is warned of at start; one kept to its owner
    /// (or its group) is not.
    @Test func aWorldReadableKeyIsWarnedOf() throws {
        let pki = try TestPKI()
        let key = pki.path("server.key")
        for (mode, warned) in [(0o644, true), (0o640, false)] {
            #expect(chmod(key, mode_t(mode)) == 0)
            let server = try DocketdProcess(pki.serverFlags())
            #expect(server.log.text.contains("the key file \(key) can be read by every user") == warned, "mode \(String(mode, radix: 8))")
            #expect(server.stop() == 0)
        }
    }

    @Test func pubSubRequestsAndJobsOverTLS() throws {
        let pki = try TestPKI()
        try withServer(pki.serverFlags()) { server in
            let client = try Self.connect(server, pki)
            defer { client.close() }
            #expect(client.tlsVersion?.hasPrefix("TLS") == true)
            #expect(client.info["tls_required"]?.boolValue == true)

            // A payload larger than one TLS record (16 KiB) both ways, and many small ones.
            let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let subscription = try client.subscribe("tls.>")
            try client.publish("tls.big", big)
            let received = try subscription.next(timeout: 5)
            #expect(received.subject == "tls.big")
            #expect(received.payload == big)
            let count = 5_000
            for index in 0..<count { try client.publish("tls.small", "m\(index)") }
            for index in 0..<count {
                let message = try subscription.next(timeout: 5)
                if message.text != "m\(index)" {
                    Issue.record("message \(index) was \(message.text)")
                    break
                }
            }
            // Request/reply, the handler answering on the same connection.
            try client.subscribe("svc.upper") { message in
                if let reply = message.reply { try? client.publish(reply, message.text.uppercased()) }
            }
            #expect(try client.request("svc.upper", "over tls", timeout: 5).text == "OVER TLS")

            // A job cycle with a large payload and result, while another connection waits for it.
            let waiter = try Self.connect(server, pki, host: "localhost")
            defer { waiter.close() }
            let id = try client.enqueue("tls-jobs", big).id
            let outcome = Locked<WaitOutcome?>(nil)
            background { outcome.withLock { $0 = try? waiter.wait(id, timeout: 10) } }
            let job = try #require(try client.reserve("tls-jobs", timeout: 5))
            #expect(job.id == id)
            #expect(job.payload == big)
            let result = Array(big.prefix(40_000).reversed())
            try client.ack(job.id, attempt: job.attempt, result: result)
            #expect(eventually(timeout: 5) { outcome.current != nil })
            #expect(outcome.current == .completed(result: result))
            // Pipelined: many small jobs.
            let enqueued = try client.enqueueMany("tls-many", (0..<1_000).map { Array("job \($0)".utf8) })
            #expect(Set(enqueued.map(\.id)).count == 1_000)
            #expect(try client.stats()["connections"]?.int == 2)
        }
    }

    /// Writing while the server writes back on the same TLS connection: the writer must let
    /// the reader use the session while it waits for room, or both sides stall.
    @Test func bulkBothWaysOnOneTLSConnection() throws {
        let pki = try TestPKI()
        try withServer(pki.serverFlags()) { server in
            let client = try Self.connect(server, pki)
            defer { client.close() }
            let echo = try client.subscribe("bulk")
            let chunk = [UInt8](repeating: 0x5a, count: 512 * 1024)
            let rounds = 48
            let started = Date()
            for _ in 0..<rounds { try client.publish("bulk", chunk) }
            try client.flush(timeout: 10)
            for _ in 0..<rounds { #expect(try echo.next(timeout: 5).payload.count == chunk.count) }
            #expect(echo.dropped == 0)
            #expect(Date().timeIntervalSince(started) < 8)
        }
    }

    /// A write into a connection the server reset must come back as an error, not as a
    /// SIGPIPE that kills the process (OpenSSL's socket BIO would use write(2)).
    @Test func aServerThatDiesMidWriteDoesNotKillTheProcess() throws {
        let pki = try TestPKI()
        let server = try DocketdProcess(pki.serverFlags())
        defer { server.stop(timeout: 5) }
        let client = try Self.connect(server, pki, options: .init(reconnect: false))
        defer { client.close(flush: false) }
        let done = Locked<DocketError?>(nil)
        let chunk = [UInt8](repeating: 1, count: 256 * 1024)
        background {
            while true {
                if let error = failure({ () throws(DocketError) in try client.publish("nobody.listens", chunk) }) {
                    done.withLock { $0 = error }
                    return
                }
            }
        }
        usleep(100_000)
        server.crash()
        #expect(eventually(timeout: 5) { done.current != nil })
        #expect(client.isClosed || !client.isConnected)
    }

    @Test func aServerCertificateThatDoesNotVerifyFails() throws {
        let pki = try TestPKI()
        try withServer(pki.serverFlags()) { server in
            // Another CA.
            let wrongCA = failure { () throws(DocketError) in _ = try Self.connect(server, pki, options: .init(tls: .init(caFile: pki.otherCA))) }
            guard case .tlsFailed(let text)? = wrongCA else { Issue.record("wrong CA: \(String(describing: wrongCA))"); return }
            #expect(text.contains("certificate verify failed"))
            #expect(text.contains(pki.otherCA))
            #expect(wrongCA?.isTLS == true)
            // The right CA, the wrong name.
            let wrongName = failure { () throws(DocketError) in
                _ = try Self.connect(server, pki, options: .init(tls: .init(caFile: pki.ca, serverName: "docket.example")))
            }
            guard case .tlsFailed(let nameText)? = wrongName else { Issue.record("wrong name: \(String(describing: wrongName))"); return }
            #expect(nameText.contains("not for docket.example"))
            // No TLS settings: the server requires TLS, so the client upgrades, with the
            // system's CA store, which does not know this CA.
            let plain = failure { () throws(DocketError) in _ = try DocketConnection(server.address) }
            guard case .tlsFailed(let plainText)? = plain else { Issue.record("plain: \(String(describing: plain))"); return }
            #expect(plainText.contains("system's CA store"))
            // A CA file that is not there: nothing is even connected.
            let missing = failure { () throws(DocketError) in _ = try Self.connect(server, pki, options: .init(tls: .init(caFile: pki.path("absent.pem")))) }
            guard case .tlsConfiguration? = missing else { Issue.record("missing CA file: \(String(describing: missing))"); return }
        }
    }

    /// Numeric host names in the resolver's short forms (`127.1`, `2130706434`) are checked as
    /// the address they stand for; once, OpenSSL could not parse them and the name check was
    /// silently dropped, so any certificate from a trusted CA passed.
    @Test func numericServerNamesAreCheckedAsTheirAddress() throws {
        let pki = try TestPKI()
        try withServer(pki.serverFlags()) { server in
            // The certificate names IP 127.0.0.1.
            for name in ["127.2", "127.0.0.2", "2130706434", "10.1"] {
                let refused = failure { () throws(DocketError) in
                    _ = try Self.connect(server, pki, options: .init(tls: .init(caFile: pki.ca, serverName: name)))
                }
                guard case .tlsFailed? = refused else { Issue.record("\(name): \(String(describing: refused))"); continue }
            }
            for name in ["127.1", "127.0.1", "2130706433", "0x7f.1"] {
                _ = try Self.connect(server, pki, options: .init(tls: .init(caFile: pki.ca, serverName: name)))
            }
        }
    }

    @Test func askingForTLSFromAPlainServerFailsBeforeSendingAnything() throws {
        let pki = try TestPKI()
        try withServer { server in
            let error = failure { () throws(DocketError) in
                _ = try DocketConnection(
                    "tls://secret@\(server.address)", options: .init(tls: .init(caFile: pki.ca)))
            }
            guard case .tlsNotOffered(let text)? = error else { Issue.record("\(String(describing: error))"); return }
            #expect(text.contains("does not offer TLS"))
            // The server saw no CONNECT: it logs none (it would at debug level) and counts no
            // connection but this one once the refused socket is closed.
            let client = try DocketConnection(server.address)
            defer { client.close() }
            #expect(eventually(timeout: 5) { (try? client.stats()["connections"]?.int) == 1 })
            // The scheme alone asks for TLS too.
            if case .tlsNotOffered? = failure({ () throws(DocketError) in _ = try DocketConnection("tls://\(server.address)") }) {} else {
                Issue.record("tls:// without settings must ask for TLS")
            }
        }
    }

    @Test func mutualTLSWithAndWithoutAClientCertificate() throws {
        let pki = try TestPKI()
        try withServer(pki.serverFlags(verifyClients: true)) { server in
            let certified = DocketConnection.TLSOptions(
                caFile: pki.ca, certificateFile: pki.path("client.pem"), keyFile: pki.path("client.key"))
            let client = try Self.connect(server, pki, options: .init(tls: certified))
            defer { client.close() }
            #expect(client.info["tls_verify"]?.boolValue == true)
            #expect(try client.enqueue("mtls", "payload").id > 0)

            // No certificate: refused, and the error says a certificate is wanted.
            let none = failure { () throws(DocketError) in _ = try Self.connect(server, pki) }
            guard case .tlsFailed(let text)? = none else { Issue.record("no certificate: \(String(describing: none))"); return }
            #expect(text.contains("client certificate"))
            // A certificate the server's CA did not sign.
            let stranger = DocketConnection.TLSOptions(
                caFile: pki.ca, certificateFile: pki.path("stranger.pem"), keyFile: pki.path("stranger.key"))
            let refused = failure { () throws(DocketError) in _ = try Self.connect(server, pki, options: .init(tls: stranger)) }
            guard case .tlsFailed? = refused else { Issue.record("stranger: \(String(describing: refused))"); return }
            // The established connection is not disturbed by the refusals.
            #expect(try client.reserve("mtls", timeout: 0)?.text == "payload")
        }
    }

    @Test func handshakeFirst() throws {
        let pki = try TestPKI()
        try withServer(pki.serverFlags(handshakeFirst: true)) { server in
            let client = try Self.connect(server, pki, options: .init(tls: .init(caFile: pki.ca, handshakeFirst: true)))
            defer { client.close() }
            #expect(client.tlsVersion != nil)
            let subscription = try client.subscribe("first")
            try client.publish("first", "inside TLS from the first byte")
            #expect(try subscription.next(timeout: 5).text == "inside TLS from the first byte")
            #expect(try client.enqueue("hf", "x").id > 0)
            // Waiting for INFO from a server that waits for the handshake: no INFO in time.
            let late = failure { () throws(DocketError) in
                _ = try Self.connect(server, pki, options: .init(connectTimeout: .milliseconds(500), tls: .init(caFile: pki.ca)))
            }
            guard case .connectFailed(let text)? = late else { Issue.record("\(String(describing: late))"); return }
            #expect(text.contains("handshakeFirst"))
        }
        // Handshake first against a server that sends INFO first.
        try withServer(pki.serverFlags()) { server in
            let error = failure { () throws(DocketError) in _ = try Self.connect(server, pki, options: .init(tls: .init(caFile: pki.ca, handshakeFirst: true))) }
            guard case .tlsFailed(let text)? = error else { Issue.record("\(String(describing: error))"); return }
            #expect(text.contains("--tls-handshake-first"))
        }
    }

    @Test func reconnectsOverTLSAfterARestart() throws {
        let pki = try TestPKI()
        let first = try DocketdProcess(pki.serverFlags())
        var servers = [first]
        defer { for server in servers.reversed() { server.stop(timeout: 5) } }
        let client = try Self.connect(first, pki, options: .init(requestTimeout: 10))
        defer { client.close() }
        let feed = try client.subscribe("feed")
        try client.publish("feed", "before")
        #expect(try feed.next(timeout: 5).text == "before")
        let id = try client.enqueue("restart-tls", "durable").id
        try client.flush()

        first.stop()
        #expect(eventually(timeout: 5) { !client.isConnected })
        try client.publish("feed", "held")  // sent over the new TLS connection
        servers.append(try first.restart(pki.serverFlags()))
        #expect(eventually(timeout: 8) { client.isConnected })
        #expect(client.reconnects == 1)
        #expect(client.tlsVersion != nil)
        #expect(try feed.next(timeout: 5).text == "held")
        try client.publish("feed", "after")
        #expect(try feed.next(timeout: 5).text == "after")
        #expect(try client.reserve("restart-tls", timeout: 2)?.id == id)
    }

    @Test func theCommandLineToolOverTLS() throws {
        let pki = try TestPKI()
        try withServer(pki.serverFlags()) { server in
            let url = "tls://127.0.0.1:\(server.port)"
            let enq = try CLIRun(["enq", "cli-tls", "hello", "--server", url, "--tls-ca", pki.ca], server: server)
            #expect(enq.exitStatus() == 0, "\(enq.stderr)")
            #expect(enq.stdout == "1\n")
            // The CA from the environment; the plain address, upgraded because INFO requires it.
            let stats = try CLIRun(["stats"], server: server, environment: ["DOCKET_TLS_CA": pki.ca])
            #expect(stats.exitStatus() == 0, "\(stats.stderr)")
            #expect(parseJSON(stats.stdout)?["server_id"]?.stringValue != nil)
            // The wrong CA: unreachable (3), and a message that says why.
            let wrong = try CLIRun(["stats", "--server", url, "--tls-ca", pki.otherCA], server: server)
            #expect(wrong.exitStatus() == 3)
            #expect(wrong.stderr.contains("certificate verify failed"))
            #expect(wrong.stderr.contains("docket:"))
            // No TLS settings: the system's CA store does not know this CA; also 3.
            let plain = try CLIRun(["stats"], server: server)
            #expect(plain.exitStatus() == 3)
            #expect(plain.stderr.contains("--tls-ca"))
            // Command-line mistakes are 64.
            let keyAlone = try CLIRun(["stats", "--tls-key", pki.path("client.key")], server: server)
            #expect(keyAlone.exitStatus() == 64)
            let absent = try CLIRun(["stats", "--tls-ca", pki.path("absent.pem")], server: server)
            #expect(absent.exitStatus() == 64)
        }
    }

    @Test func theWorkerCommandOverMutualTLS() throws {
        let pki = try TestPKI()
        try withServer(pki.serverFlags(verifyClients: true)) { server in
            let settings = DocketConnection.TLSOptions(
                caFile: pki.ca, certificateFile: pki.path("client.pem"), keyFile: pki.path("client.key"))
            let client = try Self.connect(server, pki, options: .init(tls: settings))
            defer { client.close() }
            let id = try client.enqueue("tls-work", "ping").id
            let worker = try CLIRun(
                ["work", "tls-work", "--quiet", "--tls-ca", pki.ca, "--tls-cert", pki.path("client.pem"), "--tls-key",
                 pki.path("client.key"), "--", "/bin/sh", "-c", "cat; printf :$DOCKET_TLS_CA"],
                server: server)
            defer { _ = worker.exitStatus(timeout: 0) }
            #expect(try client.wait(id, timeout: 8) == .completed(result: Array("ping:\(pki.ca)".utf8)))
            worker.signal(SIGTERM)
            #expect(worker.exitStatus(timeout: 5) == 0)
            // Without the certificate the worker cannot start: 3.
            let refused = try CLIRun(["work", "tls-work", "--tls-ca", pki.ca, "--", "/bin/cat"], server: server)
            #expect(refused.exitStatus(timeout: 8) == 3)
            #expect(refused.stderr.contains("client certificate"))
        }
    }
}
