@testable import DocketServer
import Glibc
import Testing

@Suite struct AdvertisementTests {
    private func clientURLs(_ host: String, advertise: String? = nil) -> [String] {
        Advertisement.clientURLs(boundHost: host, port: 4222, advertise: advertise) { family in
            family == AF_INET ? ["10.0.0.7", "192.0.2.2"] : ["10.0.0.7", "192.0.2.2", "2001:db8::5"]
        }
    }

    @Test func aListenerOnOneAddressIsThatAddress() {
        #expect(clientURLs("127.0.0.1") == ["127.0.0.1:4222"])
        #expect(clientURLs("::1") == ["[::1]:4222"])
    }

    @Test func aListenerOnEveryInterfaceIsEachInterfaceOfItsFamily() {
        #expect(clientURLs("0.0.0.0") == ["10.0.0.7:4222", "192.0.2.2:4222"])
        #expect(clientURLs("::") == ["10.0.0.7:4222", "192.0.2.2:4222", "[2001:db8::5]:4222"])
        // Nothing but loopback on the machine: no one elsewhere to tell.
        #expect(Advertisement.clientURLs(boundHost: "0.0.0.0", port: 9, advertise: nil) { _ in [] } == ["127.0.0.1:9"])
    }

    @Test func theAdvertisedAddressWinsAndTakesTheListenersPortByDefault() {
        #expect(clientURLs("0.0.0.0", advertise: "nats.example.com") == ["nats.example.com:4222"])
        #expect(clientURLs("127.0.0.1", advertise: "198.51.100.7:4444") == ["198.51.100.7:4444"])
        #expect(clientURLs("127.0.0.1", advertise: "[2001:db8::9]:5") == ["[2001:db8::9]:5"])
    }

    @Test func malformedAdvertisedAddressesAreRefused() {
        for text in ["", "user@host:1", "nats://host:1", "host:0", "host:70000", "host:x", "[::1"] {
            #expect(Advertisement.parse(text, defaultPort: 4222) == nil, "\(text)")
        }
    }

    @Test func aPeersUnspecifiedRouteHostIsWhereItsRouteCameFrom() {
        #expect(Advertisement.peerRouteURL("0.0.0.0:6222", remoteHost: "192.0.2.9") == "192.0.2.9:6222")
        #expect(Advertisement.peerRouteURL("[::]:7000", remoteHost: "2001:db8::1") == "[2001:db8::1]:7000")
        #expect(Advertisement.peerRouteURL("10.1.1.1:6222", remoteHost: "192.0.2.9") == "10.1.1.1:6222")
        #expect(Advertisement.peerRouteURL("garbage url", remoteHost: "192.0.2.9") == "garbage url")
    }
}
