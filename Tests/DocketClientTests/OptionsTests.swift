import DocketClient
import Foundation
import Testing

/// Connection options that no connection can work with are refused before connecting.
@Suite struct OptionsTests {
    /// Each read as nil and so as "no limit" or the default: a `requestTimeout` of "10 sec" or
    /// -1 connected, then made every call wait for ever.
    static let refused: [(setting: String, options: DocketConnection.Options)] = [
        ("requestTimeout", .init(requestTimeout: "10 sec")),
        ("requestTimeout", .init(requestTimeout: .seconds(-1))),
        ("requestTimeout", .init(requestTimeout: .seconds(.infinity))),
        ("connectTimeout", .init(connectTimeout: "5 s")),
        ("reconnectWait", .init(reconnectWait: "soon")),
        ("reconnectMaxWait", .init(reconnectMaxWait: .seconds(-2))),
        ("reconnectJitter", .init(reconnectJitter: "1 s")),
        ("reconnectTimeout", .init(reconnectTimeout: "1 minute")),
        ("pendingMessageLimit", .init(pendingMessageLimit: 0)),
        ("reconnectBufferSize", .init(reconnectBufferSize: -1)),
    ]

    @Test(arguments: refused.indices)
    func anOptionThatCannotWorkIsRefusedBeforeConnecting(index: Int) throws {
        let (setting, options) = Self.refused[index]
        try withServer { server in
            let error = failure { () throws(DocketError) in
                let connection = try DocketConnection(server.address, options: options)
                connection.close()
            }
            guard case .badArgument(let text)? = error else {
                Issue.record("\(setting): \(String(describing: error)), not badArgument")
                return
            }
            #expect(text.hasPrefix(setting), "\(text)")
        }
    }

    /// A call's timeout that is no duration is refused before anything is sent. Read as nil it
    /// was no limit (`flush` waited for ever on a server that does not answer), as 5 s
    /// (`request`) or as 0 (`next` gave up at once).
    @Test(arguments: [DocketDuration("10 sec"), .seconds(-1), .seconds(.nan)])
    func aCallTimeoutThatIsNoDurationIsRefused(timeout: DocketDuration) async throws {
        try await withServer { server in
            let connection = try await AsyncDocketConnection(server.address)
            let subscription = try connection.blocking.subscribe("news")
            let calls: [(String, () throws(DocketError) -> Void)] = [
                ("flush", { () throws(DocketError) in try connection.blocking.flush(timeout: timeout) }),
                ("request", { () throws(DocketError) in _ = try connection.blocking.request("svc", [], timeout: timeout) }),
                ("next", { () throws(DocketError) in _ = try subscription.next(timeout: timeout) }),
            ]
            var refused: [String: DocketError?] = [:]
            for (name, call) in calls { refused[name] = failure(call) }
            do throws(DocketError) {
                try await connection.flush(timeout: timeout)
                refused["async flush"] = .some(nil)
            } catch {
                refused["async flush"] = error
            }
            await connection.close()
            for (name, error) in refused {
                guard case .badArgument(let text)? = error else {
                    Issue.record("\(name) took timeout \(timeout): \(String(describing: error))")
                    continue
                }
                #expect(text.hasPrefix("timeout must be a duration"), "\(text)")
            }
        }
    }

    /// The edges still connect: no request timeout at all, zero waits, no reconnect buffer.
    @Test func theEdgesOfTheRangesConnect() throws {
        try withServer { server in
            let options = DocketConnection.Options(requestTimeout: nil, reconnectWait: 0, reconnectJitter: 0, reconnectBufferSize: 0)
            let connection = try DocketConnection(server.address, options: options)
            defer { connection.close() }
            try connection.flush()
        }
    }
}
