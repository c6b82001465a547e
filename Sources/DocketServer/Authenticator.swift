import DocketWire

/// Who may connect: the credentials configured with `--auth` or `--user`/`--pass`, checked
/// against a client's CONNECT exactly as nats-server checks them, so that every NATS client's
/// own options (`user`/`pass`, `auth_token`) work unchanged.
///
/// One place decides, for the client port and the monitoring port alike.
struct Authenticator: Sendable {
    /// A user of the configuration: a name, its password, and what it may do.
    struct User: Sendable {
        let name: String
        let password: String
        /// nil: every right.
        var permissions: Permissions?
    }

    enum Credentials: Sendable {
        case token(String)
        /// One user (`--user`/`--pass`) or several (a configuration file's `users = [...]`).
        case users([User])
    }

    let credentials: Credentials
    /// nats-server's `no_auth_user`: who a CONNECT without any credentials is.
    var noAuthUser: String?

    init(credentials: Credentials, noAuthUser: String? = nil) {
        self.credentials = credentials
        self.noAuthUser = noAuthUser
    }

    /// The principal a CONNECT document proves, or nil when it proves none.
    func principal(connect json: JSONValue) -> Principal? {
        let user = json["user"]?.stringValue, pass = json["pass"]?.stringValue, token = json["auth_token"]?.stringValue
        if user == nil && pass == nil && token == nil, let noAuthUser { return principal(named: noAuthUser) }
        switch credentials {
        case .token(let expected):
            guard let token, Self.equal(token, expected) else { return nil }
            return Principal(name: "token", permissions: nil)
        case .users(let users):
            guard let user, let pass else { return nil }
            return Self.matching(user, pass, users)
        }
    }

    /// The configured user of that name (the owner of a stored route, say), or nil.
    func principal(named name: String) -> Principal? {
        switch credentials {
        case .token: return name == "token" ? Principal(name: name, permissions: nil) : nil
        case .users(let users): return users.first { $0.name == name }.map { Principal(name: $0.name, permissions: $0.permissions) }
        }
    }

    /// The user whose name and password both match. Every entry is compared in full, so the
    /// time taken tells nothing about which part, or which user, was wrong.
    private static func matching(_ user: String, _ pass: String, _ users: [User]) -> Principal? {
        var found: Principal?
        for entry in users {
            let nameMatches = equal(user, entry.name)
            let passwordMatches = equal(pass, entry.password)
            if nameMatches && passwordMatches { found = Principal(name: entry.name, permissions: entry.permissions) }
        }
        return found
    }

    /// Who an HTTP `Authorization` header value proves to be: `Bearer <token>` or `Basic
    /// base64(user:password)` (a token also as `Basic` with it as password).
    func principal(httpAuthorization header: String?) -> Principal? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        switch (parts[0].lowercased(), credentials) {
        case ("bearer", .token(let token)):
            return Self.equal(parts[1].trimmingBlanks, token) ? Principal(name: "token", permissions: nil) : nil
        case ("basic", _):
            guard let decoded = Base64.decode(parts[1].trimmingBlanks), let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else {
                return nil
            }
            let user = String(decoding: decoded[..<colon], as: UTF8.self)
            let password = String(decoding: decoded[(colon + 1)...], as: UTF8.self)
            switch credentials {
            case .token(let token): return Self.equal(password, token) ? Principal(name: "token", permissions: nil) : nil
            case .users(let users): return Self.matching(user, password, users)
            }
        default:
            return nil
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
