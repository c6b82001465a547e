import DocketDeflate
@testable import DocketServer
import DocketTestSupport
import Foundation
import Testing

/// NATS over WebSocket against a real docketd: the upgrade, frames both ways, control frames,
/// every refusal and limit, and the TCP port's rules applying unchanged.
@Suite(.serialized) struct WebSocketTests {
    static let plain = ["--websocket-port", "0", "--websocket-no-tls"]

    static func server(_ flags: [String] = []) throws -> (DocketdProcess, Int) {
        let server = try DocketdProcess(plain + flags)
        guard let port = server.webSocketPort else { throw HarnessError("no websocket port in the log:\n\(server.log.text)") }
        return (server, port)
    }

    /// A client past the upgrade, its INFO and a CONNECT (with `commands` after it) answered.
    static func loggedIn(_ port: Int, _ commands: String = "") throws -> WebSocketClient {
        let client = try WebSocketClient(port: port)
        try client.upgrade()
        _ = try client.readLines(1)
        try client.send("CONNECT {\"verbose\":false}\r\n\(commands)PING\r\n")
        guard try client.readLines(1) == ["PONG"] else { throw HarnessError("no PONG after CONNECT") }
        return client
    }

    /// A configuration file holding `text`, in a new temporary directory (removed by the caller).
    static func configFile(_ text: String) throws -> (directory: URL, file: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-ws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("ws.conf")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return (directory, file)
    }

    @Test func upgradeAnswersTheRFCAcceptKeyAndDeclinesCompression() throws {
        let (server, port) = try Self.server()
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        let status = try client.upgrade(WebSocketClient.request(extra: "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"))
        #expect(status == 101)
        // RFC 6455 1.3's example key and accept value.
        #expect(client.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(client.header("Upgrade")?.lowercased() == "websocket")
        #expect(client.header("Sec-WebSocket-Extensions") == nil)
        let info = try client.readFrame()
        #expect(info.opcode == 0x2 && info.final && !info.masked)
        #expect(info.text.hasPrefix("INFO {") && !info.text.contains("tls_required"))
    }

    @Test func permessageDeflateIsAgreedWhenConfiguredAndRunsBothWays() throws {
        let (server, port) = try Self.server(["--websocket-compression"])
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        try client.upgrade(WebSocketClient.request(extra: "Sec-WebSocket-Extensions: x-unknown, permessage-deflate; client_max_window_bits\r\n"))
        #expect(client.header("Sec-WebSocket-Extensions") == "permessage-deflate")
        // The INFO is compressed too, and the server's window carries over to the next messages
        // (context takeover): it must go through the same inflater, or a later message that
        // refers back into it (a run of digits of the port, say) cannot be read.
        let inflater = try RawInflater()
        let info = try client.readFrame()
        if info.compressed {
            try info.payload.withUnsafeBytes { (bytes) throws(DeflateError) in
                try inflater.decompress(bytes, endOfMessage: true, limit: 1 << 20) { _ in }
            }
        }
        let deflater = try RawDeflater()
        let payload = String(repeating: "squeeze ", count: 2000)
        let command = Array("CONNECT {\"verbose\":false}\r\nSUB z 1\r\nPUB z \(payload.utf8.count)\r\n\(payload)\r\nPING\r\n".utf8)
        let compressed = command.withUnsafeBytes { deflater.compressMessage($0, forgetHistory: false) }
        // RSV1 on the first frame of a message split in two.
        try client.socket.send(WebSocketClient.frame(0x2, Array(compressed.prefix(5)), final: false, flags: 0x40))
        try client.socket.send(WebSocketClient.frame(0x0, Array(compressed.dropFirst(5))))
        var received: [UInt8] = []
        while !received.suffix(6).elementsEqual(Array("PONG\r\n".utf8)) {
            let frame = try client.readFrame()
            #expect(frame.opcode == 0x2)
            if frame.compressed {
                try frame.payload.withUnsafeBytes { (bytes) throws(DeflateError) in
                    try inflater.decompress(bytes, endOfMessage: true, limit: 1 << 20) { received += $0 }
                }
            } else {
                received += frame.payload
            }
        }
        #expect(String(decoding: received, as: UTF8.self) == "MSG z 1 \(payload.utf8.count)\r\n\(payload)\r\nPONG\r\n")
    }

