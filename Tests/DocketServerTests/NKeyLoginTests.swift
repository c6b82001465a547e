@testable import DocketServer
import DocketWire
import DocketTLS
import DocketTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// NKEY logins, as nats-server does them: INFO carries a fresh nonce, CONNECT answers with the
/// user's public key and its Ed25519 signature of the nonce.
@Suite struct NKeyLoginTests {
    /// A key pair from a printed seed ("SU…"), signing as a NATS client does.
    struct Identity {
        let seed: [UInt8]
        let publicKey: String

        init(seed printed: String, publicKey: String) {
            // A seed is two prefix bytes, the 32-byte seed and a CRC-16.
            self.seed = Array(Base32.decode(printed)![2..<34])
            self.publicKey = publicKey
        }

        func signature(of nonce: String, padded: Bool = false) -> String {
            let signature = Ed25519.sign(Array(nonce.utf8), seed: seed)!
            return padded ? Base64.encode(signature) : Base64.encode(signature, .url, padded: false)
        }
    }

    static let alice = Identity(seed: NKeyTests.seed, publicKey: NKeyTests.publicKey)
    static let bob = Identity(
        seed: "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y", publicKey: "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK")

    static func config(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("docket-nkey-\(UUID().uuidString).conf")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static let mixedUsers = """
        authorization { users = [
          { nkey: \(alice.publicKey), permissions: { publish: "orders.>", subscribe: ">" } }
          { user: carol, password: three }
        ] }
        """

    /// Connects and reads INFO; returns the client and INFO's nonce.
    static func open(_ server: DocketdProcess) throws -> (LineClient, String?) {
        let client = try server.client()
        let info = try client.readLine()
        let document = try JSONSerialization.jsonObject(with: Data(info.dropFirst(5).utf8)) as! [String: Any]
        return (client, document["nonce"] as? String)
    }

    /// Logs in as `identity`, signing the nonce, and asks for a PONG.
    static func login(_ server: DocketdProcess, _ identity: Identity, padded: Bool = false) throws -> LineClient {
        let (client, nonce) = try open(server)
        let signature = identity.signature(of: try #require(nonce), padded: padded)
        try client.send(#"CONNECT {"verbose":false,"nkey":"\#(identity.publicKey)","sig":"\#(signature)"}"# + "\r\nPING\r\n")
        return client
    }

    static func expectRefused(_ client: LineClient, _ comment: Comment? = nil) throws {
        #expect(try client.readLine() == "-ERR 'Authorization Violation'", comment)
        #expect(try client.readUntilClosed().isEmpty, comment)
    }

    @Test func anNKeyUserLogsInWithItsPermissionsBesidePasswordUsers() throws {
        let config = try Self.config(Self.mixedUsers)
        defer { try? FileManager.default.removeItem(at: config) }
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        let alice = try Self.login(server, Self.alice)
        #expect(try alice.readLine() == "PONG")
        try alice.send("PUB billing.x 1\r\nx\r\nPUB orders.x 1\r\ny\r\nPING\r\n")
        #expect(try alice.readLine() == #"-ERR 'Permissions Violation for Publish to "billing.x"'"#)
        #expect(try alice.readLine() == "PONG")
        // Old nats.py clients send the signature in standard, padded base64.
        #expect(try Self.login(server, Self.alice, padded: true).readLine() == "PONG")
        // A password user still logs in by name and password, nonce or not.
        let (carol, nonce) = try Self.open(server)
        #expect(nonce != nil)
        try carol.send(#"CONNECT {"verbose":false,"user":"carol","pass":"three"}"# + "\r\nPING\r\n")
        #expect(try carol.readLine() == "PONG")
        // Nor does a password login with an NKEY user's key as its name get in.
        let (impostor, _) = try Self.open(server)
        try impostor.send(#"CONNECT {"verbose":false,"user":"\#(Self.alice.publicKey)","pass":""}"# + "\r\nPING\r\n")
        try Self.expectRefused(impostor)
    }

    @Test func everyConnectionGetsItsOwnNonceOnlyWhenNKeyUsersExist() throws {
        let config = try Self.config(Self.mixedUsers)
        defer { try? FileManager.default.removeItem(at: config) }
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        let nonces = try (0..<20).map { _ in try #require(try Self.open(server).1) }
        #expect(Set(nonces).count == nonces.count)
        #expect(nonces.allSatisfy { $0.count == 15 && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } })
        let passwords = try DocketdProcess(["--user", "carol", "--pass", "three"])
        defer { _ = passwords.stop() }
        #expect(try Self.open(passwords).1 == nil)
    }

    @Test func badSignaturesAndUnknownKeysAreRefusedAsWrongPasswordsAre() throws {
        let config = try Self.config(Self.mixedUsers)
        defer { try? FileManager.default.removeItem(at: config) }
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        // A signature made for another connection's nonce: a replay.
        let (first, firstNonce) = try Self.open(server)
        let replayed = Self.alice.signature(of: try #require(firstNonce))
        let good = Self.alice.signature(of: "abcdefghijklmno")
        let attempts: [(String, (String) -> String)] = [
            ("replayed from another connection", { _ in #"{"nkey":"\#(Self.alice.publicKey)","sig":"\#(replayed)"}"# }),
            ("signed by another key", { #"{"nkey":"\#(Self.alice.publicKey)","sig":"\#(Self.bob.signature(of: $0))"}"# }),
            ("an unknown key, rightly signed", { #"{"nkey":"\#(Self.bob.publicKey)","sig":"\#(Self.bob.signature(of: $0))"}"# }),
            ("no signature", { _ in #"{"nkey":"\#(Self.alice.publicKey)"}"# }),
            ("an empty signature", { _ in #"{"nkey":"\#(Self.alice.publicKey)","sig":""}"# }),
            ("a signature one byte short", { #"{"nkey":"\#(Self.alice.publicKey)","sig":"\#(String(Self.alice.signature(of: $0).dropLast(2)))"}"# }),
            ("a signature with a byte more", { #"{"nkey":"\#(Self.alice.publicKey)","sig":"\#(Self.alice.signature(of: $0))AA"}"# }),
            ("a signature that is not base64", { _ in #"{"nkey":"\#(Self.alice.publicKey)","sig":"\#(good.replacingOccurrences(of: "A", with: "!"))"}"# }),
            ("a signature of 3000 characters", { _ in #"{"nkey":"\#(Self.alice.publicKey)","sig":"\#(String(repeating: "A", count: 3000))"}"# }),
            ("a malformed key", { #"{"nkey":"UBAD","sig":"\#(Self.alice.signature(of: $0))"}"# }),
            ("a key of 3000 characters", { #"{"nkey":"\#(String(repeating: "U", count: 3000))","sig":"\#(Self.alice.signature(of: $0))"}"# }),
            ("a key that is not a string", { #"{"nkey":42,"sig":"\#(Self.alice.signature(of: $0))"}"# }),
            ("a signature that is not a string", { _ in #"{"nkey":"\#(Self.alice.publicKey)","sig":["x"]}"# }),
            ("the key's seed for a key", { #"{"nkey":"\#(NKeyTests.seed)","sig":"\#(Self.alice.signature(of: $0))"}"# }),
        ]
        for (what, connect) in attempts {
            let (client, nonce) = try Self.open(server)
            try client.send("CONNECT \(connect(try #require(nonce)))\r\nPING\r\n")
            try Self.expectRefused(client, "\(what)")
        }
        // The first connection's own nonce still works for it: each nonce is its connection's.
        try first.send(#"CONNECT {"verbose":false,"nkey":"\#(Self.alice.publicKey)","sig":"\#(replayed)"}"# + "\r\nPING\r\n")
        #expect(try first.readLine() == "PONG")
        // Failed logins are logged as wrong passwords are, throttled, and without a signature.
        #expect(server.log.waitForLine(containing: "Authorization Violation", timeout: 5) != nil)
        #expect(!server.log.text.contains(replayed))
        #expect(!server.log.text.contains(good))
    }

    @Test func anNKeyWithoutANonceToSignIsRefused() throws {
        // Only password users: INFO has no nonce, and a CONNECT with a key proves nothing.
        let config = try Self.config("authorization { users = [ { user: carol, password: three } ] }\n")
        defer { try? FileManager.default.removeItem(at: config) }
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        let (early, nonce) = try Self.open(server)
        #expect(nonce == nil)
        let (before, _) = try Self.open(server)
        try before.send(#"CONNECT {"nkey":"\#(Self.alice.publicKey)","sig":"\#(Self.alice.signature(of: "abcdefghijklmno"))"}"# + "\r\nPING\r\n")
        try Self.expectRefused(before)
        // A reload adds the NKEY user: a connection whose INFO had no nonce still cannot prove
        // it (there is nothing it could have signed), a new one can.
        try Self.mixedUsers.write(to: config, atomically: true, encoding: .utf8)
        kill(server.pid, SIGHUP)
        #expect(server.log.waitForLine(containing: "SIGHUP: reloaded", timeout: 10) != nil)
        try early.send(#"CONNECT {"nkey":"\#(Self.alice.publicKey)","sig":"\#(Self.alice.signature(of: ""))"}"# + "\r\nPING\r\n")
        try Self.expectRefused(early)
        #expect(try Self.login(server, Self.alice).readLine() == "PONG")
        // Without any authentication a key is ignored, as by nats-server.
        let open = try DocketdProcess()
        defer { _ = open.stop() }
        let (anyone, _) = try Self.open(open)
        try anyone.send(#"CONNECT {"verbose":false,"nkey":"\#(Self.alice.publicKey)","sig":"x"}"# + "\r\nPING\r\n")
        #expect(try anyone.readLine() == "PONG")
    }

    @Test func anNKeyUserOfAnAccountSeesItsSubjectsAndConnzShowsItsKey() throws {
        let config = try Self.config("""
            accounts { acme { users [
              { nkey = "\(Self.alice.publicKey)", permissions = { subscribe = { allow = ["help", "_INBOX.>"], deny = ["foo"] } } }
            ] } }
            authorization { users = [ { user: carol, password: three } ] }
            """)
        defer { try? FileManager.default.removeItem(at: config) }
        let server = try DocketdProcess(["-c", config.path, "-m", "0"])
        defer { _ = server.stop() }
        let alice = try Self.login(server, Self.alice)
        #expect(try alice.readLine() == "PONG")
        try alice.send("SUB help 1\r\nSUB foo 2\r\nPING\r\n")
        #expect(try alice.readLine() == #"-ERR 'Permissions Violation for Subscription to "foo"'"#)
        #expect(try alice.readLine() == "PONG")
        // carol, in the global account, does not reach acme's subscriber.
        let (carol, _) = try Self.open(server)
        try carol.send(#"CONNECT {"verbose":false,"user":"carol","pass":"three"}"# + "\r\nPUB help 1\r\nc\r\nPING\r\n")
        #expect(try carol.readLine() == "PONG")
        try alice.send("PUB help 1\r\na\r\nPING\r\n")
        #expect(try alice.readLine() == "MSG help 1 1")
        #expect(try alice.readLine() == "a")
        #expect(try alice.readLine() == "PONG")
        let port = try #require(server.httpPort)
        let basic = "Basic " + Data("carol:three".utf8).base64EncodedString()
        let shown = try Self.get(port, "/connz?auth=true", basic)
        #expect(shown.contains(#""authorized_user":"\#(Self.alice.publicKey)""#), "\(shown)")
        #expect(shown.contains(#""account":"acme""#), "\(shown)")
        #expect(shown.contains(#""authorized_user":"carol""#), "\(shown)")
        let plain = try Self.get(port, "/connz", basic)
        #expect(plain.contains("HTTP/1.1 200 ") && !plain.contains("authorized_user"), "\(plain)")
    }

    static func get(_ port: Int, _ path: String, _ authorization: String) throws -> String {
        let client = try LineClient(port: port)
        try client.send("GET \(path) HTTP/1.1\r\nAuthorization: \(authorization)\r\n\r\n")
        return String(decoding: try client.readUntilClosed(), as: UTF8.self)
    }

    @Test func aReloadClosesARemovedNKeyUserAndChangesTheRightsOfOneThatStays() throws {
        let config = try Self.config("""
            authorization { users = [
              { nkey: \(Self.alice.publicKey), permissions: { publish: "orders.>" } }
              { nkey: \(Self.bob.publicKey) }
            ] }
            """)
        defer { try? FileManager.default.removeItem(at: config) }
        let server = try DocketdProcess(["-c", config.path])
        defer { _ = server.stop() }
        let alice = try Self.login(server, Self.alice)
        let bob = try Self.login(server, Self.bob)
        #expect(try alice.readLine() == "PONG")
        #expect(try bob.readLine() == "PONG")
        try """
            authorization { users = [
              { nkey: \(Self.alice.publicKey), permissions: { publish: "billing.>" } }
              { user: carol, password: three }
            ] }
            """.write(to: config, atomically: true, encoding: .utf8)
        kill(server.pid, SIGHUP)
        #expect(server.log.waitForLine(containing: "SIGHUP: reloaded", timeout: 10) != nil)
        try Self.expectRefused(bob)
        try alice.send("PUB orders.x 1\r\nx\r\nPUB billing.x 1\r\ny\r\nPING\r\n")
        #expect(try alice.readLine() == #"-ERR 'Permissions Violation for Publish to "orders.x"'"#)
        #expect(try alice.readLine() == "PONG")
        #expect(try Self.login(server, Self.alice).readLine() == "PONG")
        try Self.expectRefused(try Self.login(server, Self.bob))
    }
}
