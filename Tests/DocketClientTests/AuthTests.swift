import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// Credentials against a docketd that requires them (`--auth`, `--user`/`--pass`).
@Suite struct AuthTests {
    @Test func tokenAndUserFromOptionsAndFromTheAddress() throws {
        let tokenServer = try DocketdProcess(["--auth", "s3cret"])
        defer { tokenServer.stop(timeout: 5) }
        let viaOptions = try DocketConnection(tokenServer.address, options: DocketConnection.Options(credentials: .token("s3cret")))
        defer { viaOptions.close() }
        #expect(try viaOptions.enqueue("q", "x").id == 1)
        let viaAddress = try DocketConnection("nats://s3cret@\(tokenServer.address)")
        defer { viaAddress.close() }
        try viaAddress.flush()

        let userServer = try DocketdProcess(["--user", "alice", "--pass", "won der"])
        defer { userServer.stop(timeout: 5) }
        let user = try DocketConnection("alice:won%20der@\(userServer.address)")
        defer { user.close() }
        try user.flush()
    }

    @Test func wrongCredentialsAreRefusedAtOnceAndNeverShown() throws {
        let server = try DocketdProcess(["--user", "alice", "--pass", "wonder"])
        defer { server.stop(timeout: 5) }
        for credentials: Credentials? in [nil, .user("alice", password: "topsecret-guess"), .token("topsecret-token")] {
            let started = Date()
            do {
                _ = try DocketConnection(server.address, options: DocketConnection.Options(credentials: credentials))
                Issue.record("connected without the right credentials")
            } catch {
                guard case .notAuthorized(let text) = error else {
                    Issue.record("expected notAuthorized, got \(error)")
                    continue
                }
                #expect(text.contains("Authorization Violation"))
                #expect(!"\(error)".contains("topsecret"))
            }
            #expect(Date().timeIntervalSince(started) < 2)
        }
        #expect(!"\(Credentials.user("a", password: "topsecret"))".contains("topsecret"))
    }

    @Test func aReconnectPresentsTheCredentialsAgain() throws {
        let first = try DocketdProcess(["--auth", "s3cret"])
        let client = try DocketConnection(first.address, options: DocketConnection.Options(credentials: .token("s3cret")))
        defer { client.close() }
        _ = try client.enqueue("q", "before")
        #expect(first.stop() == 0)
        let second = try first.restart(["--auth", "s3cret"])
        defer { second.stop(timeout: 5) }
        #expect(try client.enqueue("q", "after").id == 2)
        #expect(client.reconnects >= 1)
    }

    @Test func theCLITakesCredentialsInTheServerAddress() throws {
        try withServer(["--auth", "s3cret"]) { server in
            let ok = try CLIRun(["stats", "--server", "s3cret@\(server.address)"], server: server)
            #expect(ok.exitStatus(timeout: 10) == 0)
            let refused = try CLIRun(["stats", "--server", server.address], server: server)
            #expect(refused.exitStatus(timeout: 10) == 4)
            #expect(refused.stderr.contains("not authorized"))
        }
    }
}