    @Test func theProtocolRunsAcrossAndWithinFrames() throws {
        let (server, port) = try Self.server()
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        try client.upgrade()
        _ = try client.readLines(1)
        // One command split over three frames (a fragmented message, then a new one), and then
        // several commands in one text frame.
        let bytes = Array("CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 5\r\nhel".utf8)
        try client.socket.send(WebSocketClient.frame(0x2, Array(bytes[..<10]), final: false))
        try client.socket.send(WebSocketClient.frame(0x0, Array(bytes[10...])))
        try client.socket.send(WebSocketClient.frame(0x1, Array("lo\r\nPING\r\n".utf8)))
        #expect(try client.readLines(3) == ["MSG foo 1 5", "hello", "PONG"])
        // A TCP client on the same subject sees the WebSocket client's messages, and back.
        let tcp = try server.client()
        _ = try tcp.handshake()
        try tcp.line("SUB foo 2")
        try tcp.sync()
        try client.send("PUB foo 2\r\nws\r\n")
        #expect(try tcp.readLine() == "MSG foo 2 2")
    }

    @Test func pingIsAnsweredAndCloseIsEchoed() throws {
        let (server, port) = try Self.server()
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        try client.upgrade()
        _ = try client.readFrame()
        try client.socket.send(WebSocketClient.frame(0x9, [1, 2, 3]))
        let pong = try client.readFrame()
        #expect(pong.opcode == 0xA && pong.payload == [1, 2, 3])
        try client.socket.send(WebSocketClient.frame(0x8, [0x03, 0xE9] + Array("bye".utf8)))
        let close = try client.readFrame()
        #expect(close.opcode == 0x8 && close.closeStatus == 1001)
        #expect(try client.socket.readUntilClosed().isEmpty)
    }

    @Test(arguments: [
        ("unmasked", WebSocketClient.frame(0x2, Array("PING\r\n".utf8), masked: false), 1002),
        ("reserved bit", WebSocketClient.frame(0x2, Array("PING\r\n".utf8), flags: 0x40), 1002),
        ("2^63 length", [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], 1002),
        ("long ping", WebSocketClient.frame(0x9, Array(repeating: 0, count: 126)), 1002),
        ("fragmented ping", WebSocketClient.frame(0x9, [1], final: false), 1002),
        ("over max_payload", WebSocketClient.frame(0x2, Array(repeating: 65, count: 4096)), 1009),
    ] as [(String, [UInt8], Int)])
    func violationsCloseWithTheirStatus(_ name: String, _ frame: [UInt8], _ status: Int) throws {
        let (server, port) = try Self.server(["--max-payload", "1024", "--max-control-line", "256"])
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        try client.upgrade()
        _ = try client.readFrame()
        try client.socket.send(frame)
        let close = try client.readFrame()
        #expect(close.opcode == 0x8 && close.closeStatus == status, "\(name)")
        #expect(try client.socket.readUntilClosed().isEmpty)
    }

    @Test func aCloseInTheMiddleOfAMessageDropsItsStartAndServesTheRest() throws {
        let (server, port) = try Self.server()
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        try client.upgrade()
        _ = try client.readFrame()
        try client.socket.send(WebSocketClient.frame(0x2, Array("PUB foo 100\r\nabc".utf8), final: false))
        try client.socket.send(WebSocketClient.frame(0x8, [0x03, 0xE8]))
        #expect(try client.readFrame().closeStatus == 1000)
        let other = try server.client()
        _ = try other.handshake()
        try other.sync()
    }

