import DocketClient
import DocketTLS
import DocketTestSupport
import DocketWire
import Foundation
import Testing

/// NKEY seeds and nsc `.creds` files: read and checked on bytes the tests control, then logins
/// against a real docketd with NKEY users and in operator mode.
@Suite struct NKeyCredentialsTests {
    /// nats.py's test seed and the public key nats-server's server_auth_nkey.conf names for it.
    static let knownSeed = "SUAEIV5COV7ADQZE52WTYHVJQRV7WKJE5J7IBBJGATJTUUT2LVFGVXDPRQ"
    static let knownPublicKey = "UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCX"

    /// What `body` threw (nil: nothing, or not a DocketError).
    static func thrown(_ body: () throws -> Void) -> DocketError? {
        do {
            try body()
            return nil
        } catch {
            return error as? DocketError
        }
    }

    static func badArgument(_ body: () throws -> Void) -> String? {
        guard case .badArgument(let text)? = thrown(body) else { return nil }
        return text
    }

    @Test func aUserSeedMakesItsPublicKeyAndSignsTheNonce() throws {
        let seed = try NKeySeed(Self.knownSeed + "\n")
        #expect(seed.publicKey == Self.knownPublicKey)
        #expect(!"\(seed)".contains(Self.knownSeed))
        #expect(!"\(Credentials.nkey(seed))".contains(Self.knownSeed))
        let fresh = NatsIdentity.new(.user)
        #expect(try NKeySeed(fresh.printedSeed).publicKey == fresh.publicKey)
    }

    @Test(arguments: [
        ("SUAEIV5COV7ADQZE52WTYHVJQRV7WKJE5J7IBBJGATJTUUT2LVFGVXDPR", "58"),  // one short
        ("SUAEIV5COV7ADQZE52WTYHVJQRV7WKJE5J7IBBJGATJTUUT2LVFGVXDPRA", "checksum"),  // last character changed
        ("SUAEIV5COV7ADQZE52WTYHVJQRV7WKJE5J7IBBJGATJTUUT2LVFGVXDPR1", "base32"),
        ("suaeiv5cov7adqze52wtyhvjqrv7wkje5j7ibbjgatjtuut2lvfgvxdprq", "base32"),
        (knownPublicKey, "58"),
    ])
    func aMalformedSeedIsRefusedSayingWhy(_ printed: String, _ why: String) {
        let text = Self.badArgument { _ = try NKeySeed(printed) }
        #expect(text?.contains(why) == true, "\(text ?? "accepted")")
        #expect(text?.contains(printed) == false)
    }

    @Test func aSeedOfAnotherKindIsNoUserSeed() {
        // An account's seed ("SA…"): same layout, another kind in the second prefix.
        let raw: [UInt8] = [18 << 3, 0] + Array(repeating: 7, count: 32)
        let crc = CRC16.xmodem(raw)
        let accountSeed = Base32.encode(raw + [UInt8(crc & 0xFF), UInt8(crc >> 8)])
        #expect(accountSeed.hasPrefix("SA"))
        #expect(Self.badArgument { _ = try NKeySeed(accountSeed) }?.contains("not a user's seed") == true)
    }

    static let jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2ln"

