import DocketServer
import DocketTestSupport
import Foundation
import Testing

/// nats-server's configuration format, as docketd reads it.
@Suite struct ConfigFileTests {
    /// A number's text reads back as the same number (found by the config fuzzer: a small one
    /// came out as `5.16101173e-06`, which reads back as a word).
    @Test(arguments: ["0.00000516101173", "0.0001", "0.5", "-0.0000025", "0.000000000000000000001234", "12.75", "4222"])
    func aNumbersTextReadsBackAsTheSameNumber(_ written: String) throws {
        let config = try ConfigFile.parse("value: \(written)")
        guard case .number(let number, let unit)? = config["value"] else {
            Issue.record("\(written) did not parse as a number: \(String(describing: config["value"]))")
            return
        }
        let text = try #require(config["value"]?.text)
        #expect(!text.contains("e"), "\(text)")
        #expect(try ConfigFile.parse("value: \(text)")["value"] == .number(number, unit: unit), "\(written) -> \(text)")
    }

    @Test func theFormsNatsServerFilesUse() throws {
        let text = """
            # A nats-server.conf
            port: 4333
            listen = "127.0.0.1:4334"   // either separator
            http_port 8333
            max_payload: 2MB
            ping_interval: "30s"
            write_deadline: 5
            debug: false
            TOKEN: 's3cret'
            authorization {
              token: $TOKEN
              timeout: 0.5
            }
            docket {
              data_dir: /var/lib/docket
              keep_completed: 100,
              tags: [a, "b c", 3]
            }
            """
        let config = try ConfigFile.parse(text)
        #expect(config["port"] == .number(4333, unit: ""))
        #expect(config["listen"]?.text == "127.0.0.1:4334")
        #expect(config["http_port"] == .number(8333, unit: ""))
        #expect(config["max_payload"] == .number(2, unit: "MB"))
        #expect(config["ping_interval"]?.text == "30s")
        #expect(config["debug"] == .bool(false))
        #expect(config["authorization"]?["token"]?.text == "s3cret")
        #expect(config["authorization"]?["timeout"] == .number(0.5, unit: ""))
        #expect(config["docket"]?["data_dir"]?.text == "/var/lib/docket")
        #expect(config["docket"]?["tags"] == .array([.string("a"), .string("b c"), .number(3, unit: "")]))
    }

    @Test func variablesComeFromTheFileThenTheEnvironment() throws {
        let config = try ConfigFile.parse("user: $DOCKET_TEST_USER\n", environment: { $0 == "DOCKET_TEST_USER" ? "alice" : nil })
        #expect(config["user"]?.text == "alice")
        #expect(throws: ConfigError.self) { _ = try ConfigFile.parse("user: $NOWHERE\n") }
    }