    @Test(arguments: [
        ("POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(WebSocketClient.sampleKey)\r\nSec-WebSocket-Version: 13\r\n\r\n", 405),
        ("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(WebSocketClient.sampleKey)\r\nSec-WebSocket-Version: 13\r\n\r\n", 400),
        (WebSocketClient.request(key: "c2hvcnQ="), 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(WebSocketClient.sampleKey)\r\nSec-WebSocket-Version: 8\r\n\r\n", 400),
        ("GET / HTTP/1.0\r\n\r\n", 400),
    ])
    func badUpgradeRequestsAreRefusedAndClosed(_ request: String, _ status: Int) throws {
        let (server, port) = try Self.server()
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        #expect(try client.upgrade(request) == status)
        _ = try client.socket.readUntilClosed()
    }

    @Test func aHeadThatNeverEndsIsRefusedAtItsLimit() throws {
        let (server, port) = try Self.server(["--websocket-max-header", "512"])
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        try client.socket.send("GET / HTTP/1.1\r\n")
        for _ in 0..<40 { try client.socket.send("X-Filler: 0123456789\r\n") }
        #expect(try client.socket.readLine().hasPrefix("HTTP/1.1 431"))
        _ = try client.socket.readUntilClosed()
    }

    @Test func aClientThatNeverFinishesTheHandshakeIsClosed() throws {
        let (server, port) = try Self.server(["--websocket-handshake-timeout", "300ms"])
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        try client.socket.send("GET / HTTP/1.1\r\n")
        let started = Date()
        #expect(try client.socket.readUntilClosed().isEmpty)
        #expect(Date().timeIntervalSince(started) < 3)
        #expect(server.log.waitForLine(containing: "WebSocket handshake timeout", timeout: 2) != nil)
    }

    /// The handshake deadline counts from accept: an upgrade request trickled in a byte at a
    /// time (each byte well within the deadline) is closed at it all the same.
    @Test func anUpgradeTrickledInIsClosedAtTheDeadline() throws {
        let (server, port) = try Self.server(["--websocket-handshake-timeout", "400ms"])
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        let started = Date()
        var closedAfter: TimeInterval?
        for byte in Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 100) {
            guard (try? client.socket.send([byte])) != nil, try !client.socket.hasData(within: 0.1) else {
                closedAfter = Date().timeIntervalSince(started)
                break
            }
        }
        let elapsed = try #require(closedAfter, "still open after \(Date().timeIntervalSince(started)) s")
        #expect(elapsed >= 0.3 && elapsed < 2, "closed after \(elapsed) s")
    }

    @Test func originsAreCheckedWhenConfigured() throws {
        let (directory, file) = try Self.configFile("websocket { port: -1, no_tls: true, allowed_origins: [\"https://app.example.com\"] }\n")
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try DocketdProcess(["-c", file.path])
        defer { server.stop() }
        let port = try #require(server.webSocketPort)
        let stranger = try WebSocketClient(port: port)
        #expect(try stranger.upgrade(WebSocketClient.request(extra: "Origin: https://evil.example.com\r\n")) == 403)
        let friend = try WebSocketClient(port: port)
        #expect(try friend.upgrade(WebSocketClient.request(extra: "Origin: https://app.example.com:443\r\n")) == 101)
        // Not a browser: no Origin, no check (as nats-server).
        #expect(try WebSocketClient(port: port).upgrade() == 101)
    }

    /// The login deadline counts from the upgrade's INFO, as nats-server's does: a client that
    /// took most of it to upgrade still has all of it to send its CONNECT.
    @Test func theLoginDeadlineStartsAfterTheUpgrade() throws {
        let (server, port) = try Self.server(["--auth", "s3cret", "--auth-timeout", "2s", "--websocket-handshake-timeout", "10s"])
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        Thread.sleep(forTimeInterval: 1.5)
        try client.upgrade()
        _ = try client.readLines(1)
        Thread.sleep(forTimeInterval: 1.0)  // 2.5 s after the connect, 1 s after the INFO
        try client.send("CONNECT {\"verbose\":false,\"auth_token\":\"s3cret\"}\r\nPING\r\n")
        #expect(try client.readLines(1) == ["PONG"])
    }