    @Test func credsFilesAreReadLenientlyAboutTheirMarkersAndStrictlyAboutTheirContents() throws {
        let nsc = NatsIdentity.creds(jwt: Self.jwt, user: NatsIdentity(kind: .user, seed: Array(repeating: 1, count: 32)))
        let creds = try UserCredentials(nsc)
        #expect(creds.jwt == Self.jwt)
        #expect(creds.seed.publicKey == NatsIdentity(kind: .user, seed: Array(repeating: 1, count: 32)).publicKey)
        let loose = "\r\n  ---BEGIN NATS USER JWT---  \r\n\t\(Self.jwt)  \r\n---END NATS USER JWT------------\r\n"
            + "--------BEGIN USER NKEY SEED-----\r\n  \(Self.knownSeed)\r\n-----END USER NKEY SEED-----"
        #expect(try UserCredentials(loose).seed.publicKey == Self.knownPublicKey)
        #expect(!"\(creds)".contains(NatsIdentity(kind: .user, seed: Array(repeating: 1, count: 32)).printedSeed))

        let seedBlock = "-----BEGIN USER NKEY SEED-----\n\(Self.knownSeed)\n------END USER NKEY SEED------\n"
        let jwtBlock = "-----BEGIN NATS USER JWT-----\n\(Self.jwt)\n------END NATS USER JWT------\n"
        let refusals: [(String, String)] = [
            (seedBlock, "no user JWT"),
            (jwtBlock, "no user seed"),
            ("", "no user JWT"),
            (jwtBlock.replacingOccurrences(of: Self.jwt, with: "not a jwt") + seedBlock, "one JWT"),
            (jwtBlock.replacingOccurrences(of: Self.jwt, with: Self.jwt + "\n" + Self.jwt) + seedBlock, "one JWT"),
            (jwtBlock + seedBlock.replacingOccurrences(of: "\n------END", with: "X\n------END"), "user seed"),
            (jwtBlock + seedBlock.replacingOccurrences(of: Self.knownSeed, with: Self.knownPublicKey), "user seed"),
            // An END that is not the block's own leaves the block open: no seed.
            (jwtBlock + "-----BEGIN USER NKEY SEED-----\n\(Self.knownSeed)\n------END NATS USER JWT------\n", "no user seed"),
        ]
        for (text, why) in refusals {
            let said = Self.badArgument { _ = try UserCredentials(text) }
            #expect(said?.contains(why) == true, "\(said ?? "accepted"): \(text)")
            #expect(said?.contains(Self.knownSeed) == false)
        }
        let missing = Self.badArgument { _ = try UserCredentials(file: "/nonexistent/u.creds") }
        #expect(missing?.contains("creds file /nonexistent/u.creds") == true)
    }

    static func configFile(_ text: String) throws -> TemporaryFile { try TemporaryFile(text, suffix: ".conf") }

    /// Logs in to a server started with `config`, restarts the server and expects the client to
    /// log in again (a new process makes new nonces: only a fresh signature gets in). Returns
    /// the second server, running.
    static func expectLoginAgainAfterARestart(config: TemporaryFile, _ credentials: Credentials) throws -> DocketdProcess {
        let first = try DocketdProcess(["-c", config.path])
        let client = try DocketConnection(first.address, options: DocketConnection.Options(credentials: credentials))
        defer { client.close() }
        #expect(try client.enqueue("q", "before").id == 1)
        #expect(first.stop() == 0)
        let second = try first.restart(["-c", config.path])
        do {
            #expect(try client.enqueue("q", "after").id == 2)
        } catch {
            second.stop(timeout: 5)
            throw error
        }
        #expect(client.reconnects >= 1)
        return second
    }

    @Test func anNKeyUserLogsInAndLogsInAgainAfterAReconnect() throws {
        let alice = NatsIdentity.new(.user)
        let config = try Self.configFile("authorization { users = [ { nkey: \(alice.publicKey) } ] }\n")
        defer { config.remove() }
        let seedFile = try TemporaryFile(alice.printedSeed + "\n")
        defer { seedFile.remove() }
        let server = try Self.expectLoginAgainAfterARestart(config: config, .nkey(try NKeySeed(file: seedFile.path)))
        server.stop(timeout: 5)
    }

    @Test func aWrongSeedIsRefused() throws {
        let alice = NatsIdentity.new(.user), mallory = NatsIdentity.new(.user)
        let config = try Self.configFile("authorization { users = [ { nkey: \(alice.publicKey) } ] }\n")
        defer { config.remove() }
        try withServer(["-c", config.path]) { server in
            let error = Self.thrown {
                _ = try DocketConnection(server.address, options: DocketConnection.Options(credentials: .nkey(try NKeySeed(mallory.printedSeed))))
            }
            guard case .notAuthorized(let text)? = error else {
                Issue.record("expected notAuthorized, got \(String(describing: error))")
                return
            }
            #expect(text.contains("Authorization Violation"))
            #expect(!text.contains(mallory.printedSeed))
        }
    }

