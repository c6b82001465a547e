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

    /// These options with a CONNECT document applied. As in nats-server, a CONNECT changes
    /// only the keys it names; the rest keep their current values.
    func applying(connect json: JSONValue) -> Result<ClientOptions, ProtocolError> {
        guard case .object = json else {
            return .failure(ProtocolError(.invalidProtocol, "CONNECT needs a JSON object"))
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
