/// The terms of permessage-deflate (RFC 7692) a server takes from a client's offer: what the
/// `Sec-WebSocket-Extensions` of the 101 says, and how each side compresses. Pure: header
/// values in, terms out.
struct PermessageDeflate: Equatable {
    /// The server compresses each message alone (the client asked it to).
    var serverNoContextTakeover = false
    /// The client said it compresses each message alone; the server echoes it.
    var clientNoContextTakeover = false
    /// The window the server's compressor may use (the client may ask for less than 15).
    var serverWindowBits = 15
    /// Whether the client named `server_max_window_bits`, which the answer must then echo.
    var limitsServerWindow = false

    /// The first acceptable offer among a request's `Sec-WebSocket-Extensions` values; nil when
    /// none is (the extension is then left out of the answer, and the client goes on without it).
    static func negotiate(_ values: [String]) -> PermessageDeflate? {
        for offer in values.flatMap({ $0.split(separator: ",") }) {
            let parts = offer.split(separator: ";").map { $0.trimmingBlanks }
            guard parts.first?.lowercased() == "permessage-deflate" else { continue }
            if let terms = terms(of: parts.dropFirst()) { return terms }
        }
        return nil
    }

    /// The terms one offer's parameters allow; nil for a parameter unknown, repeated or out of range.
    private static func terms(of parameters: ArraySlice<String>) -> PermessageDeflate? {
        var terms = PermessageDeflate()
        var seen: Set<String> = []
        for parameter in parameters {
            let halves = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingBlanks }
            let name = halves[0].lowercased()
            let value = halves.count == 2 ? halves[1].trimmingCharacters(in: "\"") : nil
            guard seen.insert(name).inserted else { return nil }
            switch (name, value) {
            case ("server_no_context_takeover", nil): terms.serverNoContextTakeover = true
            case ("client_no_context_takeover", nil): terms.clientNoContextTakeover = true
            case ("server_max_window_bits", let bits?):
                // zlib cannot make raw deflate with an 8-bit window: such an offer is declined.
                guard let number = Int(bits), (9...15).contains(number) else { return nil }
                terms.serverWindowBits = number
                terms.limitsServerWindow = true
            case ("client_max_window_bits", nil): break  // the server's decompressor takes any window
            case ("client_max_window_bits", let bits?):
                guard let number = Int(bits), (8...15).contains(number) else { return nil }
            default: return nil
            }
        }
        return terms
    }

    /// The `Sec-WebSocket-Extensions` line of the 101.
    var responseHeader: String {
        var text = "Sec-WebSocket-Extensions: permessage-deflate"
        if serverNoContextTakeover { text += "; server_no_context_takeover" }
        if clientNoContextTakeover { text += "; client_no_context_takeover" }
        if limitsServerWindow { text += "; server_max_window_bits=\(serverWindowBits)" }
        return text + "\r\n"
    }
}
