import DocketPasswords
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
        /// Empty for a user identified only by its TLS client certificate (`verify_and_map`).
        let password: String
        /// nil: every right.
        var permissions: Permissions?
        /// The nats-server account it belongs to; nil: the global one.
        var account: String? = nil

        var principal: Principal { Principal(name: name, permissions: permissions, account: account) }

        /// Whether `password` is a bcrypt hash of the password rather than the password.
        var isHashed: Bool { PasswordHash.isHash(password) }
        /// Whether only a client certificate can prove this user (no password configured).
        var isCertificateOnly: Bool { password.isEmpty }
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

    /// What a set of credentials comes to: a principal, a refusal, or a password hash to check
    /// first (slow: the server runs it off the loop, see `PasswordChecker`).
    enum Verdict {
        case proved(Principal)
        case refused
        /// `principal` is proved if `password` matches `hash`; nil: refused either way (an
        /// unknown user, checked against some user's hash so that the time says nothing).
        case check(password: String, hash: String, principal: Principal?)
    }

    /// What a CONNECT document proves.
    func verdict(connect json: JSONValue) -> Verdict {
        let user = json["user"]?.stringValue, pass = json["pass"]?.stringValue, token = json["auth_token"]?.stringValue
        if user == nil && pass == nil && token == nil, let noAuthUser, let principal = principal(named: noAuthUser) {
            return .proved(principal)
        }
        switch credentials {
        case .token(let expected):
            return Self.matching(token: token, expected)
        case .users(let users):
            guard let user, let pass else { return .refused }
            return Self.matching(user, pass, users)
        }
    }

    /// A token compared with the configured one, or checked against it when it is a hash.
    private static func matching(token: String?, _ expected: String) -> Verdict {
        let principal = Principal(name: "token", permissions: nil)
        if PasswordHash.isHash(expected) { return .check(password: token ?? "", hash: expected, principal: token == nil ? nil : principal) }
        guard let token, equal(token, expected) else { return .refused }
        return .proved(principal)
    }

    /// The password (or its hash) the user of that name proves itself with; the token under the
    /// name "token". A reload compares them to tell whose credentials changed.
    func secret(of name: String) -> String? {
        switch credentials {
        case .token(let token): return name == "token" ? token : nil
        case .users(let users): return users.first { $0.name == name }.map(\.password)
        }
    }

    /// The user a verified client certificate names (`verify_and_map`): the first of its
    /// identities (email and DNS names, then the subject) that is a user's name.
    func verdict(certificate identities: [String]) -> Verdict {
        guard case .users(let users) = credentials else { return .refused }
        for identity in identities {
            if let user = users.first(where: { $0.name == identity }) {
                return .proved(user.principal)
            }
        }
        return .refused
    }

    /// The configured user of that name (the owner of a stored route, say), or nil.
    func principal(named name: String) -> Principal? {
        switch credentials {
        case .token: return name == "token" ? Principal(name: name, permissions: nil) : nil
        case .users(let users): return users.first { $0.name == name }.map(\.principal)
        }
    }

    /// The user whose name and password both match. Every entry is compared in full, so the
    /// time taken tells nothing about which part, or which user, was wrong; a user whose
    /// password is a bcrypt hash is left to the hash check.
    private static func matching(_ user: String, _ pass: String, _ users: [User]) -> Verdict {
        var verdict = Verdict.refused
        for entry in users where !entry.isCertificateOnly {
            let nameMatches = equal(user, entry.name)
            if entry.isHashed {
                if nameMatches { verdict = .check(password: pass, hash: entry.password, principal: entry.principal) }
                continue
            }
            let passwordMatches = equal(pass, entry.password)
            if nameMatches && passwordMatches { verdict = .proved(entry.principal) }
        }
        // A refusal costs a hash check whoever it is for (an unknown name, or a user with a
        // plain password that was wrong), so the time taken says nothing of which names exist.
        if case .refused = verdict, let decoy = users.first(where: { $0.isHashed }) {
            return .check(password: pass, hash: decoy.password, principal: nil)
        }
        return verdict
    }

    /// What an HTTP `Authorization` header value proves: `Bearer <token>` or `Basic
    /// base64(user:password)` (a token also as `Basic` with it as password).
    func verdict(httpAuthorization header: String?) -> Verdict {
        guard let header else { return .refused }
        let parts = header.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return .refused }
        switch (parts[0].lowercased(), credentials) {
        case ("bearer", .token(let token)):
            return Self.matching(token: parts[1].trimmingBlanks, token)
        case ("basic", _):
            guard let decoded = Base64.decode(parts[1].trimmingBlanks), let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else {
                return .refused
            }
            let user = String(decoding: decoded[..<colon], as: UTF8.self)
            let password = String(decoding: decoded[(colon + 1)...], as: UTF8.self)
            switch credentials {
            case .token(let token): return Self.matching(token: password, token)
            case .users(let users): return Self.matching(user, password, users)
            }
        default:
            return .refused
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


