import DocketTLS
import DocketTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SIGHUP reads the TLS certificates and keys again, as nats-server's reload does: new
/// handshakes get the new certificate, connections already up keep theirs, and files that do
/// not load leave the old certificate in place.
@Suite(.serialized, .timeLimit(.minutes(2))) struct TLSReloadTests {
    /// The files docketd is started with, overwritten in place as a rotation does.
    struct LiveFiles {
        let certificate: String
        let key: String

        init(_ pki: TestPKI) {
            (certificate, key) = (pki.path("live.pem"), pki.path("live.key"))
        }

        /// Puts `name.pem` and `name.key` where the server reads its certificate, the key with `mode`.
        func install(_ pki: TestPKI, _ name: String, keyMode: Int = 0o600) throws {
            try overwrite(certificate, with: pki.path("\(name).pem"))
            try overwrite(key, with: pki.path("\(name).key"))
            try FileManager.default.setAttributes([.posixPermissions: keyMode], ofItemAtPath: key)
        }
    }

    /// Writes `source`'s bytes over `path`, in place.
    static func overwrite(_ path: String, with source: String) throws {
        try Data(contentsOf: URL(fileURLWithPath: source)).write(to: URL(fileURLWithPath: path))
    }

    /// A PKI with certificate A (`server`, CN=localhost) in the live files, and B (`server-b`,
    /// CN=docket-server-b, for the same names) to rotate to.
    static func rotation() throws -> (TestPKI, LiveFiles) {
        let pki = try TestPKI()
        try pki.issueServerCertificate("server-b", subject: "/CN=docket-server-b")
        let live = LiveFiles(pki)
        try live.install(pki, "server")
        return (pki, live)
    }

    /// Sends SIGHUP and waits for the reload's summary line (any failures are logged before it).
    static func reload(_ server: DocketdProcess) {
        let count = { server.log.lines.filter { $0.contains("SIGHUP: reloaded") }.count }
        let before = count()
        kill(server.pid, SIGHUP)
        let deadline = Date().addingTimeInterval(10)
        while count() == before && Date() < deadline { usleep(10_000) }
    }

    /// A client's binary frame (short, masked with zeros) carrying `text`.
    static func frame(_ text: String) -> [UInt8] {
        [0x82, 0x80 | UInt8(text.utf8.count), 0, 0, 0, 0] + Array(text.utf8)
    }

    /// The subject of the certificate each port shows a new connection.
    func subjects(_ server: DocketdProcess, _ pki: TestPKI) throws -> [String?] {
        [
            try TLSProbe(port: server.port, ca: pki.ca, infoFirst: true).serverSubject,
            try TLSProbe(port: try #require(server.webSocketPort), ca: pki.ca).serverSubject,
            try TLSProbe(port: try #require(server.httpPort), ca: pki.ca).serverSubject,
        ]
    }

    @Test func newHandshakesGetTheRotatedCertificateAndABrokenKeyKeepsIt() throws {
        let (pki, live) = try Self.rotation()
        let server = try DocketdProcess(["--tls", "--tlscert", live.certificate, "--tlskey", live.key, "--websocket-port", "0", "-m", "0"])
        defer { server.stop() }
        let a = "CN=localhost"
        #expect(try subjects(server, pki) == [a, a, a])
        // Connections made under A, each on its own port, logged in (or upgraded) before the
        // login deadlines pass, and used again after the reloads.
        let client = try TLSProbe(port: server.port, ca: pki.ca, infoFirst: true)
        try client.send("CONNECT {\"verbose\":false}\r\n")
        let webSocket = try TLSProbe(port: try #require(server.webSocketPort), ca: pki.ca)
        try webSocket.send(WebSocketClient.request())
        #expect(try webSocket.readLine().hasPrefix("HTTP/1.1 101"))
        try webSocket.send(Self.frame("CONNECT {\"verbose\":false}\r\n"))
        let monitoring = try TLSProbe(port: try #require(server.httpPort), ca: pki.ca)

        // The same files: nothing is made again, and the reload does not say it was.
        Self.reload(server)
        let unchanged = server.log.lines.last { $0.contains("SIGHUP: reloaded") } ?? ""
        #expect(!unchanged.isEmpty && !unchanged.contains("TLS certificates"), "\(server.log.text)")

        // B, its key readable by everyone: taken on all three ports, and the key's mode named.
        try live.install(pki, "server-b", keyMode: 0o644)
        Self.reload(server)
        let b = "CN=docket-server-b"
        #expect(try subjects(server, pki) == [b, b, b], "\(server.log.text)")
        let summary = server.log.lines.last { $0.contains("SIGHUP: reloaded") } ?? ""
        #expect(summary.contains("TLS certificates of the client and monitoring ports, the websocket port"), "\(summary)")
        #expect(server.log.lines.contains { $0.contains("the key file \(live.key) can be read by every user") }, "\(server.log.text)")

        // A key that is no key: nothing changes, and the log names the file.
        try "not a key\n".write(toFile: live.key, atomically: false, encoding: .utf8)
        Self.reload(server)
        #expect(try subjects(server, pki) == [b, b, b])
        let refusals = server.log.lines.filter { $0.contains("SIGHUP:") && $0.contains(live.key) }
        // The client port's files and the websocket port's (the same files, from the flags).
        #expect(refusals.count == 2 && refusals.allSatisfy { $0.contains("keeps the certificates it had") }, "\(server.log.text)")
        #expect(!(server.log.lines.last { $0.contains("SIGHUP: reloaded") } ?? "").contains("TLS certificates"))

        // The connections from before both reloads still work, with the certificate they had.
        #expect(client.serverSubject == a && webSocket.serverSubject == a && monitoring.serverSubject == a)
        try client.send("PING\r\n")
        #expect(try client.readLine() == "PONG")
        try webSocket.send(Self.frame("PING\r\n"))
        // Lines of frames: the INFO's and the PONG's, each after its frame's head.
        var line = try webSocket.readLine()
        while !line.hasSuffix("PONG") && !line.contains("-ERR") { line = try webSocket.readLine() }
        #expect(line.hasSuffix("PONG"), "\(line)")
        try monitoring.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try monitoring.readLine().hasPrefix("HTTP/1.1 200"))
    }

    /// A key for another certificate, and a CA file that does not parse, are refused as a key
    /// that is no key; turning client certificates on takes a restart and says so.
    @Test func aMismatchedKeyOrABrokenCAFileOrNewRulesChangeNothing() throws {
        let (pki, live) = try Self.rotation()
        let caFile = pki.path("live-ca.pem")
        try Self.overwrite(caFile, with: pki.ca)
        let config = pki.url("docketd.conf")
        let tls = "cert_file: \"\(live.certificate)\", key_file: \"\(live.key)\", ca_file: \"\(caFile)\""
        try "tls { \(tls) }\n".write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { server.stop() }
        let subject = { try TLSProbe(port: server.port, ca: pki.ca, infoFirst: true).serverSubject }
        #expect(try subject() == "CN=localhost")

        // B's certificate with A's key.
        try Self.overwrite(live.certificate, with: pki.path("server-b.pem"))
        Self.reload(server)
        #expect(try subject() == "CN=localhost")
        // OpenSSL compares the key with the certificate as it loads it ("key values mismatch").
        #expect(server.log.lines.contains { $0.contains("SIGHUP: tls: cannot load the key \(live.key)") && $0.contains("mismatch") }, "\(server.log.text)")

        // Its own key now, but a CA file that is not PEM.
        try live.install(pki, "server-b")
        try "garbage\n".write(toFile: caFile, atomically: false, encoding: .utf8)
        Self.reload(server)
        #expect(try subject() == "CN=localhost")
        #expect(server.log.lines.contains { $0.contains("SIGHUP:") && $0.contains("cannot load the CA file \(caFile)") }, "\(server.log.text)")

        // All files good, but verify turned on: nothing reloads, the summary lists tls for the restart.
        try Self.overwrite(caFile, with: pki.ca)
        try "tls { \(tls), verify: true }\n".write(to: config, atomically: true, encoding: .utf8)
        Self.reload(server)
        #expect(try subject() == "CN=localhost")
        let summary = server.log.lines.last { $0.contains("SIGHUP: reloaded") } ?? ""
        #expect(summary.contains("applied only at the next start: tls") && !summary.contains("TLS certificates"), "\(summary)")

        // verify off again: B at last.
        try "tls { \(tls) }\n".write(to: config, atomically: true, encoding: .utf8)
        Self.reload(server)
        #expect(try subject() == "CN=docket-server-b")
    }

    /// The cluster listener (`cluster { tls }`): a route's handshake, with the client
    /// certificate every route must show, gets the new certificate after a reload.
    @Test func theClusterListenerTakesTheRotatedCertificate() throws {
        let (pki, live) = try Self.rotation()
        let config = pki.url("docketd.conf")
        try """
            cluster { listen: "127.0.0.1:0", tls { cert_file: "\(live.certificate)", key_file: "\(live.key)", ca_file: "\(pki.ca)" } }

            """.write(to: config, atomically: true, encoding: .utf8)
        let server = try DocketdProcess(["-c", config.path])
        defer { server.stop() }
        let listening = try #require(server.log.lines.first { $0.contains("Listening for route connections on") })
        let port = try #require(Int(listening.split(separator: ":").last ?? ""))
        let subject = {
            try TLSProbe(port: port, ca: pki.ca, certificate: pki.path("client.pem"), key: pki.path("client.key")).serverSubject
        }
        #expect(try subject() == "CN=localhost")
        try live.install(pki, "server-b")
        Self.reload(server)
        #expect(try subject() == "CN=docket-server-b", "\(server.log.text)")
        #expect((server.log.lines.last { $0.contains("SIGHUP: reloaded") } ?? "").contains("TLS certificates of the cluster's routes"))
        try FileManager.default.removeItem(atPath: live.certificate)
        Self.reload(server)
        #expect(try subject() == "CN=docket-server-b")
        #expect(server.log.lines.contains { $0.contains("SIGHUP: cluster.tls: cannot load the certificate \(live.certificate)") }, "\(server.log.text)")
    }
}

/// A TLS client on a test connection's socket, made with DocketTLS as docket's clients make
/// theirs: it shows which certificate the server presented.
final class TLSProbe {
    private let socket: LineClient
    private let session: TLSSession
    private var input: [UInt8] = []

    /// `infoFirst`: the client port's order, a plain INFO and then the upgrade.
    init(port: Int, ca: String, certificate: String? = nil, key: String? = nil, infoFirst: Bool = false) throws {
        socket = try LineClient(port: port)
        // A server that never answers fails the read instead of hanging the test.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if infoFirst { _ = try socket.readLine() }
        session = try TLSContext.client(caFile: ca, certificate: certificate, key: key).session(fd: socket.fd, serverName: "127.0.0.1")
        let outcome = session.handshake()
        guard outcome == .done(0) else { throw HarnessError("TLS handshake with port \(port): \(outcome)") }
    }

    /// The subject of the certificate the server presented (RFC 2253).
    var serverSubject: String? { session.peerSubject }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        let outcome = bytes.withUnsafeBytes { session.write($0) }
        guard outcome == .done(bytes.count) else { throw HarnessError("TLS write: \(outcome)") }
    }

    func readLine() throws -> String {
        while true {
            if let newline = input.firstIndex(of: 10) {
                let line = input[..<newline].dropLast(input[..<newline].last == 13 ? 1 : 0)
                input.removeFirst(newline + 1)
                return String(decoding: line, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let outcome = chunk.withUnsafeMutableBytes { session.read(into: $0) }
            guard case .done(let count) = outcome else { throw HarnessError("TLS read: \(outcome)") }
            input += chunk[..<count]
        }
    }
}
