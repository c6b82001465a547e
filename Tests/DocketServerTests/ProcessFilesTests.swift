@testable import DocketServer
import Glibc
import Testing

@Suite struct ProcessFilesTests {
    private func document(_ endpoints: [ProcessFiles.Endpoint]) -> String {
        ProcessFiles.portsDocument(endpoints) { family in family == AF_INET ? ["127.0.0.1", "10.0.0.7"] : ["127.0.0.1", "::1", "2001:db8::5"] }
    }

    @Test func eachListenerUnderItsKeyInNatsServersOrder() {
        let text = document([
            .init(kind: "websocket", scheme: "ws", host: "127.0.0.1", port: 8080),
            .init(kind: "monitoring", scheme: "https", host: "127.0.0.1", port: 8222),
            .init(kind: "nats", scheme: "tls", host: "127.0.0.1", port: 4222),
        ])
        #expect(text == #"{"nats":["tls://127.0.0.1:4222"],"monitoring":["https://127.0.0.1:8222"],"websocket":["ws://127.0.0.1:8080"]}"#)
    }

    @Test func everyInterfaceIsEachOfItsAddressesAndIPv6IsBracketed() {
        #expect(document([.init(kind: "nats", scheme: "nats", host: "0.0.0.0", port: 4222)])
            == #"{"nats":["nats://127.0.0.1:4222","nats://10.0.0.7:4222"]}"#)
        #expect(document([.init(kind: "cluster", scheme: "nats", host: "::", port: 6222)])
            == #"{"cluster":["nats://127.0.0.1:6222","nats://[::1]:6222","nats://[2001:db8::5]:6222"]}"#)
        #expect(document([.init(kind: "nats", scheme: "nats", host: "::1", port: 1)]) == #"{"nats":["nats://[::1]:1"]}"#)
    }

    @Test func theFileIsNamedAfterTheExecutableAndAlsoAsHarnessesLookForIt() {
        #expect(ProcessFiles.portsFileNames(in: "/tmp/x/", executable: "/usr/local/bin/nats-server", pid: 42) == ["/tmp/x/nats-server_42.ports"])
        #expect(ProcessFiles.portsFileNames(in: "/tmp/x", executable: "./docketd", pid: 7)
            == ["/tmp/x/docketd_7.ports", "/tmp/x/nats-server_7.ports"])
    }

    @Test func theMachinesAddressesIncludeLoopback() {
        #expect(ProcessFiles.interfaceAddresses(family: AF_INET).contains("127.0.0.1"))
        #expect(!ProcessFiles.interfaceAddresses(family: AF_INET).contains { $0.contains(":") })
    }
}
