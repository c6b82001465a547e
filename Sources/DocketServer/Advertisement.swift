import Glibc

/// Where other machines reach this node, as it tells them: clients in INFO's `connect_urls`,
/// other nodes in the route INFO's `route_url`. A listener on every interface (0.0.0.0, ::) has
/// no one address to tell, and 127.0.0.1 is the wrong one for anyone on another machine; so,
/// as nats-server does, clients are told each interface's address, a peer fills in the address
/// it sees the route come from, and `client_advertise` / `cluster { advertise }` say it outright
/// (behind NAT, or a name for TLS).
enum Advertisement {
    /// `host[:port]` as the advertise settings take it (the port defaults to the listener's);
    /// nil if malformed.
    static func parse(_ text: String, defaultPort: Int) -> (host: String, port: Int)? {
        guard !text.isEmpty, !text.contains("@"), !text.contains("/"),
            let authority = Authority(Substring(text), defaultPort: defaultPort, ports: 1...65535), !authority.host.isEmpty
        else { return nil }
        return (authority.host, authority.port)
    }

    static func hostPort(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func isUnspecified(_ host: String) -> Bool {
        host.isEmpty || host == "0.0.0.0" || host == "::"
    }

    /// What clients are told of a client listener bound to `boundHost:port`. `interfaces` gives
    /// the machine's addresses of a family (nil: both), loopback left out.
    static func clientURLs(boundHost: String, port: Int, advertise: String?, interfaces: (_ family: Int32?) -> [String]) -> [String] {
        if let advertise, let (host, advertisedPort) = parse(advertise, defaultPort: port) {
            return [hostPort(host, advertisedPort)]
        }
        guard isUnspecified(boundHost) else { return [hostPort(boundHost, port)] }
        let addresses = interfaces(boundHost == "::" ? nil : AF_INET)
        // A machine with loopback alone: its own clients are the only ones there can be.
        return (addresses.isEmpty ? ["127.0.0.1"] : addresses).map { hostPort($0, port) }
    }

    /// A peer's `route_url` as this node keeps and passes it on: an unspecified host is the
    /// address its route came from (the peer listens on every interface, and that is one of
    /// them that this node reaches).
    static func peerRouteURL(_ text: String, remoteHost: String) -> String {
        guard let url = RouteURL(text), isUnspecified(url.host), !remoteHost.isEmpty else { return text }
        return hostPort(remoteHost, url.port)
    }
}
