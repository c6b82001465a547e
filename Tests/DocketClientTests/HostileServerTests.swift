import DocketClient
import DocketTestSupport
import Foundation
import Testing

/// The client against fake servers that misbehave in ways a real docketd does not: the client
/// must neither trap nor hang beyond its timeouts.
@Suite struct HostileServerTests {
    /// A loopback server that completes each connection's handshake (INFO, then PONG to the
    /// first PING, with `withPong` in the same write), then does what `afterHandshake` says with
    /// the socket. Every socket is shut down by `stop()`, which ends whatever `afterHandshake`
    /// still does.
    final class FakeServer: @unchecked Sendable {
        let port: Int
        private let listener: Int32
        private let lock = NSLock()
        private var clients: [Int32] = []
        private var stopped = false
        private let afterHandshake: @Sendable (Int32, FakeServer) -> Void

        var isStopped: Bool { lock.withLock { stopped } }

        /// Instead of the handshake, when given.
        private let greeting: (@Sendable (Int32, FakeServer) -> Void)?

        /// Sent in the same write as the handshake's PONG.
        private let withPong: String

        init(
            receiveBuffer: Int32? = nil, greeting: (@Sendable (Int32, FakeServer) -> Void)? = nil, withPong: String = "",
            afterHandshake: @escaping @Sendable (Int32, FakeServer) -> Void = { _, _ in }
        ) throws {
            self.greeting = greeting
            self.withPong = withPong
            (listener, port) = try LoopbackListener.open(receiveBuffer: receiveBuffer)
            self.afterHandshake = afterHandshake
            Thread.detachNewThread { [self] in serve() }
        }

        private func serve() {
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                let keep = lock.withLock { () -> Bool in
                    if stopped { return false }
                    clients.append(client)
                    return true
                }
                guard keep else {
                    close(client)
                    return
                }
                Thread.detachNewThread { [self] in
                    if let greeting { return greeting(client, self) }
                    let info = "INFO {\"server_id\":\"FAKE\",\"version\":\"0.1.0\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n"
                    guard send(client, info) else { return }
                    var seen: [UInt8] = []
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while !seen.suffix(6).elementsEqual("PING\r\n".utf8) {
                        let count = recv(client, &buffer, buffer.count, 0)
                        guard count > 0 else { return }
                        seen += buffer[..<count]
                    }
                    guard send(client, "PONG\r\n" + withPong) else { return }
                    afterHandshake(client, self)
                }
            }
        }

        /// Sends all of `text`; false once the socket is broken.
        func send(_ client: Int32, _ text: String) -> Bool {
            let bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let count = bytes[offset...].withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }

