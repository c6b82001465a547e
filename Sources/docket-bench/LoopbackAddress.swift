#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 loopback address (127.0.0.0/8). docket-bench generates enough load to hurt a
/// shared machine or network, so it refuses to aim at anything but the local host.
struct LoopbackAddress: Sendable, CustomStringConvertible {
    /// The dotted-quad text, as given (or 127.0.0.1 for `localhost`).
    let description: String
    /// The address in network byte order, ready for `sockaddr_in`.
    let networkOrder: UInt32

    /// Nil unless `host` is `localhost` or a dotted-quad in 127.0.0.0/8. Names are not
    /// resolved: a resolver could map any name anywhere.
    init?(_ host: String) {
        let text = host == "localhost" ? "127.0.0.1" : host
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        // s_addr is in network order, so its first byte in memory is the first octet.
        let firstOctet = withUnsafeBytes(of: address.s_addr) { $0[0] }
        guard firstOctet == 127 else { return nil }
        description = text
        networkOrder = address.s_addr
    }
}
