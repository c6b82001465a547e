/// nats-server's `websocket { }` block: a listener for NATS clients that connect over
/// WebSocket (browsers, `ws://` and `wss://` URLs), sharing everything else with the TCP port.
public struct WebSocketSettings: Sendable, Equatable {
    /// The address to listen on; nil: the client port's.
    public var host: String?
    /// 0: any free port (logged).
    public var port: Int
    /// `wss://` with these certificates; nil: plain `ws://`, which needs `no_tls: true` (as in
    /// nats-server, a block without TLS is refused unless it says so).
    public var tls: TLSSettings?
    /// permessage-deflate (RFC 7692) for clients that offer it; others go on uncompressed.
    public var compression = false
    /// How long a client may take from accept to a complete upgrade (TLS handshake included),
    /// in ms; then it is closed.
    public var handshakeTimeoutMilliseconds = 2_000
    /// A browser's `Origin` must name the host the request was sent to.
    public var sameOrigin = false
    /// When not empty, a browser's `Origin` must be one of these (scheme, host and port).
    public var allowedOrigins: [String] = []
    /// The longest upgrade request head (request line and headers) read; past it, 431 and close.
    public var maxHeadBytes = 8 << 10

    public init(port: Int) {
        self.port = port
    }

    /// Whether `text` is an origin `allowed_origins` can hold: `scheme://host[:port]`.
    public static func isOrigin(_ text: String) -> Bool { Origin(text) != nil }
}