    @Test func authLimitsAndConnzApplyAsOnTCP() throws {
        let (server, port) = try Self.server(["--user", "ivan", "--pass", "secret", "--max-connections", "2", "-m", "0"])
        defer { server.stop() }
        let client = try WebSocketClient(port: port)
        try client.upgrade()
        #expect(try client.readLines(1).first?.contains("\"auth_required\":true") == true)
        try client.send("CONNECT {\"verbose\":false,\"user\":\"ivan\",\"pass\":\"wrong\"}\r\nPING\r\n")
        #expect(try client.readLines(1) == ["-ERR 'Authorization Violation'"])
        #expect(try client.readFrame().opcode == 0x8)

        let good = try WebSocketClient(port: port)
        try good.upgrade()
        _ = try good.readLines(1)
        try good.send("CONNECT {\"verbose\":false,\"user\":\"ivan\",\"pass\":\"secret\"}\r\nPING\r\n")
        #expect(try good.readLines(1) == ["PONG"])
        let monitor = try LineClient(port: try #require(server.httpPort))
        try monitor.send("GET /connz HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic \(Data("ivan:secret".utf8).base64EncodedString())\r\n\r\n")
        let connz = String(decoding: try monitor.readUntilClosed(), as: UTF8.self)
        #expect(connz.contains("\"type\":\"websocket\"") && connz.contains("\"kind\":\"Client\""))

        let second = try WebSocketClient(port: port)
        try second.upgrade()
        _ = try second.readLines(1)
        // The third connection is over --max-connections 2.
        #expect(try WebSocketClient(port: port).upgrade() == 503)
    }

    /// A browser past --max-connections that sends its upgrade request after the 503 went out
    /// still reads the 503: the server drops what it sends instead of closing under it (a
    /// reset, which the browser reports as a network error).
    @Test func aRefusedUpgradeSentLateStillReadsThe503() throws {
        let (server, port) = try Self.server(["--max-connections", "1"])
        defer { server.stop() }
        let holder = try server.client()
        _ = try holder.handshake()
        for _ in 0..<3 {
            let late = try LineClient(port: port)
            usleep(50_000)
            try late.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
            usleep(50_000)
            try late.send("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            #expect(try late.readLine() == "HTTP/1.1 503 Service Unavailable")
        }
        #expect(try holder.sync() == [])
    }

    @Test func aWebSocketSubscriberThatDoesNotReadIsASlowConsumer() throws {
        let (server, port) = try Self.server(["--max-pending", "256KiB"])
        defer { server.stop() }
        let client = try Self.loggedIn(port, "SUB big 1\r\n")
        let publisher = try server.client()
        _ = try publisher.handshake()
        let payload = String(repeating: "x", count: 32 << 10)
        // Far more than the socket buffers and --max-pending hold, never read by the subscriber.
        for _ in 0..<600 { try publisher.send("PUB big \(payload.utf8.count)\r\n\(payload)\r\n") }
        try publisher.sync()
        #expect(server.log.waitForLine(containing: "Slow Consumer Detected", timeout: 5) != nil)
    }

    @Test func lameDuckModeTellsWebSocketClientsThenClosesThemWithACloseFrame() throws {
        let (server, port) = try Self.server(["--lame-duck-grace-period", "200ms", "--lame-duck-duration", "200ms"])
        defer { server.stop() }
        let client = try Self.loggedIn(port)
        kill(server.pid, SIGUSR2)
        #expect(try client.readLines(1).first?.contains("\"ldm\":true") == true)
        #expect(try client.readFrame().closeStatus == 1000)
        // No new WebSocket clients either.
        #expect(throws: (any Error).self) { try WebSocketClient(port: port).upgrade() }
    }

    /// A reload applies logins and logging only: the WebSocket port stays as it was started, and
    /// the log names the block among what waits for a restart.
    @Test func aReloadThatDropsTheBlockLeavesThePortAsItWas() throws {
        let (directory, file) = try Self.configFile("websocket { port: -1, no_tls: true }\n")
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try DocketdProcess(["-c", file.path])
        defer { server.stop() }
        let port = try #require(server.webSocketPort)
        try "port: \(server.port)\n".write(to: file, atomically: true, encoding: .utf8)
        kill(server.pid, SIGHUP)
        #expect(server.log.waitForLine(containing: "SIGHUP", timeout: 5)?.contains("websocket") == true, "\(server.log.text)")
        let client = try WebSocketClient(port: port)
        #expect(try client.upgrade() == 101)
        #expect(try client.readLines(1).first?.hasPrefix("INFO ") == true)
    }

    @Test func aWebSocketBlockWithoutTLSMustSaySo() throws {
        let (directory, file) = try Self.configFile("websocket { port: -1 }\n")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (status, output) = try DocketdProcess.runToExit(["-c", file.path, "--port", "0", "--data-dir", directory.appendingPathComponent("data").path])
        #expect(status != 0 && output.contains("no_tls"))
        let (flagStatus, flagOutput) = try DocketdProcess.runToExit(["--websocket-port", "0", "--port", "0", "--data-dir", directory.appendingPathComponent("data").path])
        #expect(flagStatus != 0 && flagOutput.contains("--websocket-no-tls"))
    }

    @Test func wssRunsTheFramingOverTLS() throws {
        let pki = try TestPKI()
        let server = try DocketdProcess(["--websocket-port", "0"] + pki.serverFlags())
        defer { server.stop() }
        #expect(server.log.text.contains("Listening for websocket clients on wss://"))
    }

    // MARK: The upgrade answer, on heads built here

    static let settings = WebSocketSettings(port: 0)

    @Test func sameOriginComparesSchemeDefaultsAndHost() {
        var settings = Self.settings
        settings.sameOrigin = true
        let head = { (origin: String) in Array(WebSocketClient.request(extra: "Origin: \(origin)\r\n").replacingOccurrences(of: "Host: 127.0.0.1", with: "Host: example.com:80").utf8) }
        #expect(WebSocketUpgrade.originProblem(head("http://example.com"), settings: settings, isSecure: false) == nil)
        #expect(WebSocketUpgrade.originProblem(head("http://example.com:8080"), settings: settings, isSecure: false) != nil)
        #expect(WebSocketUpgrade.originProblem(head("http://other.com"), settings: settings, isSecure: false) != nil)
        #expect(WebSocketUpgrade.originProblem(head("not an origin"), settings: settings, isSecure: false) != nil)
    }

    @Test func permessageDeflateOffersAreTakenOnlyInTermsTheServerCanMeet() {
        #expect(PermessageDeflate.negotiate(["permessage-deflate; client_max_window_bits"]) == PermessageDeflate())
        let narrow = PermessageDeflate.negotiate(["x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=\"10\"; server_no_context_takeover"])
        #expect(narrow?.serverWindowBits == 10 && narrow?.serverNoContextTakeover == true)
        #expect(narrow?.responseHeader == "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=10\r\n")
        // An 8-bit window (zlib cannot), an unknown or repeated parameter: that offer is declined,
        // and a later acceptable one taken.
        #expect(PermessageDeflate.negotiate(["permessage-deflate; server_max_window_bits=8"]) == nil)
        #expect(PermessageDeflate.negotiate(["permessage-deflate; mystery"]) == nil)
        #expect(PermessageDeflate.negotiate(["permessage-deflate; server_no_context_takeover; server_no_context_takeover"]) == nil)
        #expect(PermessageDeflate.negotiate(["permessage-deflate; server_max_window_bits=8, permessage-deflate"]) == PermessageDeflate())
        var settings = Self.settings
        let offer = Array(WebSocketClient.request(extra: "Sec-WebSocket-Extensions: permessage-deflate\r\n").utf8)
        guard case .accept(_, let declined) = WebSocketUpgrade.answer(offer, settings: settings, isSecure: false) else {
            Issue.record("refused")
            return
        }
        #expect(declined == nil)
        settings.compression = true
        guard case .accept(_, let agreed) = WebSocketUpgrade.answer(offer, settings: settings, isSecure: false) else {
            Issue.record("refused")
            return
        }
        #expect(agreed == PermessageDeflate())
    }

    @Test func tokensAreReadFromCommaSeparatedHeaders() {
        #expect(WebSocketUpgrade.hasToken("upgrade", in: ["keep-alive, Upgrade"]))
        #expect(!WebSocketUpgrade.hasToken("upgrade", in: ["keep-alive", "upgraded"]))
        guard case .accept = WebSocketUpgrade.answer(Array(WebSocketClient.request(extra: "Connection: keep-alive\r\n").utf8), settings: Self.settings, isSecure: false) else {
            Issue.record("a second Connection line must not hide the first's Upgrade")
            return
        }
    }
}
