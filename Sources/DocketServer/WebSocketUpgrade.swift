import DocketWire
import DocketTLS

/// The server's answer to a WebSocket upgrade request (RFC 6455 4.2): 101 and the accept key,
/// or the refusal nats-server gives (400 for a request that is not an upgrade, 405 for a method
/// other than GET, 403 for an origin the configuration does not allow). Pure: a request head
/// in, the response bytes out.
enum WebSocketUpgrade {
    enum Answer: Equatable {
        /// The 101, and the permessage-deflate terms it agreed to (nil: none).
        case accept(response: [UInt8], compression: PermessageDeflate?)
        case refuse(status: Int, response: [UInt8], why: String)
    }

    /// The GUID RFC 6455 appends to the client's key before hashing it.
    static let keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
    static func acceptKey(for key: String) -> String {
        Base64.encode(Digest.sha1(Array((key + keyGUID).utf8)))
    }

    /// The answer to the request `head` (through its blank line), which came over TLS or not.
    static func answer(_ head: [UInt8], settings: WebSocketSettings, isSecure: Bool) -> Answer {
        let requestLine = head.prefix { $0 != 0x0D && $0 != 0x0A }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: true)
        guard parts.count == 3, HTTPHead.isHTTP1(parts[2]), parts[2].last! >= UInt8(ascii: "1") else {
            return refuse(400, "not an HTTP/1.1 request line")
        }
        guard parts[0].elementsEqual("GET".utf8) else {
            return refuse(405, "the upgrade must be a GET", extra: "Allow: GET\r\n")
        }
        guard HTTPHead.hasWellFormedFields(head) else { return refuse(400, "malformed header field") }
        if let problem = HTTPHead.hostProblem(head) { return refuse(400, problem) }
        guard hasToken("websocket", in: HTTPHead.headers("upgrade", in: head)) else {
            return refuse(400, "the Upgrade header must name websocket")
        }
        guard hasToken("upgrade", in: HTTPHead.headers("connection", in: head)) else {
            return refuse(400, "the Connection header must name Upgrade")
        }
        guard HTTPHead.headers("sec-websocket-version", in: head) == ["13"] else {
            return refuse(400, "only WebSocket version 13 is spoken", extra: "Sec-WebSocket-Version: 13\r\n")
        }
        let keys = HTTPHead.headers("sec-websocket-key", in: head)
        guard keys.count == 1, let key = keys.first, Base64.decode(key)?.count == 16, key.count == 24 else {
            return refuse(400, "Sec-WebSocket-Key must be one base64 nonce of 16 bytes")
        }
        if let problem = originProblem(head, settings: settings, isSecure: isSecure) { return refuse(403, problem) }
        // permessage-deflate only when configured and offered in terms it can meet; otherwise
        // no Sec-WebSocket-Extensions, and the client goes on uncompressed. No
        // Sec-WebSocket-Protocol: NATS names none.
        let compression = settings.compression ? PermessageDeflate.negotiate(HTTPHead.headers("sec-websocket-extensions", in: head)) : nil
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(acceptKey(for: key))\r\n" + (compression?.responseHeader ?? "") + "\r\n"
        return .accept(response: Array(response.utf8), compression: compression)
    }

    /// Whether a comma-separated header (over all its lines) lists `token`, in any case.
    static func hasToken(_ token: String, in values: [String]) -> Bool {
        values.contains { value in
            value.split(separator: ",").contains { $0.trimmingBlanks.lowercased() == token }
        }
    }

    /// Why a browser's origin may not connect (nil: it may). A request without `Origin` is not a
    /// browser's and is not checked, as in nats-server.
    static func originProblem(_ head: [UInt8], settings: WebSocketSettings, isSecure: Bool) -> String? {
        guard settings.sameOrigin || !settings.allowedOrigins.isEmpty else { return nil }
        let origins = HTTPHead.headers("origin", in: head)
        guard let originText = origins.first else { return nil }
        guard origins.count == 1, let origin = Origin(originText) else { return "the Origin header is not one scheme://host[:port]" }
        if settings.sameOrigin {
            guard let host = HTTPHead.header("host", in: head), let request = Origin(host: host, isSecure: isSecure),
                request.host == origin.host, request.port == origin.port
            else { return "origin \(originText) is not the host this request was sent to" }
        }
        if !settings.allowedOrigins.isEmpty {
            guard settings.allowedOrigins.compactMap(Origin.init).contains(origin) else { return "origin \(originText) is not allowed" }
        }
        return nil
    }

    private static func refuse(_ status: Int, _ why: String, extra: String = "") -> Answer {
        let reason = status == 405 ? "Method Not Allowed" : MonitoringServer.reason(status)
        return .refuse(status: status, response: MonitoringServer.response(status, reason, "text/plain", why + "\n", head: false, extra: extra), why: why)
    }
}

/// A web origin: scheme, host and port, the port filled in from the scheme when left out
/// (80 for http and ws, 443 for https and wss), as browsers compare them.
struct Origin: Equatable {
    let scheme: String
    let host: String
    let port: Int

    /// `scheme://host[:port]` (a trailing slash allowed; nothing else after the authority).
    init?(_ text: String) {
        let parts = text.lowercased().split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let scheme = String(parts[0])
        var authority = String(parts[1])
        if authority.hasSuffix("/") { authority.removeLast() }
        guard ["http", "https", "ws", "wss"].contains(scheme), !authority.contains("/"),
            let (host, port) = Self.split(authority, defaultPort: scheme == "https" || scheme == "wss" ? 443 : 80)
        else { return nil }
        (self.scheme, self.host, self.port) = (scheme, host, port)
    }

    /// The origin a `Host` header names, for a request over TLS or not.
    init?(host: String, isSecure: Bool) {
        guard let (name, port) = Self.split(host.lowercased(), defaultPort: isSecure ? 443 : 80) else { return nil }
        (scheme, self.host, self.port) = (isSecure ? "https" : "http", name, port)
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    private static func split(_ authority: String, defaultPort: Int) -> (String, Int)? {
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host = authority
        var port = defaultPort
        let closing = authority.lastIndex(of: "]")
        if let colon = authority.lastIndex(of: ":"), closing.map({ $0 < colon }) ?? !authority.dropFirst().contains("[") {
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else { return nil }
            port = number
            host = String(authority[..<colon])
        }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }
}