        func stop() {
            let all = lock.withLock { () -> [Int32] in
                stopped = true
                return clients
            }
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
            for client in all { shutdown(client, Int32(SHUT_RDWR)) }
        }
    }

    /// Runs `body` on a thread of its own; whether it returned within `seconds`.
    func returns(within seconds: TimeInterval, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            body()
            done.signal()
        }
        return done.wait(timeout: .now() + seconds) == .success
    }

    /// A reply that comes with the handshake's PONG answers no command (none was sent yet);
    /// read later, it passed for the reply to the first command (an enqueue returned job 77).
    @Test(arguments: ["+OK 77\r\n", "JOB 5 q 1 1\r\nx\r\n"])
    func aReplyThatComesWithThePongFailsTheConnect(reply: String) throws {
        let server = try FakeServer(withPong: reply)
        defer { server.stop() }
        #expect {
            _ = try DocketConnection(host: "127.0.0.1", port: server.port, options: .init(connectTimeout: 2))
        } throws: { error in
            guard case DocketError.connectFailed(let text) = error else { return false }
            return text.contains("no command waits")
        }
    }

    /// What else may come with the PONG (a PING, a new INFO) is still handled.
    @Test func pingsAndInfoThatComeWithThePongAreHandled() throws {
        let info = "INFO {\"server_id\":\"FAKE\",\"max_payload\":2048}\r\n"
        let server = try FakeServer(withPong: "PING\r\n" + info)
        defer { server.stop() }
        let connection = try DocketConnection(host: "127.0.0.1", port: server.port)
        defer { connection.close() }
        let deadline = Date().addingTimeInterval(5)
        while connection.maxPayload != 2048, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(connection.maxPayload == 2048)
    }

    /// An INFO `max_payload` that is no positive integer counts as none (1 MiB): taken as it
    /// was, -1 refused every payload.
    @Test(arguments: ["-1", "0", "true"])
    func anInfoMaxPayloadThatIsNoPositiveIntegerCountsAsNone(value: String) throws {
        let server = try FakeServer(withPong: "INFO {\"server_id\":\"FAKE\",\"max_payload\":\(value)}\r\n") { client, server in
            // Answers each PING (the flush's), whatever else comes.
            var seen: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(client, &buffer, buffer.count, 0)
                guard count > 0 else { return }
                seen += buffer[..<count]
                while let end = seen.firstRange(of: Array("PING\r\n".utf8)) {
                    seen.removeSubrange(..<end.upperBound)
                    guard server.send(client, "PONG\r\n") else { return }
                }
            }
        }
        defer { server.stop() }
        let connection = try DocketConnection(host: "127.0.0.1", port: server.port)
        defer { connection.close() }
        try connection.flush()
        #expect(connection.maxPayload == 1 << 20)
        try connection.publish("orders.new", Array("hello".utf8))
    }

    /// Each reconnect wait gets up to `reconnectJitter` more at random: without it, the clients
    /// a restarted server lost all come back at the same instants, attempt after attempt. The
    /// server drops each connection after its handshake; the waits are capped at 50 ms, so the
    /// gaps between connections were all about 50 ms. With 300 ms of jitter five in six are
    /// over 100 ms: fewer than three of nine happens about once in 10,000 runs.
    @Test func reconnectWaitsGetJitter() throws {
        let arrivals = NSLock()
        nonisolated(unsafe) var times: [Date] = []
        let server = try FakeServer(afterHandshake: { client, _ in
            arrivals.withLock { times.append(Date()) }
            shutdown(client, Int32(SHUT_RDWR))
        })
        defer { server.stop() }
        let options = DocketConnection.Options(reconnectWait: .milliseconds(50), reconnectMaxWait: .milliseconds(50), reconnectJitter: .milliseconds(300))
        let connection = try DocketConnection(host: "127.0.0.1", port: server.port, options: options)
        defer { connection.close() }
        let deadline = Date().addingTimeInterval(10)
        while arrivals.withLock({ times.count }) < 10, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let seen = arrivals.withLock { times }
        try #require(seen.count >= 10)
        let gaps = zip(seen.dropFirst(), seen).map { $0.timeIntervalSince($1) }.prefix(9)
        #expect(gaps.allSatisfy { $0 >= 0.045 }, "\(gaps)")
        #expect(gaps.filter { $0 > 0.1 }.count >= 3, "waits in lockstep: \(gaps)")
    }

    /// An `-ERR` with no job error code answering a job command (a server's own text, not one
    /// of NATS's): the command fails with it at once, and the next reply goes to the next
    /// command. It was taken for an asynchronous error, and the TOUCH waited out its timeout.
    @Test func anUncodedErrorAnswersTheJobCommandWaitingForIt() throws {
        let server = try FakeServer(afterHandshake: { client, server in
            var seen: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !seen.elementsEqual("TOUCH 1\r\nTOUCH 2\r\n".utf8) {
                let count = recv(client, &buffer, buffer.count, 0)
                guard count > 0 else { return }
                seen += buffer[..<count]
                if seen.count > 100 { return }
            }
            _ = server.send(client, "-ERR 'something went wrong'\r\n+OK\r\n")
        })
        defer { server.stop() }
        let connection = try DocketConnection(
            host: "127.0.0.1", port: server.port, options: .init(requestTimeout: 20, reconnect: false))
        defer { connection.close(flush: false) }
        let firstDone = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var firstError: DocketError?
        let started = Date()
        Thread.detachNewThread {
            do throws(DocketError) { try connection.touch(1) } catch { firstError = error }
            firstDone.signal()
        }
        Thread.sleep(forTimeInterval: 0.2)  // the first TOUCH is on the wire before the second
        try connection.touch(2)  // the +OK after the -ERR is the second TOUCH's
        #expect(firstDone.wait(timeout: .now() + 5) == .success)
        #expect(firstError == .commandFailed("something went wrong"))
        #expect(Date().timeIntervalSince(started) < 10, "waited for the request timeout")
    }

    /// Connect timeouts may be up to 366 days; more than 2^31 ms must not overflow poll(2)'s
    /// Int32 timeout (it trapped).
    @Test func aConnectTimeoutOfMonthsConnects() throws {
        let server = try FakeServer(afterHandshake: { _, _ in })
        defer { server.stop() }
        var options = DocketConnection.Options(reconnect: false)
        options.connectTimeout = .seconds(366 * 86_400)
        let client = try DocketConnection(host: "127.0.0.1", port: server.port, options: options)
        #expect(client.isConnected)
        client.close(flush: false)
    }

    /// A server that floods PINGs and reads nothing: the reader thread, answering them, ends
    /// up stuck writing a PONG with the write lock held. A command must still end within the
    /// request timeout, and `close()` (which flushes first) must return: it waited for the
    /// write lock for ever.
    @Test func closeReturnsWhenTheServerFloodsPingsAndReadsNothing() throws {
        let server = try FakeServer(receiveBuffer: 4096, afterHandshake: { client, server in
            let flood = String(repeating: "PING\r\n", count: 1000)
            let until = Date().addingTimeInterval(20)
            while !server.isStopped, Date() < until, server.send(client, flood) {}
        })
        defer { server.stop() }
        let client = try DocketConnection(
            host: "127.0.0.1", port: server.port, options: DocketConnection.Options(requestTimeout: 1, reconnect: false))
        let started = Date()
        #expect(throws: DocketError.self) { try client.stats() }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(returns(within: 8) { client.close() })
    }

    /// A server that reads nothing once connected: commands fill the socket buffers, and a
    /// write that cannot finish must end with the request timeout (the connection is then
    /// dropped), not block the caller for ever; `close()` returns too.
    @Test func writesToAServerThatStoppedReadingEndWithTheRequestTimeout() throws {
        let server = try FakeServer(receiveBuffer: 4096, afterHandshake: { _, server in
            while !server.isStopped { usleep(20_000) }
        })
        defer { server.stop() }
        let client = try DocketConnection(
            host: "127.0.0.1", port: server.port, options: DocketConnection.Options(requestTimeout: 1, reconnect: false))
        let errors = Locked<[DocketError]>([])
        let payload = [UInt8](repeating: 0x61, count: 1_000_000)
        // Enough bytes to fill any loopback socket buffers (a few MB at most).
        let wrote = returns(within: 20) {
            for _ in 0..<12 {
                do throws(DocketError) {
                    try client.enqueue("q", payload)
                } catch {
                    errors.withLock { $0.append(error) }
                    if case .connectionClosed = error { return }
                }
            }
        }
        #expect(wrote)
        #expect(!errors.current.isEmpty)
        #expect(returns(within: 8) { client.close() })
    }

    /// A server that sends INFO, then PINGs for ever (reading the PONGs): the handshake must
    /// end with the connect timeout, not go on answering for as long as the server likes.
    @Test func aPingFloodDuringTheHandshakeEndsWithTheConnectTimeout() throws {
        let server = try FakeServer(greeting: { client, server in
            guard server.send(client, "INFO {\"server_id\":\"FAKE\",\"max_payload\":1048576}\r\n") else { return }
            Thread.detachNewThread {
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while recv(client, &buffer, buffer.count, 0) > 0 {}
            }
            let until = Date().addingTimeInterval(20)
            let flood = String(repeating: "PING\r\n", count: 100)
            while !server.isStopped, Date() < until, server.send(client, flood) {}
        })
        defer { server.stop() }
        expectTheConnectTimesOut(server)
    }

    /// Reads `client` until `word` has come (false when the socket ends or 64 KiB pass first).
    static func readUntil(_ word: String, from client: Int32) -> Bool {
        var seen: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while seen.count < 65_536 {
            let count = recv(client, &buffer, buffer.count, 0)
            guard count > 0 else { return false }
            seen += buffer[..<count]
            if String(decoding: seen, as: UTF8.self).contains(word) { return true }
        }
        return false
    }

    /// A reply of the wrong kind for the command waiting (`NOJOB` or a JSON document to an ENQ,
    /// an `OUTCOME` to a RESERVE): the call fails with an error, never with a value read from
    /// it, and within the request timeout.
    @Test(arguments: [
        ("ENQ", "NOJOB\r\n"), ("ENQ", "JSON 2\r\n{}\r\n"), ("RESERVE", "OUTCOME 5 completed 0\r\n\r\n"), ("ENQ", "+OK\r\n"),
    ])
    func aReplyOfTheWrongKindFailsTheCall(verb: String, reply: String) throws {
        let server = try FakeServer(afterHandshake: { client, server in
            if Self.readUntil(verb, from: client) { _ = server.send(client, reply) }
            while !server.isStopped { usleep(20_000) }
        })
        defer { server.stop() }
        let client = try DocketConnection(
            host: "127.0.0.1", port: server.port, options: .init(requestTimeout: 5, reconnect: false))
        defer { client.close(flush: false) }
        let started = Date()
        let error = failure { () throws(DocketError) in
            if verb == "ENQ" { _ = try client.enqueue("q", "x") } else { _ = try client.reserve("q", timeout: 0) }
        }
        #expect(error != nil)
        #expect(error != .timeout, "the reply was not read as wrong: \(String(describing: error))")
        #expect(Date().timeIntervalSince(started) < 4)
    }

    /// A reply no command waits for drops the connection (replies can no longer be matched to
    /// commands by their order), and a MSG cut short by the server's close ends a flush with an
    /// error: neither hangs nor hands a caller a reply.
    @Test(arguments: ["+OK 9\r\n", "MSG s 1 100\r\nabc"])
    func aReplyToNothingOrACutMessageDropsTheConnection(bytes: String) throws {
        let server = try FakeServer(afterHandshake: { client, server in
            if bytes.hasPrefix("MSG") {
                guard Self.readUntil("SUB s", from: client) else { return }
                _ = server.send(client, bytes)
                shutdown(client, Int32(SHUT_RDWR))
            } else {
                _ = server.send(client, bytes)
                while !server.isStopped { usleep(20_000) }
            }
        })
        defer { server.stop() }
        let client = try DocketConnection(
            host: "127.0.0.1", port: server.port, options: .init(requestTimeout: 5, reconnect: false))
        defer { client.close(flush: false) }
        let subscription = try client.subscribe("s")
        let started = Date()
        #expect(throws: DocketError.self) {
            while Date().timeIntervalSince(started) < 4 { try client.flush(timeout: 1) }
        }
        #expect(Date().timeIntervalSince(started) < 4)
        #expect(throws: DocketError.self) { _ = try subscription.next(timeout: 1) }
    }

    /// How many connections a fake server took.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func next() -> Int { lock.withLock { count += 1; return count } }
    }

    /// Whatever a server answers a RESERVE with the first time (a line without end, a line far
    /// past the client's bound, a payload of 2^63 or of -5 bytes, a payload its close cuts short,
    /// garbage after a word, an answer later than the timeout), the call fails with an error
    /// within the timeout (never a hang, a trap, or a value read from it), and the next call is
    /// answered (on a new connection when the first had to be dropped).
    @Test(arguments: [
        "endless", "huge", "JOB 1 q 1 9223372036854775808\r\n", "JOB 1 q 1 -5\r\nabc\r\n", "JOB 1 q 1 100\r\nabc",
        "NOJOB garbage\r\n", "slow",
    ])
    func aHostileAnswerFailsTheCallAndTheNextIsAnswered(answer: String) throws {
        let connections = Counter()
        let server = try FakeServer(afterHandshake: { client, server in
            let first = connections.next() == 1
            guard Self.readUntil("RESERVE", from: client) else { return }
            if first {
                let chunk = String(repeating: "x", count: 1 << 16)
                switch answer {
                case "endless", "huge":
                    // At most 256 MiB: the client must give up long before.
                    guard server.send(client, "+OK ") else { return }
                    for _ in 0..<4096 where !server.isStopped { guard server.send(client, chunk) else { return } }
                    if answer == "huge" { _ = server.send(client, "\r\n") }
                case "slow":
                    usleep(1_500_000)
                    guard server.send(client, "NOJOB\r\n") else { return }
                default:
                    guard server.send(client, answer) else { return }
                    if !answer.hasSuffix("\r\n") {
                        shutdown(client, Int32(SHUT_RDWR))
                        return
                    }
                }
                guard Self.readUntil("RESERVE", from: client) else { return }
            }
            while server.send(client, "NOJOB\r\n"), Self.readUntil("RESERVE", from: client) {}
        })
        defer { server.stop() }
        let client = try DocketConnection(
            host: "127.0.0.1", port: server.port, options: .init(requestTimeout: 1, reconnectWait: .milliseconds(50)))
        defer { client.close(flush: false) }
        let started = Date()
        let error = failure { () throws(DocketError) in _ = try client.reserve("q", timeout: 0) }
        #expect(error != nil, "a value was read from \(answer)")
        #expect(Date().timeIntervalSince(started) < 3)
        let next = failure { () throws(DocketError) in
            let job = try client.reserve("q", timeout: 0)
            #expect(job == nil)
        }
        #expect(next == nil, "the next call failed: \(String(describing: next))")
    }

    /// A `timeout=0` RESERVE that the client gave up on (its answer came late) is followed by no
    /// CANCEL: the server answers such a RESERVE at once and never holds the connection, so a
    /// CANCEL would end nothing and only put an extra `+OK` on the wire.
    @Test func aTimedOutReserveWithoutWaitSendsNoCancel() async throws {
        let seen = Locked<String>("")
        let server = try FakeServer(afterHandshake: { client, server in
            guard Self.readUntil("RESERVE", from: client) else { return }
            usleep(600_000)  // past the client's request timeout
            guard server.send(client, "NOJOB\r\n") else { return }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !String(decoding: bytes, as: UTF8.self).contains("PING") {
                let count = recv(client, &buffer, buffer.count, 0)
                guard count > 0 else { return }
                bytes += buffer[..<count]
            }
            seen.withLock { $0 = String(decoding: bytes, as: UTF8.self) }
            if String(decoding: bytes, as: UTF8.self).contains("CANCEL") { _ = server.send(client, "+OK\r\n") }
            _ = server.send(client, "PONG\r\n")
            while !server.isStopped { usleep(20_000) }
        })
        defer { server.stop() }
        let client = try DocketConnection(
            host: "127.0.0.1", port: server.port, options: .init(requestTimeout: .milliseconds(200), reconnect: false))
        defer { client.close(flush: false) }
        #expect(failure { () throws(DocketError) in _ = try client.reserve("q", timeout: 0) } == .timeout)
        // Room for a CANCEL, which went out at once when one was sent (from a task of its own:
        // this sleep must not hold a thread of the pool it runs on).
        try await Task.sleep(nanoseconds: 300_000_000)
        try client.flush(timeout: 5)
        #expect(!seen.current.isEmpty)
        #expect(!seen.current.contains("CANCEL"), "sent after the RESERVE: \(seen.current)")
    }

    /// A server that sends INFO and never answers the CONNECT: the connect ends with its timeout.
    @Test func aServerThatNeverAnswersTheConnectTimesOut() throws {
        let server = try FakeServer(greeting: { client, server in
            guard server.send(client, "INFO {\"server_id\":\"FAKE\",\"max_payload\":1048576}\r\n") else { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while recv(client, &buffer, buffer.count, 0) > 0 {}
        })
        defer { server.stop() }
        expectTheConnectTimesOut(server)
    }

    /// A connect to `server` with a timeout of 1 s fails with `connectFailed`, in less than 4 s.
    func expectTheConnectTimesOut(_ server: FakeServer) {
        let started = Date()
        let error = failure { () throws(DocketError) in
            _ = try DocketConnection(host: "127.0.0.1", port: server.port, options: DocketConnection.Options(connectTimeout: 1))
        }
        guard case .connectFailed? = error else {
            Issue.record("expected connectFailed, got \(String(describing: error))")
            return
        }
        #expect(Date().timeIntervalSince(started) < 4)
    }
}
