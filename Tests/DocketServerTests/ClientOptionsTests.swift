@testable import DocketServer
import DocketWire
import Testing

/// How a CONNECT document changes a connection's options, without a socket.
@Suite struct ClientOptionsTests {
    private func applied(_ text: String) -> Result<ClientOptions, ProtocolError> {
        ClientOptions().applying(connect: JSONValue.parse(text)!)
    }

    /// Taken as absent, `"echo":"false"` left echo on while the client believed it off.
    @Test(arguments: [
        #"{"echo":"false"}"#, #"{"verbose":0}"#, #"{"pedantic":[]}"#, #"{"headers":{}}"#, #"{"headers":true,"no_responders":1}"#,
    ])
    func aFlagThatIsNotABooleanIsRefused(_ text: String) {
        guard case .failure(let error) = applied(text) else { Issue.record("\(text) was taken"); return }
        #expect(error.kind == .invalidProtocol && error.isFatal)
    }

    /// null leaves a flag as it was, as nats-server reads it.
    @Test func nullLeavesAFlagAsItWas() throws {
        let options = try applied(#"{"verbose":null,"echo":false,"headers":null}"#).get()
        #expect(options.verbose && !options.echo && !options.headers)
    }
}
