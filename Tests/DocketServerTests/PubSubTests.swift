import DocketTestSupport
import Foundation
import Testing

/// NATS core pub/sub over real TCP against a real docketd.
@Suite struct PubSubTests {
    @Test func infoAnnouncesWhatNATSClientsNeed() throws {
        let server = try DocketdProcess(["--max-payload", "2048"])
        let client = try server.client()
        let info = try client.readLine()
        #expect(info.hasPrefix("INFO {"))
        let json = try JSONSerialization.jsonObject(with: Data(info.dropFirst(5).utf8)) as! [String: Any]
        #expect(json["max_payload"] as? Int == 2048)
        #expect(json["proto"] as? Int == 1)
        #expect(json["headers"] as? Bool == true)
        #expect((json["version"] as? String)?.hasPrefix("2.") == true)
        #expect((json["client_id"] as? Int ?? 0) > 0)
        #expect(json["client_ip"] as? String == "127.0.0.1")
        #expect(json["port"] as? Int == server.port)
        for absent in ["tls_required", "auth_required", "connect_urls", "nonce"] { #expect(json[absent] == nil) }
    }

    @Test func verboseUntilConnectSaysOtherwise() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.readLine()
        try client.line("SUB foo 1")
        #expect(try client.readLine() == "+OK")
        try client.line("CONNECT {\"verbose\":true}")
        #expect(try client.readLine() == "+OK")
        try client.line("CONNECT {\"verbose\":false}")
        try client.line("SUB bar 2")
        #expect(try client.sync() == [])
    }

