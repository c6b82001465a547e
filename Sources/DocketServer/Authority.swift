/// The part of a `nats://` address after its scheme: `[user[:password]@]host[:port]`, an IPv6
/// host in brackets. Shared by the cluster link's addresses and the routes'.
struct Authority {
    var host: String
    var port: Int
    var user: String?
    var password: String?

    /// nil if malformed, or if the port is outside `ports`.
    init?(_ text: Substring, defaultPort: Int, ports: ClosedRange<Int>) {
        var rest = text
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                user = String(credentials)
            }
        }
        var host = rest
        port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()) else { return nil }
                port = number
            } else if !after.isEmpty {
                return nil
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]) else { return nil }
            port = number
            host = host[..<colon]
        }
        guard !host.isEmpty, ports.contains(port) else { return nil }
        self.host = String(host)
    }
}
