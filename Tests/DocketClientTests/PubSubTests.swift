import DocketClient
import Foundation
import Testing

@Suite struct PubSubTests {
    @Test func publishSubscribeIterate() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            #expect(client.info["version"]?.stringValue == "2.9.0")
            #expect(client.maxPayload == 1 << 20)
            let subscription = try client.subscribe("orders.*")
            try client.publish("orders.new", "hello")
            try client.publish("orders.eu.new", "not for orders.*")
            try client.publish("orders.old", [0, 13, 10, 255])
            let first = try subscription.next(timeout: 5)
            #expect(first.subject == "orders.new")
            #expect(first.text == "hello")
            #expect(first.reply == nil && first.headers == nil)
            let second = try subscription.next(timeout: 5)
            #expect(second.subject == "orders.old")
            #expect(second.payload == [0, 13, 10, 255])
            #expect(throws: DocketError.timeout) { try subscription.next(timeout: 0.1) }

            // Headers arrive as HMSG.
            let headed = try client.subscribe("h.>")
            try client.publish("h.one", "body", headers: [Header("X-Id", "17"), Header("X-Tag", "a b")])
            let message = try headed.next(timeout: 5)
            #expect(message.header("x-id") == "17")
            #expect(message.header("X-Tag") == "a b")
            #expect(message.text == "body")

