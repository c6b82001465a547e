import DocketServer
import Testing

@Suite struct ClusterAddressTests {
    @Test func urlsWithCredentialsPortsAndIPv6() throws {
        let addresses = try #require(ClusterLink.addresses("nats://a:4222, nats://ann:se:cret@b , c:5000,[::1]:7422,nats://[fe80::1]"))
        #expect(addresses.map(\.display) == ["nats://a:4222", "nats://b:4222", "nats://c:5000", "nats://[::1]:7422", "nats://[fe80::1]:4222"])
        #expect(addresses[1].user == "ann" && addresses[1].password == "se:cret")
        #expect(addresses[0].user == nil && addresses[0].password == nil)
        #expect(addresses.allSatisfy { !$0.requiresTLS })
    }

    @Test func tlsURLsRequireTLS() throws {
        let addresses = try #require(ClusterLink.addresses("tls://a:4223,nats://b"))
        #expect(addresses.map(\.display) == ["tls://a:4223", "nats://b:4222"])
        #expect(addresses.map(\.requiresTLS) == [true, false])
    }

    @Test(arguments: ["", ",", "https://a:4222", "tls://", "nats://:4222", "a:0", "a:70000", "a:x", "[::1", "[::1]x"])
    func refused(_ text: String) {
        #expect(ClusterLink.addresses(text) == nil, "\(text)")
    }
}