    @Test func messagesReachEveryMatchingSubscription() throws {
        let server = try DocketdProcess()
        let subscriber = try server.client()
        let publisher = try server.client()
        _ = try subscriber.handshake()
        _ = try publisher.handshake()
        try subscriber.line("SUB orders.* 1")
        try subscriber.line("SUB orders.> sid-two")
        try subscriber.line("SUB other 3")
        try subscriber.sync()
        try publisher.send("PUB orders.new reply.to 5\r\nhello\r\n")
        var received: [String: [UInt8]] = [:]
        for _ in 0..<2 {
            let (control, payload) = try subscriber.readMessage()
            received[control] = payload
        }
        #expect(received == [
            "MSG orders.new 1 reply.to 5": Array("hello".utf8),
            "MSG orders.new sid-two reply.to 5": Array("hello".utf8),
        ])
        #expect(try subscriber.sync() == [])
    }

    @Test func binaryPayloadsPassUnchanged() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        try client.line("SUB bin 1")
        let payload: [UInt8] = (0..<1000).map { UInt8($0 % 256) } + Array("\r\nPING\r\n".utf8)
        try client.send(Array("PUB bin \(payload.count)\r\n".utf8) + payload + [13, 10])
        let (control, body) = try client.readMessage()
        #expect(control == "MSG bin 1 \(payload.count)")
        #expect(body == payload)
    }

    @Test func largestPayloadIsAccepted() throws {
        let server = try DocketdProcess(["--max-payload", "1MiB"])
        let client = try server.client()
        _ = try client.handshake()
        try client.line("SUB big 1")
        let payload = [UInt8](repeating: 0x78, count: 1 << 20)
        try client.send(Array("PUB big \(payload.count)\r\n".utf8) + payload + [13, 10])
        let (_, body) = try client.readMessage()
        #expect(body == payload)
    }

    @Test func queueGroupMembersShareMessages() throws {
        let server = try DocketdProcess()
        let members = try (0..<3).map { _ in try server.client() }
        let watcher = try server.client()
        let publisher = try server.client()
        for client in members + [watcher, publisher] { _ = try client.handshake() }
        for (number, member) in members.enumerated() {
            try member.line("SUB jobs.* workers \(number)")
            try member.sync()
        }
        try watcher.line("SUB jobs.* w")
        try watcher.sync()
        for number in 0..<90 { try publisher.send("PUB jobs.x \(String(number).utf8.count)\r\n\(number)\r\n") }
        try publisher.sync()
        var seen: [String] = []
        var perMember: [Int] = []
        for member in members {
            let lines = try member.sync()
            let payloads = lines.filter { !$0.hasPrefix("MSG") }
            perMember.append(payloads.count)
            seen += payloads
        }
        #expect(seen.count == 90)
        #expect(Set(seen).count == 90)
        #expect(perMember.allSatisfy { $0 > 0 })
        #expect(try watcher.sync().filter { $0.hasPrefix("MSG") }.count == 90)
    }

    @Test func unsubscribeWithMaxStopsAfterThatMany() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake()
        try client.line("SUB t 1")
        try client.line("UNSUB 1 3")
        for _ in 0..<5 { try client.send("PUB t 1\r\nx\r\n") }
        #expect(try client.sync().filter { $0.hasPrefix("MSG") }.count == 3)
        // Already over the limit: UNSUB with a max that was reached removes at once.
        try client.line("SUB u 2")
        try client.send("PUB u 1\r\nx\r\n")
        try client.line("UNSUB 2 1")
        try client.send("PUB u 1\r\nx\r\n")
        #expect(try client.sync().filter { $0.hasPrefix("MSG") }.count == 1)
    }

    @Test func echoFalseSkipsOwnMessages() throws {
        let server = try DocketdProcess()
        let quiet = try server.client()
        let other = try server.client()
        _ = try quiet.handshake(#"{"verbose":false,"echo":false}"#)
        _ = try other.handshake()
        try quiet.line("SUB e 1")
        try other.line("SUB e 1")
        try quiet.sync()
        try other.sync()
        try quiet.send("PUB e 2\r\nhi\r\n")
        #expect(try quiet.sync() == [])
        #expect(try other.sync() == ["MSG e 1 2", "hi"])
    }

    @Test func headersAreStrippedForSubscribersWithoutThem() throws {
        let server = try DocketdProcess()
        let plain = try server.client()
        let modern = try server.client()
        _ = try plain.handshake()
        _ = try modern.handshake(#"{"verbose":false,"headers":true}"#)
        try plain.line("SUB h 1")
        try plain.sync()
        try modern.line("SUB h 2")
        try modern.send("HPUB h 23 25\r\nNATS/1.0\r\nA: bcdefg\r\n\r\nhi\r\n")
        let (control, body) = try modern.readMessage()
        #expect(control == "HMSG h 2 23 25")
        #expect(String(decoding: body, as: UTF8.self) == "NATS/1.0\r\nA: bcdefg\r\n\r\nhi")
        #expect(try plain.sync() == ["MSG h 1 2", "hi"])
    }

    @Test func requestWithNoRespondersGetsStatus503() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.handshake(#"{"verbose":false,"headers":true,"no_responders":true}"#)
        try client.line("SUB _INBOX.abc.* 7")
        try client.send("PUB service _INBOX.abc.1 0\r\n\r\n")
        let (control, body) = try client.readMessage()
        #expect(control == "HMSG _INBOX.abc.1 7 16 16")
        #expect(String(decoding: body, as: UTF8.self) == "NATS/1.0 503\r\n\r\n")
        // With a responder there is no status message, only the request.
        let responder = try server.client()
        _ = try responder.handshake()
        try responder.line("SUB service 1")
        try responder.sync()
        try client.send("PUB service _INBOX.abc.2 0\r\n\r\n")
        #expect(try client.sync() == [])
        #expect(try responder.sync() == ["MSG service 1 _INBOX.abc.2 0", ""])
    }

    @Test func helpListsTheVerbs() throws {
        let server = try DocketdProcess()
        let client = try server.client()
        _ = try client.readLine()
        try client.line("help")
        let (control, body) = try client.readMessage()
        #expect(control.hasPrefix("HELP "))
        let text = String(decoding: body, as: UTF8.self)
        for verb in ["CONNECT", "PUB", "HPUB", "SUB", "UNSUB", "PING", "PONG", "HELP"] {
            #expect(text.contains("\(verb) "), "HELP lists \(verb)")
        }
    }
}
