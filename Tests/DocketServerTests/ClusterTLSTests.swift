import DocketTestSupport
import Foundation
import Testing

/// The cluster link over TLS: nats-servers that require TLS and verify client certificates,
/// reached by host name (resolved on docketd's loop) and by address.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ClusterTLSTests {
    func client(_ server: DocketdProcess) throws -> LineClient {
        let client = try server.client()
        _ = try client.handshake()
        return client
    }

    /// The link's part of STATS once it has settled: connected, or the error it keeps hitting.
    func link(_ client: LineClient, until done: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(10)
        while true {
            let link = try #require(try client.object("STATS")["cluster"] as? [String: Any])
            if done(link) || Date() > deadline { return link }
            usleep(100_000)
        }
    }

    @Test func messagesCrossATLSClusterWithClientCertificates() throws {
        guard NATSCluster.binary != nil else {
            print("ClusterTLSTests skipped: nats-server is not installed")
            return
        }
        let pki = try TestPKI()
        let cluster = try NATSCluster(
            count: 2, arguments: ["--tlsverify", "--tlscert", pki.path("server.pem"), "--tlskey", pki.path("server.key"), "--tlscacert", pki.ca])
        let certificate = ["--cluster-tlscert", pki.path("client.pem"), "--cluster-tlskey", pki.path("client.key")]
        // A by name (the certificate names localhost), B by address (it names 127.0.0.1 too).
        let a = try DocketdProcess(
            ["--cluster-nats", "tls://localhost:\(cluster.nodes[0].clientPort)", "--cluster-tlscacert", pki.ca] + certificate)
        let b = try DocketdProcess(["--cluster-nats", cluster.nodes[1].url, "--cluster-tlscacert", pki.ca] + certificate)
        let (ca, cb) = (try client(a), try client(b))
        try cb.line("SUB news 1")
        try cb.sync()
        var crossed = false
        let deadline = Date().addingTimeInterval(10)
        cb.timeout = 0.2
        while !crossed && Date() < deadline {
            try ca.send("PUB news 5\r\nhello\r\n")
            if let line = try? cb.readLine(), line.hasPrefix("MSG news 1 5") {
                crossed = (try? cb.readLine()) == "hello"
            }
        }
        cb.timeout = 5
        #expect(crossed, "a message from A reached B through the TLS cluster")
        let linkA = try link(ca) { $0["connected"] as? Bool == true }
        #expect(linkA["connected"] as? Bool == true && linkA["url"] as? String == "tls://localhost:\(cluster.nodes[0].clientPort)", "\(linkA)")
        #expect(a.log.text.contains("connected to tls://localhost:\(cluster.nodes[0].clientPort) (TLSv1"), "the log names the TLS version")

        // A CA that signed neither server: never connected, and the reason is the certificate.
        let stranger = try DocketdProcess(["--cluster-nats", cluster.nodes[0].url, "--cluster-tlscacert", pki.otherCA] + certificate)
        let linkS = try link(try client(stranger)) { ($0["error"] as? String)?.contains("certificate") == true }
        #expect(linkS["connected"] as? Bool == false && (linkS["error"] as? String ?? "").contains("certificate verify failed"), "\(linkS)")
        // No client certificate: the server refuses it.
        let anonymous = try DocketdProcess(["--cluster-nats", cluster.nodes[0].url, "--cluster-tlscacert", pki.ca])
        let linkN = try link(try client(anonymous)) { $0["error"] as? String != nil }
        #expect(linkN["connected"] as? Bool == false, "\(linkN)")
        // Plain nats:// to a server that requires TLS upgrades by itself, and then verifies
        // against the system's CAs, which do not know the test CA.
        let plain = try DocketdProcess(["--cluster-nats", cluster.nodes[1].url])
        let linkP = try link(try client(plain)) { ($0["error"] as? String)?.contains("certificate") == true }
        #expect(linkP["connected"] as? Bool == false && (linkP["error"] as? String ?? "").contains("certificate"), "\(linkP)")
        for server in [a, b, stranger, anonymous, plain] { #expect(server.stop() == 0) }
    }

    /// SIGHUP reads the link's CA file again: a link refused for a CA that signed no server
    /// connects once the file holds the one that did.
    @Test func aReloadedCAFileLetsTheLinkConnect() throws {
        guard NATSCluster.binary != nil else { return }
        let pki = try TestPKI()
        let cluster = try NATSCluster(count: 1, arguments: ["--tls", "--tlscert", pki.path("server.pem"), "--tlskey", pki.path("server.key")])
        let caFile = pki.path("link-ca.pem")
        try FileManager.default.copyItem(atPath: pki.otherCA, toPath: caFile)
        let server = try DocketdProcess(["--cluster-nats", cluster.nodes[0].url, "--cluster-tlscacert", caFile])
        let c = try client(server)
        let refused = try link(c) { ($0["error"] as? String)?.contains("certificate") == true }
        #expect(refused["connected"] as? Bool == false && (refused["error"] as? String ?? "").contains("certificate verify failed"), "\(refused)")
        try TLSReloadTests.overwrite(caFile, with: pki.ca)
        TLSReloadTests.reload(server)
        let summary = server.log.lines.last { $0.contains("SIGHUP: reloaded") } ?? ""
        #expect(summary.contains("TLS certificates of the nats cluster link"), "\(summary)")
        let linked = try link(c) { $0["connected"] as? Bool == true }
        #expect(linked["connected"] as? Bool == true, "\(linked)")
        #expect(server.stop() == 0)
    }

    /// tls:// to a server without TLS: refused before anything is sent in the clear.
    @Test func aTLSAddressRefusesAPlainServer() throws {
        guard NATSCluster.binary != nil else { return }
        let cluster = try NATSCluster(count: 1)
        let server = try DocketdProcess(["--cluster-nats", "tls://127.0.0.1:\(cluster.nodes[0].clientPort)"])
        let link = try link(try client(server)) { $0["error"] as? String != nil }
        #expect(link["connected"] as? Bool == false && (link["error"] as? String ?? "").contains("does not offer TLS"), "\(link)")
        #expect(server.stop() == 0)
    }

    /// A host name nobody knows: the link says so and the server goes on serving.
    @Test func anUnknownHostNameIsAnErrorNotAStall() throws {
        let server = try DocketdProcess(["--cluster-nats", "nats://docket-no-such-host.invalid:4222"])
        let c = try client(server)
        let link = try link(c) { $0["error"] as? String != nil }
        #expect((link["error"] as? String ?? "").contains("cannot resolve docket-no-such-host.invalid"), "\(link)")
        try c.line("PING")
        #expect(try c.readLine() == "PONG")
        #expect(server.stop() == 0)
    }
}
