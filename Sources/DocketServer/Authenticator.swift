import DocketWire

/// Who may connect: the credentials configured with `--auth` or `--user`/`--pass`, checked
/// against a client's CONNECT exactly as nats-server checks them, so that every NATS client's
/// own options (`user`/`pass`, `auth_token`) work unchanged.
///
/// One place decides, for the client port and the monitoring port alike.
struct Authenticator: Sendable {
    enum Credentials: Sendable {
        case token(String)
        case user(name: String, password: String)
        /// Several users (a configuration file's `users = [...]`), each with every right.
        case users([(name: String, password: String)])
    }

    let credentials: Credentials

    /// The principal a CONNECT document proves, or nil when it proves none.
    func principal(connect json: JSONValue) -> String? {
        switch credentials {
        case .token(let token):
            guard let given = json["auth_token"]?.stringValue, Self.equal(given, token) else { return nil }
            return "token"
        case .user(let name, let password):
            guard let user = json["user"]?.stringValue, let pass = json["pass"]?.stringValue else { return nil }
            return Self.matching(user, pass, [(name, password)])
        case .users(let users):
            guard let user = json["user"]?.stringValue, let pass = json["pass"]?.stringValue else { return nil }
            return Self.matching(user, pass, users)
        }
    }

    /// The user whose name and password both match. Every entry is compared in full, so the
    /// time taken tells nothing about which part, or which user, was wrong.
    private static func matching(_ user: String, _ pass: String, _ users: [(name: String, password: String)]) -> String? {
        var found: String?
        for entry in users {
            let nameMatches = equal(user, entry.name)
            let passwordMatches = equal(pass, entry.password)
            if nameMatches && passwordMatches { found = entry.name }
        }
        return found
    }

    /// Whether an HTTP `Authorization` header value proves the same credentials: `Bearer
    /// <token>` or `Basic base64(user:password)` (a token also as `Basic` with it as password).
    func allowsHTTP(authorization header: String?) -> Bool {
        guard let header else { return false }
        let parts = header.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return false }
        switch (parts[0].lowercased(), credentials) {
        case ("bearer", .token(let token)):
            return Self.equal(parts[1].trimmingBlanks, token)
        case ("basic", _):
            guard let decoded = Base64.decode(parts[1].trimmingBlanks), let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else {
                return false
            }
            let user = String(decoding: decoded[..<colon], as: UTF8.self)
            let password = String(decoding: decoded[(colon + 1)...], as: UTF8.self)
            switch credentials {
            case .token(let token): return Self.equal(password, token)
            case .user(let name, let expected): return Self.matching(user, password, [(name, expected)]) != nil
            case .users(let users): return Self.matching(user, password, users) != nil
            }
        default:
            return false
        }
    }

    /// Compares in time that depends only on the lengths, not on where the texts differ.
    static func equal(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

/// Standard base64 (RFC 4648), decoding only: for HTTP basic authentication.
enum Base64 {
    static func decode(_ text: String) -> [UInt8]? {
        var bits: UInt32 = 0
        var count = 0
        var out: [UInt8] = []
        for char in text.utf8 {
            let value: UInt32
            switch char {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(char - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(char - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(char - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            bits = bits << 6 | value
            count += 6
            if count >= 8 {
                count -= 8
                out.append(UInt8((bits >> UInt32(count)) & 0xFF))
            }
        }
        return out
    }
}

extension String {
    fileprivate var trimmingBlanks: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
