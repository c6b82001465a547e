import DocketPasswords
import DocketTestSupport
import Foundation
import Testing

/// bcrypt password hashes, as nats-server accepts them in a configuration file.
@Suite struct PasswordHashTests {
    @Test func makesAndVerifiesHashesInEveryPrefixNatsUses() throws {
        let hash = try #require(PasswordHash.make("wonder land", cost: 4))
        #expect(PasswordHash.isHash(hash) && hash.hasPrefix("$2b$04$"))
        #expect(PasswordHash.verify("wonder land", against: hash))
        #expect(!PasswordHash.verify("wonder lane", against: hash))
        #expect(!PasswordHash.verify("", against: hash))
        // nats-server's tool writes $2a$; the same hash under that name checks the same.
        let natsStyle = "$2a$" + hash.dropFirst(4)
        #expect(PasswordHash.verify("wonder land", against: natsStyle))
        #expect(!PasswordHash.isHash("$2a$short") && !PasswordHash.isHash("plain"))
    }

    /// A CONNECT's JSON can carry a NUL (`\u0000`); the C text libcrypt reads would end there,
    /// so the password with anything after a NUL would pass for the password.
    @Test func aPasswordWithANulIsNotThePasswordBeforeIt() throws {
        let hash = try #require(PasswordHash.make("wonder land", cost: 4))
        #expect(!PasswordHash.verify("wonder land\u{0}anything", against: hash))
        let empty = try #require(PasswordHash.make("", cost: 4))
        #expect(!PasswordHash.verify("\u{0}x", against: empty))
    }

    @Test func theCheckerAnswersThroughItsDescriptor() throws {
        let hash = try #require(PasswordHash.make("s3cret", cost: 4))
        let checker = try PasswordChecker(capacity: 2)
        defer { checker.stop() }
        #expect(checker.submit(id: 1, password: "s3cret", hash: hash))
        #expect(checker.submit(id: 2, password: "wrong", hash: hash))
        let results = checker.results(count: 2, within: 10)
        #expect(results.map(\.id) == [1, 2])
        #expect(results.map(\.matches) == [true, false])
    }

    func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-\(UUID().uuidString).conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A user with a hashed password connects; a wrong password is the usual violation; and the
    /// slow check runs off the loop: another client is served while it runs.
    @Test func hashedPasswordsInTheConfigurationFile() throws {
        let slow = try #require(PasswordHash.make("slow one", cost: 13))
        let path = try file("""
            authorization {
              users = [
                { user: alice, password: "\(slow)" }
                { user: bob, password: plain }
              ]
            }
            """)
        // Cost 13 takes about a second here, longer on a loaded machine: the check is what is
        // tested, not the default auth timeout.
        let server = try DocketdProcess(["-c", path, "-m", "0", "--auth-timeout", "20s"])
        let alice = try server.client()
        _ = try alice.readLine()
        try alice.send(#"CONNECT {"verbose":false,"user":"alice","pass":"slow one"}"# + "\r\nPING\r\n")
        let bob = try server.client()
        _ = try bob.readLine()
        try bob.send(#"CONNECT {"verbose":false,"user":"bob","pass":"plain"}"# + "\r\nPING\r\n")
        #expect(try bob.readLine() == "PONG")
        let bobServed = Date()
        #expect(try alice.readLine() == "PONG")
        let aliceServed = Date()
        #expect(aliceServed > bobServed)

        let wrong = try server.client()
        _ = try wrong.readLine()
        try wrong.send(#"CONNECT {"verbose":false,"user":"alice","pass":"slow two"}"# + "\r\nPING\r\n")
        #expect(try wrong.readLine() == "-ERR 'Authorization Violation'")
        let nobody = try server.client()
        _ = try nobody.readLine()
        try nobody.send(#"CONNECT {"verbose":false,"user":"carol","pass":"slow one"}"# + "\r\n")
        #expect(try nobody.readLine() == "-ERR 'Authorization Violation'")

        // The monitoring port checks the same hash.
        let port = try #require(server.httpPort)
        let http = try LineClient(port: port)
        http.timeout = 20
        try http.send("GET /varz HTTP/1.1\r\nAuthorization: Basic \(Data("alice:slow one".utf8).base64EncodedString())\r\n\r\n")
        #expect(String(decoding: try http.readUntilClosed(), as: UTF8.self).hasPrefix("HTTP/1.1 200 "))
    }

    @Test func docketdHashesAPasswordForTheConfiguration() throws {
        let process = ChildProcess()
        process.executableURL = DocketdProcess.binary
        process.arguments = ["--hash-password"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("wonder\n".utf8))
        try input.fileHandleForWriting.close()
        let status = process.awaitExit()
        let hash = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(status == 0)
        #expect(PasswordHash.isHash(hash) && PasswordHash.verify("wonder", against: hash))
    }
}

extension PasswordChecker {
    /// The results of `count` checks, in the order they came, waiting `seconds` at most.
    func results(count: Int, within seconds: TimeInterval) -> [Result] {
        var results: [Result] = []
        let deadline = Date().addingTimeInterval(seconds)
        while results.count < count && Date() < deadline {
            var poller = pollfd(fd: readDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&poller, 1, 100)
            results += takeResults()
        }
        return results
    }
}