    @Test func includeReadsAFileBesideThisOne() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-conf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "authorization { user: alice, password: \"won der\" }\n".write(
            to: directory.appendingPathComponent("auth.conf"), atomically: true, encoding: .utf8)
        try "port: 4222\ninclude ./auth.conf\n".write(to: directory.appendingPathComponent("main.conf"), atomically: true, encoding: .utf8)
        let config = try ConfigFile.load(directory.appendingPathComponent("main.conf").path)
        #expect(config["authorization"]?["password"]?.text == "won der")
    }

    /// nats-server reads a configuration written as one JSON object (nats.py's harness tests
    /// start it with `{ "port": 4567 }`), comments allowed, variables still top-level.
    @Test func aFileMayBeOneJSONObject() throws {
        let config = try ConfigFile.parse("""
            // JSON, as nats-server takes it
            {
              "port": 4567,
              "SECRET": "s",
              "authorization": { "token": $SECRET, "timeout": 2 },
              "max_payload": 1024
            }

            """)
        #expect(config["port"] == .number(4567, unit: ""))
        #expect(config["authorization"]?["token"]?.text == "s")
        #expect(config["max_payload"] == .number(1024, unit: ""))
        for bad in ["{ \"port\": 1 } port: 2\n", "{ \"port\": 1\n", "{ \"port\": : 1 }\n"] {
            #expect { _ = try ConfigFile.parse(bad, name: "json.conf") } throws: { error in
                "\(error)".hasPrefix("json.conf:") && "\(error)".contains("Parse error")
            }
        }
    }

    @Test(arguments: [
        ("port: 4222\nauthorization {\n  token: x\n", "4:1"),  // unclosed block: at the end of the file
        ("port: 4222\nname: \"unterminated\n", "2:"),
        ("port:\n", "1:"),
        ("port: 1\n  = 5\n", "2:"),
    ])
    func errorsSayWhere(_ text: String, _ position: String) {
        do {
            _ = try ConfigFile.parse(text, name: "bad.conf")
            Issue.record("parsed: \(text.debugDescription)")
        } catch {
            #expect("\(error)".hasPrefix("bad.conf:\(position)"), "\(error)")
        }
    }

    /// Brackets nested a hundred thousand deep (well under the 1 MiB a file may have) overflowed
    /// the recursive parser's stack and crashed docketd; they are an error that says where.
    @Test func deepNestingIsAnErrorNotACrash() {
        for (open, close) in [("{a = ", "}"), ("[", "]")] {
            let text = "a = " + String(repeating: open, count: 100_000) + "1" + String(repeating: close, count: 100_000) + "\n"
            #expect {
                _ = try ConfigFile.parse(text, name: "deep.conf")
            } throws: { error in
                "\(error)".hasPrefix("deep.conf:1:") && "\(error)".contains("nest more than 64 deep")
            }
        }
        // As deep as a real configuration goes is fine.
        let nested = "a = " + String(repeating: "{b = ", count: 10) + "1" + String(repeating: "}", count: 10) + "\n"
        #expect((try? ConfigFile.parse(nested)) != nil)
    }

    /// docketd started with `text` as its configuration file stops with a usage error (64)
    /// whose message contains `words`.
    func expectRefusedStart(_ text: String, saying words: String) throws {
        let path = try file(text)
        let (status, output) = try DocketdProcess.runToExit(["-c", path, "--port", "0", "--data-dir", NSTemporaryDirectory() + "unused-\(UUID().uuidString)"])
        #expect(status == 64, "\(text): \(output)")
        #expect(output.contains(words), "\(text): \(output)")
    }

    /// Writes `text` to a fresh file; returns its path.
    func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-\(UUID().uuidString).conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func docketdReadsItAndFlagsWin() throws {
        let path = try file("""
            SECRET: "from-file"
            authorization { token: $SECRET, timeout: 1 }
            max_payload: 64KB
            debug: true
            docket { max_queues: 2 }
            """)
        let server = try DocketdProcess(["-c", path, "--max-queues", "3"])
        let client = try server.client()
        // debug: true logs at debug level, as nats-server's key does.
        #expect(server.log.waitForLine(containing: "[DBG]", timeout: 5) != nil, "\(server.log.text)")
        let info = try client.readLine()
        #expect(info.contains(#""auth_required":true"#) && info.contains(#""max_payload":65536"#))
        try client.line(#"CONNECT {"verbose":false,"auth_token":"from-file"}"#)
        for name in ["a", "b", "c"] {
            try client.send("ENQ \(name) 1\r\nx\r\n")
            #expect(try client.readLine().hasPrefix("+OK "))  // the flag's 3, not the file's 2
        }
    }

    @Test func maxRoutesFromTheFile() throws {
        let server = try DocketdProcess(["-c", try file("docket { max_routes: 1 }\n")])
        let client = try server.client()
        _ = try client.readLine()
        try client.line(#"CONNECT {"verbose":false}"#)
        try client.line("ROUTE a.* qa")
        #expect(try client.readLine().hasPrefix("+OK "))
        try client.line("ROUTE b.* qb")
        #expect(try client.readLine() == "-ERR 'LIMIT there are 1 routes already (--max-routes)'")
    }

    /// `max_flow_depth` in the file and `DOCKET_MAX_FLOW_DEPTH` set `--max-flow-depth`.
    @Test(arguments: [(["-c", "FILE"], ""), ([], "DOCKET_MAX_FLOW_DEPTH=1")])
    func maxFlowDepthFromTheFileAndTheEnvironment(_ flags: [String], _ environment: String) throws {
        let path = try file("docket { max_flow_depth: 1 }\n")
        let server = try DocketdProcess(flags.map { $0 == "FILE" ? path : $0 }, shell: environment.isEmpty ? nil : environment)
        let client = try server.client()
        _ = try client.readLine()
        try client.line(#"CONNECT {"verbose":false}"#)
        try client.send("ENQ a 1\r\nx\r\n")
        let parent = try client.readLine()
        try client.send("ENQ b after=\(parent.dropFirst(4)) 1\r\nx\r\n")
        #expect(try client.readLine() == "-ERR 'LIMIT the job would be 2 deep in its flow, and 1 may be (--max-flow-depth)'")
    }

    @Test func severalUsersFromTheFile() throws {
        let path = try file("""
            authorization {
              users = [
                { user: alice, password: "wonder land" }
                { user: bob, password: builder }
              ]
            }
            """)
        let server = try DocketdProcess(["-c", path])
        for (user, password, accepted) in [("alice", "wonder land", true), ("bob", "builder", true), ("bob", "wonder land", false), ("carol", "x", false)] {
            let client = try server.client()
            _ = try client.readLine()
            try client.line(#"CONNECT {"verbose":false,"user":"\#(user)","pass":"\#(password)"}"#)
            if accepted {
                #expect(try client.sync() == [], "\(user)")
            } else {
                #expect(try client.readLine() == "-ERR 'Authorization Violation'", "\(user)")
            }
        }
    }

    /// nats-server's rules for `nkey` users: a user's public key alone, nothing else to prove.
    @Test func nkeyUsersThatCannotBeRefuseTheStart() throws {
        let key = "UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCX"
        for (text, words) in [
            ("authorization { users = [ { nkey: \(key), password: x } ] }\n", "NKEY users do not take usernames or passwords"),
            ("authorization { users = [ { nkey: \(key), user: alice } ] }\n", "NKEY users do not take usernames or passwords"),
            ("authorization { users = [ { nkey: UBAD } ] }\n", "'UBAD' is not a valid public NKEY for a user"),
            ("authorization { users = [ { nkey: \(key.dropLast())Y } ] }\n", "is not a valid public NKEY for a user"),
            // An account's key, and a seed (a secret in the wrong place), are no user's key.
            ("authorization { users = [ { nkey: AAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5OICT } ] }\n", "is not a valid public NKEY"),
            ("accounts { a { users = [ { nkey: SUAEIV5COV7ADQZE52WTYHVJQRV7WKJE5J7IBBJGATJTUUT2LVFGVXDPRQ } ] } }\n", "is not a valid public NKEY"),
            ("authorization { users = [ { nkey: \(key) }, { nkey: \(key) } ] }\n", "has '\(key)' twice"),
            ("accounts { a { users = [ { nkey: \(key) } ] } }\nauthorization { users = [ { nkey: \(key) } ] }\n", "declared twice"),
            ("no_auth_user: \(key)\nauthorization { users = [ { nkey: \(key) } ] }\n", "is an NKEY user"),
        ] {
            try expectRefusedStart(text, saying: words)
        }
    }

    @Test func whatDocketdCannotHonourRefusesTheStart() throws {
        for (text, words) in [
            ("tls { cert_file: a.pem, key_file: a.key, pinned_certs: [\"abc\"] }\n", "tls.pinned_certs is not supported"),
            ("tls { cert_file: a.pem, key_file: a.key, verify_and_map: true }\n", "tls.verify needs tls.ca_file"),
            ("tls { cert_file: a.pem }\n", "tls needs cert_file and key_file"),
            ("tls { cert_file: a.pem, key_file: a.key, verify: true }\n", "tls.verify needs tls.ca_file"),
            ("portt: 4222\n", "unknown setting 'portt'"),
            ("authorization { users = [ { user: a, password: b, permissions: { subscribe: \"jobs g1 g2\" } } ] }\n",
             "'jobs g1 g2' is not a subject, or a subject and a queue group"),
            ("authorization { users = [ { user: a, password: b, permissions: { subscribe: { deny: \"jobs >.g\" } } } ] }\n",
             "names a queue group that is not a valid subject"),
            ("port: [1\n", "expected ']'"),
            ("docket { node_timeout: 1s }\n", "docket.node_timeout must be 0"),
            ("docket { node_timeout: soon }\n", "docket.node_timeout must be 0"),
            ("docket { store_timeout: 500ms }\n", "docket.store_timeout must be 0"),
            ("docket { cluster_ping_interval: 500ms }\n", "docket.cluster_ping_interval must be a duration from 1s to 1h"),
            ("docket { cluster_ping_interval: 2h }\n", "docket.cluster_ping_interval must be a duration from 1s to 1h"),
            ("docket { cluster_tls { ca: x.pem } }\n", "unknown setting 'docket.cluster_tls.ca'"),
            ("docket { cluster_tls { cert_file: c.pem } }\n", "docket.cluster_tls needs cert_file and key_file together"),
            ("cluster { listen: 127.0.0.1:6222, tls { cert_file: a.pem } }\n", "cluster.tls needs cert_file and key_file"),
            ("cluster { listen: 127.0.0.1:6222, tls { cert_file: a.pem, key_file: a.key } }\n", "cluster.tls needs ca_file"),
            ("cluster { listen: 127.0.0.1:6222, permissions { import: x } }\n", "cluster.permissions is not supported by docketd yet"),
            ("cluster { routes: [\"http://x/y\"] }\n", "cluster.routes must be nats://"),
            ("cluster { listen: 127.0.0.1:6222, ping_interval: soon }\n", "cluster.ping_interval must be a duration"),
            ("cluster { listen: 127.0.0.1:6222, ping_max: 0 }\n", "cluster.ping_max"),
            ("cluster { authorization { user: r } }\n", "cluster.authorization needs user and password"),
            ("cluster { listen: 127.0.0.1:6222, authorization { token: t } }\n", "cluster.authorization.token is not supported"),
            ("cluster { lissen: 6222 }\n", "unknown setting 'cluster.lissen'"),
            ("leafnodes { remotes: [ { url: \"nats-leaf://hub:7422\" } ] }\n", "'leafnodes' with remotes is not supported by docketd yet"),
            ("leafnodes: 7422\n", "leafnodes must be a block"),
        ] {
            try expectRefusedStart(text, saying: words)
        }
    }

    /// A misspelt key is named with the line and column it was written at, as a syntax error
    /// is, so that it is found in a long file (or in the file an `include` read).
    @Test func aMisspeltSettingIsNamedWithItsLine() throws {
        for (text, words) in [
            ("port: 0\nmax_payload: 1MB\n\n# limits\ndocket {\n  keep_dead: 5\n  kep_completed: 10\n}\n", ":7:3: unknown setting 'docket.kep_completed'"),
            ("port: 0\n  max_payloads: 2MB\n", ":2:3: unknown setting 'max_payloads'"),
            ("authorization {\n  users = [\n    { user: a, password: b, permissions: { publish: \"x\", subscrib: \"y\" } }\n  ]\n}\n",
             ":3:58: unknown setting '"),
        ] {
            try expectRefusedStart(text, saying: words)
        }
    }

    /// Numbers are read as Doubles: one past Int's range (found by `scripts/fuzz.sh config`)
    /// trapped converting to Int and crashed docketd at start; it is refused with the key's
    /// rule. A timeout of zero or less, which timed every client out at once, is refused too.
    @Test func numbersPastTheirRangeRefuseTheStart() throws {
        #expect(try ConfigFile.parse("a: 99999999999999999999\nb: 4222\nc: 1.5\n")["a"]?.text == "1e+20")
        let huge = "99999999999999999999"
        for (text, words) in [
            ("listen: \(huge)\n", "listen must be a whole number from 0 to 65535"),
            ("max_payload: \(huge)\n", "max_payload must be a size"),
            ("docket { keep_dead: \(huge) }\n", "docket.keep_dead must be a whole number"),
            ("docket { node_timeout: \(huge) }\n", "docket.node_timeout must be 0"),
            ("docket { store_timeout: \(huge) }\n", "docket.store_timeout must be 0"),
            ("authorization { user: a, password: b, timeout: \(huge) }\n", "authorization.timeout must be a duration"),
            ("authorization { user: a, password: b, timeout: -5 }\n", "authorization.timeout must be a duration"),
            ("tls { cert_file: a.pem, key_file: a.key, timeout: \(huge) }\n", "tls.timeout must be a duration"),
        ] {
            try expectRefusedStart(text, saying: words)
        }
    }

    /// A size in the file is held to the bounds of its flag: `max_control_line: 1` started a
    /// server that refused every command as too long, `max_store: 1` one that refused every job.
    @Test func aFileCannotSetASizeItsFlagWouldRefuse() throws {
        for (text, words) in [
            ("max_control_line: 1\n", "max_control_line must be a size between 32 bytes and 1GiB"),
            ("max_pending: 10\n", "max_pending must be a size between 1024 bytes"),
            ("docket { max_pending_total: 1 }\n", "docket.max_pending_total must be a size between 1024 bytes and 1024GiB"),
            ("docket { max_subscription_memory: 1 }\n", "docket.max_subscription_memory must be a size between 1024 bytes"),
            ("docket { max_store: 1 }\n", "docket.max_store must be a size between 1048576 bytes and 1TiB"),
            ("docket { cluster_max_pending: 1 }\n", "docket.cluster_max_pending must be a size between 65536 bytes"),
            ("docket { max_batch_bytes: 2TiB }\n", "docket.max_batch_bytes must be a size between 1 bytes and 1GiB"),
            // Histories are 32-bit counts, as the flags and QUEUE take them: 9999999999 started,
            // and QUEUE showed it as every queue's keep_completed.
            ("docket { keep_completed: 9999999999 }\n", "docket.keep_completed must be a whole number from 0 to 2147483647"),
            ("docket { keep_dead: 2147483648 }\n", "docket.keep_dead must be a whole number from 0 to 2147483647"),
        ] {
            try expectRefusedStart(text, saying: words)
        }
    }

    /// The limits that were flags and variables only are configuration keys too, each held to
    /// its flag's bounds.
    @Test func theRefusalShutdownRouteAndHTTPLimitsAreKeys() throws {
        for (text, words) in [
            ("docket { refusal_linger: soon }\n", "docket.refusal_linger must be a duration"),
            ("docket { refusal_drain: 2GiB }\n", "docket.refusal_drain must be a size between 0 bytes and 1GiB"),
            ("docket { max_refusals_lingering: -1 }\n", "docket.max_refusals_lingering must be a whole number from 0"),
            ("docket { max_route_peers: 0 }\n", "docket.max_route_peers must be a whole number from 1"),
            ("docket { shutdown_grace: 0 }\n", "docket.shutdown_grace must be a duration"),
            ("docket { http_max_header: 10 }\n", "docket.http_max_header must be a size between 256 bytes"),
            ("docket { http_idle_timeout: never }\n", "docket.http_idle_timeout must be a duration"),
            ("docket { http_max_connections: 0 }\n", "docket.http_max_connections must be a whole number from 1"),
            ("docket { http_max_body: 2GiB }\n", "docket.http_max_body must be a size between 0 bytes"),
            ("docket { http_max_stream_backlog: 1KiB }\n", "docket.http_max_stream_backlog must be a size between 4096 bytes"),
        ] {
            try expectRefusedStart(text, saying: words)
        }
        // And taken: a request head past the file's http_max_header is refused with 431.
        let path = try file("docket { http_max_header: 512, refusal_linger: 0, refusal_drain: 0, shutdown_grace: 3s }\n")
        let server = try DocketdProcess(["-c", path, "-m", "0"])
        let port = try #require(server.httpPort)
        let client = try LineClient(port: port)
        try client.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: \(String(repeating: "a", count: 600))\r\n\r\n")
        #expect(try client.readLine().hasPrefix("HTTP/1.1 431 "))
    }

    /// nats-server reads `timeout: 0` as "the default" (configurations written for it carry it),
    /// not as a deadline every client misses.
    @Test func aZeroAuthorizationTimeoutMeansTheDefault() throws {
        let server = try DocketdProcess(["-c", try file("authorization { user: a, password: b, timeout: 0 }\n")])
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.readLine()
        usleep(300_000)
        try client.send(#"CONNECT {"verbose":false,"user":"a","pass":"b"}"# + "\r\nPING\r\n")
        #expect(try client.readLine() == "PONG")
    }

    @Test func nodeTimeoutIsZeroOrAtLeastThreeSeconds() throws {
        try expectRange(
            of: "--node-timeout", [("1s", false), ("2999ms", false), ("25h", false), ("x", false), ("0", true), ("3s", true)],
            refusal: "--node-timeout must be 0")
    }

    @Test func storeTimeoutIsZeroOrOneSecondToAnHour() throws {
        try expectRange(
            of: "--store-timeout", [("999ms", false), ("2h", false), ("x", false), ("0", true), ("1s", true), ("1h", true)],
            refusal: "--store-timeout must be 0")
    }

    @Test func clusterPingIntervalIsOneSecondToAnHour() throws {
        try expectRange(
            of: "--cluster-ping-interval", [("999ms", false), ("61m", false), ("0", false), ("x", false), ("1s", true), ("1h", true)],
            refusal: "--cluster-ping-interval must be")
    }

    /// docketd refuses each value of `flag` marked false with `refusal`, and takes each marked
    /// true: an accepted value gets as far as the next check (the bad --max-payload).
    private func expectRange(of flag: String, _ cases: [(String, Bool)], refusal: String) throws {
        for (value, accepted) in cases {
            let (status, output) = try DocketdProcess.runToExit(
                [flag, value, "--max-payload", "0", "--port", "0", "--data-dir", NSTemporaryDirectory() + "unused-\(UUID().uuidString)"])
            #expect(status == 64, "\(output)")
            #expect(output.contains(refusal) != accepted, "\(value): \(output)")
        }
    }

    /// Certificates that cannot be loaded stop the start with one line naming the file.
    @Test func unusableCertificatesStopTheStart() throws {
        let missing = NSTemporaryDirectory() + "no-such-\(UUID().uuidString).pem"
        let notACertificate = try file("this is not PEM\n")
        for (flags, words) in [
            (["--tls", "--tlscert", missing, "--tlskey", missing], "cannot load the certificate \(missing)"),
            (["--tls", "--tlscert", notACertificate, "--tlskey", notACertificate], "cannot load the certificate"),
        ] {
            let (status, output) = try DocketdProcess.runToExit(flags + ["--port", "0", "--data-dir", NSTemporaryDirectory() + "unused-\(UUID().uuidString)"])
            #expect(status == 1, "\(output)")
            #expect(output.contains("Cannot start: TLS: " + words), "\(output)")
        }
        let (status, output) = try DocketdProcess.runToExit(["--tlsverify", "--tlscert", missing, "--tlskey", missing, "--port", "0"])
        #expect(status == 64 && output.contains("--tlsverify needs --tlscacert"), "\(output)")
        // The cluster link's files, from the command line and from the file's cluster_tls.
        let data = ["--port", "0", "--data-dir", NSTemporaryDirectory() + "unused-\(UUID().uuidString)", "--cluster-nats", "tls://127.0.0.1:1"]
        let (clusterStatus, clusterOutput) = try DocketdProcess.runToExit(["--cluster-tlscacert", missing] + data)
        #expect(clusterStatus == 1 && clusterOutput.contains("Cannot start: cluster TLS: cannot load the CA file \(missing)"), "\(clusterOutput)")
        let conf = try file("docket { cluster_tls { cert_file: \"\(notACertificate)\", key_file: \"\(notACertificate)\" } }\n")
        let (fileStatus, fileOutput) = try DocketdProcess.runToExit(["-c", conf] + data)
        #expect(fileStatus == 1 && fileOutput.contains("Cannot start: cluster TLS: cannot load the certificate \(notACertificate)"), "\(fileOutput)")
        let (pairStatus, pairOutput) = try DocketdProcess.runToExit(["--cluster-tlskey", missing] + data)
        #expect(pairStatus == 64 && pairOutput.contains("--cluster-tlscert and --cluster-tlskey go together"), "\(pairOutput)")
    }
}