    @Test func aServerWithoutANonceGetsNoSignature() throws {
        try withServer(["--auth", "s3cret"]) { server in
            let error = Self.thrown {
                _ = try DocketConnection(server.address, options: DocketConnection.Options(credentials: .nkey(try NKeySeed(Self.knownSeed))))
            }
            guard case .notAuthorized(let text)? = error else {
                Issue.record("expected notAuthorized, got \(String(describing: error))")
                return
            }
            #expect(text.contains("no nonce"))
        }
    }

    @Test func aCredsFileLogsInToAServerInOperatorModeAndAgainAfterAReconnect() throws {
        let setup = OperatorSetup()
        let config = try Self.configFile(setup.config)
        defer { config.remove() }
        let creds = try TemporaryFile(setup.userCreds(), suffix: ".creds")
        defer { creds.remove() }
        let second = try Self.expectLoginAgainAfterARestart(config: config, .userCredentials(try UserCredentials(file: creds.path)))
        defer { second.stop(timeout: 5) }

        // Another operator's user is refused.
        let stranger = try TemporaryFile(OperatorSetup().userCreds(), suffix: ".creds")
        defer { stranger.remove() }
        let error = Self.thrown {
            _ = try DocketConnection(second.address, options: DocketConnection.Options(credentials: .userCredentials(try UserCredentials(file: stranger.path))))
        }
        guard case .notAuthorized? = error else {
            Issue.record("expected notAuthorized, got \(String(describing: error))")
            return
        }
    }

    @Test func theCLITakesASeedFileOrACredsFileAndRefusesAMalformedOneLocally() throws {
        let alice = NatsIdentity.new(.user)
        let config = try Self.configFile("authorization { users = [ { nkey: \(alice.publicKey) } ] }\n")
        defer { config.remove() }
        let seedFile = try TemporaryFile(alice.printedSeed)
        defer { seedFile.remove() }
        // Another last character (one that keeps the padding bits zero): only the checksum is wrong.
        let broken = try TemporaryFile(String(alice.printedSeed.dropLast()) + (alice.printedSeed.hasSuffix("A") ? "E" : "A"))
        defer { broken.remove() }
        try withServer(["-c", config.path]) { server in
            let viaOption = try CLIRun(["stats", "--nkey", seedFile.path], server: server)
            #expect(viaOption.exitStatus() == 0, "\(viaOption.stderr)")
            let viaEnvironment = try CLIRun(["stats"], server: server, environment: ["DOCKET_NKEY_SEED_FILE": seedFile.path])
            #expect(viaEnvironment.exitStatus() == 0, "\(viaEnvironment.stderr)")
            let malformed = try CLIRun(["stats", "--nkey", broken.path], server: server)
            #expect(malformed.exitStatus() == 64)
            #expect(malformed.stderr.contains("checksum"), "\(malformed.stderr)")
            #expect(!malformed.stderr.contains(String(alice.printedSeed.dropLast())))
            let both = try CLIRun(["stats", "--nkey", seedFile.path, "--token", "x"], server: server)
            #expect(both.exitStatus() == 64)
        }

        let setup = OperatorSetup()
        let operatorConfig = try Self.configFile(setup.config)
        defer { operatorConfig.remove() }
        let creds = try TemporaryFile(setup.userCreds(), suffix: ".creds")
        defer { creds.remove() }
        try withServer(["-c", operatorConfig.path]) { server in
            let viaOption = try CLIRun(["enq", "q", "x", "--creds", creds.path], server: server)
            #expect(viaOption.exitStatus() == 0, "\(viaOption.stderr)")
            let viaEnvironment = try CLIRun(["stats"], server: server, environment: ["DOCKET_CREDS": creds.path])
            #expect(viaEnvironment.exitStatus() == 0, "\(viaEnvironment.stderr)")
        }
    }
}
