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

    /// Applies a CONNECT document. Keys a client leaves out keep their NATS defaults.
    static func from(connect json: JSONValue) -> Result<ClientOptions, ProtocolError> {
        guard case .object = json else {
            return .failure(ProtocolError(.invalidProtocol, "CONNECT needs a JSON object"))
        }
        var options = ClientOptions()
        options.verbose = json["verbose"]?.boolValue ?? true
        options.pedantic = json["pedantic"]?.boolValue ?? true
        options.echo = json["echo"]?.boolValue ?? true
        options.headers = json["headers"]?.boolValue ?? false
        options.noResponders = json["no_responders"]?.boolValue ?? false
        options.name = json["name"]?.stringValue ?? ""
        options.lang = json["lang"]?.stringValue ?? ""
        options.version = json["version"]?.stringValue ?? ""
        if let proto = json["protocol"]?.numberValue, proto > 1 {
            return .failure(ProtocolError(.invalidClientProtocol))
        }
        if options.noResponders && !options.headers {
            return .failure(ProtocolError(.noRespondersRequiresHeaders))
        }
        return .success(options)
    }
}
