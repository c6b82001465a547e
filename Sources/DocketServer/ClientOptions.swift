import DocketWire

/// What a client chose in CONNECT. The defaults are the ones NATS gives a client that never
/// sends CONNECT (a person on telnet): verbose and pedantic on, its own messages echoed.
struct ClientOptions {
    var verbose = true
    var pedantic = true
    var echo = true
    var headers = false
    var noResponders = false
    var name = ""
    var lang = ""
    var version = ""
    /// 1: the client takes INFOs after the first (a cluster's `connect_urls`).
    var protocolVersion = 0

    /// The keys that are booleans (null leaves one as it was, as in nats-server).
    static let flags = ["verbose", "pedantic", "echo", "headers", "no_responders"]

    /// These options with a CONNECT document applied. As in nats-server, a CONNECT changes
    /// only the keys it names; the rest keep their current values.
    func applying(connect json: JSONValue) -> Result<ClientOptions, ProtocolError> {
        guard case .object = json else {
            return .failure(ProtocolError(.invalidProtocol, "CONNECT needs a JSON object"))
        }
        // A flag of another type was taken as absent: `"echo":"false"` left echo on while the
        // client believed it off. nats-server cannot read such a document and closes too.
        for key in Self.flags {
            if let value = json[key], value != .null, value.boolValue == nil {
                return .failure(ProtocolError(.invalidProtocol, "CONNECT field \(key) must be true or false"))
            }
        }
        var options = self
        options.verbose = json["verbose"]?.boolValue ?? verbose
        options.pedantic = json["pedantic"]?.boolValue ?? pedantic
        options.echo = json["echo"]?.boolValue ?? echo
        options.headers = json["headers"]?.boolValue ?? headers
        options.noResponders = json["no_responders"]?.boolValue ?? noResponders
        options.name = json["name"]?.stringValue ?? name
        options.lang = json["lang"]?.stringValue ?? lang
        options.version = json["version"]?.stringValue ?? version
        // 0 or 1 (or absent, or null: 0); nats-server refuses anything else too.
        if let proto = json["protocol"], proto != .null, proto != .number(0), proto != .number(1) {
            return .failure(ProtocolError(.invalidClientProtocol))
        }
        if let proto = json["protocol"] { options.protocolVersion = proto == .number(1) ? 1 : 0 }
        if options.noResponders && !options.headers {
            return .failure(ProtocolError(.noRespondersRequiresHeaders))
        }
        return .success(options)
    }
}