            // Iterating ends with the subscription: UNSUB after 2 messages.
            let limited = try client.subscribe("limited")
            try limited.unsubscribe(after: 2)
            for index in 0..<5 { try client.publish("limited", "m\(index)") }
            try client.flush()
            // (Iterate only once it has ended, so a broken UNSUB fails the test instead of hanging it.)
            #expect(eventually(timeout: 5) { limited.isClosed })
            if limited.isClosed { #expect(Array(limited).map(\.text) == ["m0", "m1"]) }

            // Invalid subjects are refused before anything is sent.
            #expect(throws: DocketError.self) { try client.publish("orders.*", "x") }
            #expect(throws: DocketError.self) { try client.subscribe("foo..bar") }
            #expect(client.isConnected)
        }
    }

    /// Lifecycle subjects are ordinary subjects: without permissions any client can publish a
    /// forged event there, and a reader of typed events must survive what it says.
    @Test func aForgedLifecycleEventCannotStopItsReader() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let events = try client.events(queue: "forged")
            try client.flush()
            try client.publish("$JOB.forged.completed", #"{"event":"completed","id":-1,"seq":1e300,"attempt":1e19,"at":-1e300,"run_ms":"x"}"#)
            let event = try events.next(timeout: 5)
            #expect(event.kind == .completed)
            #expect(event.id == 0 && event.seq == 0 && event.attempt == 0 && event.at == 0 && event.runMilliseconds == nil)
        }
    }

    /// A handler that unsubscribes on its first message is not called again: it was called for
    /// every message queued behind the first, unlike NATS clients (and the Node client).
    @Test func aHandlerThatUnsubscribesIsNotCalledAgain() throws {
        try withServer { server in
            let client = try DocketConnection(server.address)
            defer { client.close() }
            let calls = Locked(0)
            let made = Locked<Subscription?>(nil)
            let allQueued = DispatchSemaphore(value: 0)
            let subscription = try client.subscribe("once") { _ in
                if calls.withLock({ $0 += 1; return $0 }) == 1 { allQueued.wait() }
                try? made.current?.unsubscribe()
            }
            made.withLock { $0 = subscription }
            for index in 0..<5 { try client.publish("once", "m\(index)") }
            try client.flush()  // every MSG is queued before the PONG is read
            allQueued.signal()
            #expect(eventually(timeout: 5) { subscription.isClosed && subscription.pending == 0 })
            try client.flush()
            #expect(calls.current == 1)
        }
    }

    @Test func handlersQueueGroupsAndRequests() throws {
        try withServer { server in
            let publisher = try DocketConnection(server.address)
            let consumer = try DocketConnection(server.address)
            defer {
                publisher.close()
                consumer.close()
            }
            // A handler gets every message, in order.
            let seen = Locked<[String]>([])
            try consumer.subscribe("feed") { message in seen.withLock { $0.append(message.text) } }
            // A queue group shares messages: each goes to one member.
            let groupCounts = Locked<[Int]>([0, 0])
            for member in 0..<2 {
                try consumer.subscribe("jobs.*", queue: "workers") { _ in groupCounts.withLock { $0[member] += 1 } }
            }
            try consumer.flush()
            for index in 0..<20 {
                try publisher.publish("feed", "\(index)")
                try publisher.publish("jobs.x", "\(index)")
            }
            #expect(eventually { seen.current.count == 20 && groupCounts.current.reduce(0, +) == 20 })
            #expect(seen.current == (0..<20).map(String.init))
            #expect(groupCounts.current.reduce(0, +) == 20)

            // Request/reply: a responder answers on the request's reply subject (from its handler,
            // on the same connection).
            try consumer.subscribe("svc.echo") { message in
                if let reply = message.reply { try? consumer.publish(reply, "echo:" + message.text) }
            }
            try consumer.flush()
            let answer = try publisher.request("svc.echo", "ping", timeout: 5)
            #expect(answer.text == "echo:ping")
            let again = try publisher.request("svc.echo", "pong", timeout: 5)
            #expect(again.text == "echo:pong")
            #expect(throws: DocketError.noResponders) { try publisher.request("nobody.home", "x", timeout: 5) }
        }
    }

    @Test func connectionFailures() throws {
        // Nothing listens on a port just used and released.
        let port = try withServer { $0.port }
        #expect(throws: DocketError.self) { try DocketConnection("127.0.0.1:\(port)") }

        // With reconnecting off, a lost connection closes for good.
        try withServer { server in
            let client = try DocketConnection(server.address, options: DocketConnection.Options(reconnect: false))
            let waiter = Locked<Result<Job?, DocketError>?>(nil)
            background {
                let result = Result { () throws(DocketError) -> Job? in try client.reserve("never") }
                waiter.withLock { $0 = result }
            }
            usleep(100_000)
            server.stop()
            // A blocked RESERVE ends with the connection.
            #expect(eventually(timeout: 10) { waiter.current != nil })
            if case .failure(let error)? = waiter.current {
                if case .connectionLost = error {} else { Issue.record("expected connectionLost, got \(error)") }
            } else {
                Issue.record("RESERVE did not fail: \(String(describing: waiter.current))")
            }
            #expect(eventually(timeout: 5) { client.isClosed })
            #expect(!client.isConnected)
            // Later calls fail at once.
            let started = Date()
            let errors = [
                failure { () throws(DocketError) in _ = try client.enqueue("q", "x") },
                failure { () throws(DocketError) in try client.publish("s", "x") },
                failure { () throws(DocketError) in try client.flush() },
            ]
            for error in errors {
                if case .connectionClosed? = error {} else { Issue.record("expected connectionClosed, got \(String(describing: error))") }
            }
            #expect(Date().timeIntervalSince(started) < 1)
            client.close()
        }
    }

    @Test func serverPingsAreAnswered() throws {
        // Pings every 100 ms, closed as stale after two unanswered: a client that did not answer
        // them, or took one for the reply of a waiting command, would fail here. (docketd sends
        // no PING while a RESERVE waits, since it reads nothing then; they resume after it.)
        try withServer(["--ping-interval", "100ms", "--max-pings-out", "2"]) { server in
            let errors = Locked<[String]>([])
            let client = try DocketConnection(
                server.address, options: DocketConnection.Options(onServerError: { text in errors.withLock { $0.append(text) } }))
            defer { client.close() }
            #expect(try client.reserve("idle", timeout: 1) == nil)
            usleep(500_000)
            #expect(client.isConnected)
            let id = try client.enqueue("idle", "x").id
            #expect(try client.reserve("idle", timeout: 1)?.id == id)
            #expect(errors.current.isEmpty)
        }
    }
}
