import Foundation

/// Certificates made with the openssl command line in a temporary directory: a CA, a server
/// certificate for 127.0.0.1 and localhost, a client certificate, and a second CA that signed
/// neither (with a client certificate of its own). Removed when released.
public final class TestPKI {
    public let directory: URL

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // P-256 keys: a fraction of RSA's key generation time.
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(["req", "-x509"] + newKey + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Docket Test CA"])
        try openssl(["req", "-x509"] + newKey + ["-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=Other CA"])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(to: url("server.ext"), atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(to: url("client.ext"), atomically: true, encoding: .utf8)
        try issue("server", subject: "/CN=localhost", by: "ca", extensions: "server.ext")
        try issue("client", subject: "/CN=docket-test-client", by: "ca", extensions: "client.ext")
        try issue("stranger", subject: "/CN=stranger", by: "other-ca", extensions: "client.ext")
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    public func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
    public func path(_ name: String) -> String { url(name).path }

    public var ca: String { path("ca.pem") }
    public var otherCA: String { path("other-ca.pem") }

    /// docketd's flags for TLS with this PKI's server certificate.
    public func serverFlags(verifyClients: Bool = false, handshakeFirst: Bool = false) -> [String] {
        var flags = ["--tlscert", path("server.pem"), "--tlskey", path("server.key")]
        flags += verifyClients ? ["--tlsverify", "--tlscacert", ca] : ["--tls"]
        if handshakeFirst { flags.append("--tls-handshake-first") }
        return flags
    }

    /// Another server certificate from the same CA, for the same names (`name.pem`, `name.key`):
    /// what a rotation brings, told from the first by its subject.
    public func issueServerCertificate(_ name: String, subject: String) throws {
        try issue(name, subject: subject, by: "ca", extensions: "server.ext")
    }

    private func issue(_ name: String, subject: String, by issuer: String, extensions: String) throws {
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject])
        try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key", "-CAcreateserial",
                     "-out", "\(name).pem", "-days", "2", "-extfile", extensions])
    }

    private func openssl(_ arguments: [String]) throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard process.awaitExit() == 0 else { throw HarnessError("openssl \(arguments.joined(separator: " ")) failed") }
    }
}
