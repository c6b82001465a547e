import DocketTestSupport
import Foundation
import Testing

extension ClusterTests {
    /// The messages a client gets until it has been quiet for half a second: each control line
    /// and its body as text.
    func messages(_ client: LineClient) -> [(control: String, body: String)] {
        client.timeout = 0.5
        defer { client.timeout = 5 }
        var result: [(String, String)] = []
        while let (control, body) = try? client.readMessage() {
            result.append((control, String(decoding: body, as: UTF8.self)))
        }
        return result
    }

    /// The mark a node puts on a message it sent up after serving its own queue groups
    /// (`Docket-Served-Groups`) is for docketd nodes alone: whoever sent it up (this version,
    /// an older docketd, anything publishing straight to the nats-server), a node's clients
    /// never see it, with headers (HMSG) or without, and the groups it names are not served
    /// again.
    @Test func noClientSeesTheServedGroupsMark() throws {
        guard NATSCluster.binary != nil else {
            print("ClusterTests skipped: nats-server is not installed")
            return
        }
        let cluster = try NATSCluster(count: 2)
        let server = try DocketdProcess(["--cluster-nats", cluster.nodes[0].url])
        let headed = try server.client()
        _ = try headed.handshake(#"{"verbose":false,"headers":true}"#)
        let plain = try server.client()
        _ = try plain.handshake(#"{"verbose":false,"headers":false}"#)
        let worker = try server.client()
        _ = try worker.handshake(#"{"verbose":false,"headers":true}"#)
        try headed.line("SUB news 1")
        try plain.line("SUB news 1")
        try worker.line("SUB news workers 1")
        for client in [headed, plain, worker] { try client.sync() }
        // Straight to the nats-server, as an older docketd's link is.
        let upstream = try LineClient(port: cluster.nodes[1].clientPort)
        _ = try upstream.handshake(#"{"verbose":false,"headers":true}"#)
        try awaitFlow(upstream, headed, subject: "news", sid: "1")
        for client in [headed, plain, worker] { _ = messages(client) }

        func hpub(_ headers: String, _ payload: String) throws {
            try upstream.send("HPUB news \(headers.utf8.count) \(headers.utf8.count + payload.utf8.count)\r\n\(headers)\(payload)\r\n")
        }
        try hpub("NATS/1.0\r\nDocket-Served-Groups: workers\r\nTrace: 7\r\n\r\n", "one")
        try hpub("NATS/1.0\r\nDocket-Served-Groups-Only: workers\r\n\r\n", "two")
        try hpub("NATS/1.0\r\nDocket-Served-Groups: others\r\n\r\n", "three")

        let toHeaded = messages(headed)
        #expect(toHeaded.map(\.body) == ["NATS/1.0\r\nTrace: 7\r\n\r\none", "two", "NATS/1.0\r\n\r\nthree"], "\(toHeaded)")
        #expect(toHeaded.map { $0.control.hasPrefix("HMSG ") } == [true, false, true], "a block there only for the mark goes with it")
        let toPlain = messages(plain)
        #expect(toPlain.map(\.body) == ["one", "two", "three"] && toPlain.allSatisfy { $0.control.hasPrefix("MSG ") }, "\(toPlain)")
        let toWorker = messages(worker)
        #expect(toWorker.map(\.body) == ["NATS/1.0\r\n\r\nthree"], "the group the mark names is not served again: \(toWorker)")
        for message in toHeaded + toPlain + toWorker { #expect(!message.body.contains("Docket-Served")) }
        #expect(server.stop() == 0)
    }

    /// A client's own header that reads like the mark (the first after the status line) is the
    /// client's: it crosses to the other nodes intact, and keeps no group there from the
    /// message. Before, the other nodes took it off and served none of the groups it named.
    @Test func aClientHeaderNamedLikeTheMarkCrossesIntactAndSkipsNoGroup() throws {
        guard NATSCluster.binary != nil else {
            print("ClusterTests skipped: nats-server is not installed")
            return
        }
        let cluster = try NATSCluster(count: 2)
        let servers = try cluster.nodes.map { try DocketdProcess(["--cluster-nats", $0.url]) }
        let publisher = try servers[0].client()
        _ = try publisher.handshake(#"{"verbose":false,"headers":true}"#)
        let subscriber = try servers[1].client()
        _ = try subscriber.handshake(#"{"verbose":false,"headers":true}"#)
        let worker = try servers[1].client()
        _ = try worker.handshake(#"{"verbose":false,"headers":true}"#)
        try subscriber.line("SUB news 1")
        try worker.line("SUB news workers 1")
        for client in [subscriber, worker] { try client.sync() }
        try awaitFlow(publisher, subscriber, subject: "news", sid: "1")
        try awaitFlow(publisher, worker, subject: "news", sid: "1")
        for client in [subscriber, worker] { _ = messages(client) }

        for headers in ["NATS/1.0\r\nDocket-Served-Groups: workers\r\n\r\n", "NATS/1.0\r\nDocket-Served-Groups-Only: workers\r\nA: b\r\n\r\n"] {
            try publisher.send("HPUB news \(headers.utf8.count) \(headers.utf8.count + 4)\r\n\(headers)mine\r\n")
            for client in [subscriber, worker] {
                let got = messages(client)
                #expect(got.map(\.body) == [headers + "mine"], "\(got)")
            }
        }
        for server in servers { #expect(server.stop() == 0) }
    }
}
