import DocketTestSupport
import Foundation
import Testing

/// Replies whose size grows with the data come in pages bounded by count and by max_payload,
/// on both job stores; a `$DOCKET.API` answer never exceeds the max_payload clients accept.
@Suite(.serialized) struct BoundedReplyTests {
    typealias Store = ListingTests.Store

    func docketd(_ store: Store, _ flags: [String] = []) throws -> DocketdProcess? {
        try ListingTests().docketd(store, flags)
    }

    /// Makes the queues, each with a setting, in one pipeline.
    func makeQueues(_ names: [String], on client: LineClient) throws {
        try client.send(names.shuffled().map { "QUEUE \($0) attempts=4\r\n" }.joined())
        for _ in names { #expect(try client.readLine() == "+OK") }
    }

    /// The names on one QUEUES page, and the page's size in bytes.
    func page(_ command: String, on client: LineClient) throws -> (names: [String], bytes: Int) {
        try client.line(command)
        let (control, body) = try client.readMessage()
        #expect(control.hasPrefix("JSON "), "\(command): \(control)")
        let documents = try #require(JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]])
        return (documents.compactMap { $0["queue"] as? String }, body.count)
    }

    /// QUEUES answered every queue in one reply: 100,000 queues made 62.5 MB and held every
    /// other client for 8 s (debug). A plain QUEUES now answers the first 1,000 (all of them, as
    /// before, when there are no more); `after=` the last name goes on, and every queue comes once.
    @Test(arguments: Store.allCases) func queuesComeInPages(_ store: Store) throws {
        guard let server = try docketd(store) else { return }
        defer { _ = server.stop() }
        let client = try server.client()
        client.timeout = 60
        _ = try client.handshake()
        let names = (0..<1100).map { "q" + String(10000 + $0) }
        try makeQueues(names, on: client)

        let first = try page("QUEUES", on: client)
        #expect(first.names == Array(names.prefix(1000)), "a plain QUEUES lists the first 1,000 by name, not \(first.names.count)")
        var seen: [String] = []
        var sizes: [Int] = []
        while sizes.count < 10 {
            let next = try page("QUEUES limit=300" + (seen.last.map { " after=\($0)" } ?? ""), on: client)
            if next.names.isEmpty { break }
            sizes.append(next.names.count)
            seen += next.names
        }
        #expect(sizes == [300, 300, 300, 200])
        #expect(seen == names)
        // `after=` need not name a queue.
        #expect(try page("QUEUES after=q10999a limit=2", on: client).names == ["q11000", "q11001"])
        try client.line("QUEUES limit=0")
        #expect(try client.readLine().hasPrefix("-ERR 'BAD_OPTION"))
        #expect(server.stop() == 0)
    }

    /// A page stops at max_payload, the first queue always; through `$DOCKET.API.QUEUES` the
    /// paging arguments go in `Docket-Options`, and its answer too fits one message.
    @Test(arguments: Store.allCases) func aQueuesPageStopsAtMaxPayload(_ store: Store) throws {
        guard let server = try docketd(store, ["--max-payload", "2048"]) else { return }
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.handshake(#"{"verbose":false,"headers":true}"#)
        let names = (0..<20).map { "q" + String(100 + $0) }
        try makeQueues(names, on: client)
        var seen: [String] = []
        var pages = 0
        while pages < 40 {
            let next = try page("QUEUES" + (seen.last.map { " after=\($0)" } ?? ""), on: client)
            #expect(next.bytes <= 2048)
            if next.names.isEmpty { break }
            pages += 1
            seen += next.names
        }
        #expect(pages > 2, "20 queue documents fit in \(pages) page(s) of 2,048 bytes")
        #expect(seen == names)

        let options = "NATS/1.0\r\nDocket-Options: after=q104 limit=2\r\n\r\n"
        try client.send("SUB _INBOX.a 1\r\nHPUB $DOCKET.API.QUEUES _INBOX.a \(options.utf8.count) \(options.utf8.count)\r\n\(options)\r\n")
        let (control, body) = try client.readMessage()
        #expect(control.hasPrefix("MSG _INBOX.a 1 "), "\(control)")
        let documents = try #require(JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]], "\(String(decoding: body, as: UTF8.self))")
        #expect(documents.compactMap { $0["queue"] as? String } == ["q105", "q106"])
        #expect(server.stop() == 0)
    }

    /// An INSPECT through `$DOCKET.API` of a job whose result alone is near max_payload made a
    /// message larger than the max_payload INFO announced. It is answered LIMIT with the size
    /// instead; the wire's INSPECT still shows it.
    @Test(arguments: Store.allCases) func anAPIAnswerPastMaxPayloadIsAnsweredLimit(_ store: Store) throws {
        guard let server = try docketd(store, ["--max-payload", "1024"]) else { return }
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ q 1\r\nx\r\n")
        let id = try #require(Int(client.readLine().dropFirst(4)))
        try client.line("RESERVE q timeout=5s")
        #expect(try client.readMessage().0.hasPrefix("JOB \(id) "))
        let result = String(repeating: "r", count: 1000)
        try client.send("ACK \(id) 1000\r\n\(result)\r\n")
        #expect(try client.readLine() == "+OK")
        let inspected = try client.object("INSPECT \(id)")
        #expect(inspected["result"] as? String == result)

        try client.send("SUB _INBOX.b 1\r\nPUB $DOCKET.API.INSPECT.\(id) _INBOX.b 0\r\n\r\n")
        let (control, body) = try client.readMessage()
        #expect(control.hasPrefix("MSG _INBOX.b 1 "), "\(control)")
        #expect(body.count <= 1024, "an answer of \(body.count) bytes, past max_payload")
        let answer = try #require(JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let error = try #require(answer["error"] as? [String: Any], "\(answer)")
        #expect(error["code"] as? String == "LIMIT")
        #expect((error["message"] as? String)?.contains("max_payload (1024)") == true, "\(error)")
        #expect(server.stop() == 0)
    }

    /// The route ids on one ROUTES page, and the page's size in bytes.
    func routesPage(_ command: String, on client: LineClient) throws -> (ids: [Int], bytes: Int) {
        try client.line(command)
        let (control, body) = try client.readMessage()
        #expect(control.hasPrefix("JSON "), "\(command): \(control)")
        let documents = try #require(JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]])
        return (documents.compactMap { $0["id"] as? Int }, body.count)
    }

    /// Makes a route per pattern, in one pipeline; their ids in order.
    func makeRoutes(_ patterns: [String], on client: LineClient) throws -> [Int] {
        try client.send(patterns.map { "ROUTE \($0) q\r\n" }.joined())
        return try patterns.map { _ in try #require(Int(client.readLine().dropFirst(4))) }
    }

    /// ROUTES answered every route in one reply (at `--max-routes` with rules as long as a
    /// control line, about 4.5 MB). It pages as QUEUES does, by route id: a plain ROUTES
    /// answers the first 1,000, `after=` the last id goes on, and every route comes once.
    @Test(arguments: Store.allCases) func routesComeInPages(_ store: Store) throws {
        guard let server = try docketd(store, ["--max-routes", "1100"]) else { return }
        defer { _ = server.stop() }
        let client = try server.client()
        client.timeout = 60
        _ = try client.handshake(#"{"verbose":false,"headers":true}"#)
        let ids = try makeRoutes((0..<1100).map { "orders.\($0)" }, on: client)

        #expect(try routesPage("ROUTES", on: client).ids == Array(ids.prefix(1000)), "a plain ROUTES lists the first 1,000 by id")
        var seen: [Int] = []
        var sizes: [Int] = []
        while sizes.count < 10 {
            let next = try routesPage("ROUTES limit=300" + (seen.last.map { " after=\($0)" } ?? ""), on: client)
            if next.ids.isEmpty { break }
            sizes.append(next.ids.count)
            seen += next.ids
        }
        #expect(sizes == [300, 300, 300, 200])
        #expect(seen == ids)
        try client.line("ROUTES limit=1001")
        #expect(try client.readLine().hasPrefix("-ERR 'BAD_OPTION limit=1001"))

        let options = "NATS/1.0\r\nDocket-Options: after=\(ids[0]) limit=2\r\n\r\n"
        try client.send("SUB _INBOX.r 1\r\nHPUB $DOCKET.API.ROUTES _INBOX.r \(options.utf8.count) \(options.utf8.count)\r\n\(options)\r\n")
        let (control, body) = try client.readMessage()
        #expect(control.hasPrefix("MSG _INBOX.r 1 "), "\(control)")
        let documents = try #require(JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]], "\(String(decoding: body, as: UTF8.self))")
        #expect(documents.compactMap { $0["id"] as? Int } == [ids[1], ids[2]])
        #expect(server.stop() == 0)
    }

    /// A ROUTES page stops at max_payload (the first route always), so long rules page too.
    @Test(arguments: Store.allCases) func aRoutesPageStopsAtMaxPayload(_ store: Store) throws {
        guard let server = try docketd(store, ["--max-payload", "2048"]) else { return }
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.handshake()
        let ids = try makeRoutes((0..<12).map { "orders." + String(repeating: "x", count: 300) + ".\($0)" }, on: client)
        var seen: [Int] = []
        var pages = 0
        while pages < 40 {
            let next = try routesPage("ROUTES" + (seen.last.map { " after=\($0)" } ?? ""), on: client)
            #expect(next.bytes <= 2048)
            if next.ids.isEmpty { break }
            pages += 1
            seen += next.ids
        }
        #expect(pages > 2, "12 routes of 300-byte patterns fit in \(pages) page(s) of 2,048 bytes")
        #expect(seen == ids)
        #expect(server.stop() == 0)
    }

    /// `DEAD limit=` past what the reply can hold answers the jobs that fit, in the order they
    /// died, on both stores (the walk behind it stops where the reply must).
    @Test(arguments: Store.allCases) func aDeadReplyOfAHugeLimitStopsAtMaxPayload(_ store: Store) throws {
        guard let server = try docketd(store, ["--max-payload", "2048"]) else { return }
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.handshake()
        try client.send((0..<30).map { _ in "ENQ doomed attempts=1 1\r\nx\r\n" }.joined())
        let ids = try (0..<30).map { _ in try #require(Int(client.readLine().dropFirst(4))) }
        for id in ids {
            try client.line("RESERVE doomed timeout=5s")
            #expect(try client.readMessage().0.hasPrefix("JOB \(id) "))
            try client.line("FAIL \(id)")
            #expect(try client.readLine().hasPrefix("+OK"))
        }
        try client.line("DEAD doomed limit=9999999999")
        let (control, body) = try client.readMessage()
        #expect(control.hasPrefix("JSON "), "\(control)")
        #expect(body.count <= 2048)
        let shown = try #require(JSONSerialization.jsonObject(with: Data(body)) as? [[String: Any]]).compactMap { $0["id"] as? Int }
        #expect(shown.count > 1 && shown == Array(ids.prefix(shown.count)), "\(shown)")
        #expect(server.stop() == 0)
    }
}
