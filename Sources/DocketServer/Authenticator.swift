#if canImport(Glibc)
import Glibc
#endif
import DocketPasswords
import DocketTLS
import DocketWire

/// Who may connect: the credentials configured with `--auth` or `--user`/`--pass`, checked
/// against a client's CONNECT exactly as nats-server checks them, so that every NATS client's
/// own options (`user`/`pass`, `auth_token`, an NKEY seed) work unchanged.
///
/// One place decides, for the client port and the monitoring port alike.
struct Authenticator: Sendable {
    /// A user of the configuration: a name, its password, and what it may do.
    struct User: Sendable {
        /// For an NKEY user, its printed public key ("U…"), as nats-server names it.
        let name: String
        /// Empty for a user identified only by its TLS client certificate (`verify_and_map`),
        /// and for an NKEY user.
        let password: String
        /// nil: every right.
        var permissions: Permissions?
        /// The nats-server account it belongs to; nil: the global one.
        var account: String? = nil
        /// An NKEY user's Ed25519 public key: it proves itself by signing its connection's
        /// nonce. nil for the others.
        var publicKey: [UInt8]? = nil

        var principal: Principal { Principal(name: name, permissions: permissions, account: account) }

        /// Whether `password` is a bcrypt hash of the password rather than the password.
        var isHashed: Bool { PasswordHash.isHash(password) }
        /// Whether only a client certificate can prove this user (no password, no NKEY).
        var isCertificateOnly: Bool { password.isEmpty && publicKey == nil }
        var provesWithPassword: Bool { !password.isEmpty }
    }

    enum Credentials: Sendable {
        case token(String)
        /// One user (`--user`/`--pass`) or several (a configuration file's `users = [...]`).
        case users([User])
        /// nats-server's operator mode: a user is a JWT that an account the operator vouches for
        /// issued (see `OperatorTrust`). `jobRights`: `docket.default_permissions`, the job rights
        /// of JWT users, whose JWTs say nothing of jobs (nil: every right, as for a configured
        /// user without permissions).
        case operatorMode(OperatorTrust, jobRights: [JobRight: SubjectRule]?)
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
        /// A user JWT that does not hold, and why (for the log; the client hears only
        /// `Authorization Violation`).
        case refusedJWT(String)
    }

    /// Whether some user logs in with an NKEY: then every client gets a nonce to sign.
    var hasNKeyUsers: Bool {
        guard case .users(let users) = credentials else { return false }
        return users.contains { $0.publicKey != nil }
    }

    /// Whether INFO carries a nonce for the client to sign: NKEY users, or operator mode.
    var asksForNonce: Bool {
        if case .operatorMode = credentials { return true }
        return hasNKeyUsers
    }

    /// What a CONNECT document proves; `nonce` is what the connection's INFO asked it to sign.
    func verdict(connect json: JSONValue, nonce: [UInt8]?, now: Int = Int(time(nil))) -> Verdict {
        if case .operatorMode(let trust, let jobRights) = credentials {
            return Self.matching(jwt: json["jwt"]?.stringValue, signature: json["sig"]?.stringValue, nonce: nonce, trust, jobRights, now: now)
        }
        // As nats-server: with NKEY users configured, a CONNECT naming a key is judged by that
        // key alone, whatever else it carries.
        if let nkey = json["nkey"]?.stringValue, !nkey.isEmpty, case .users(let users) = credentials, hasNKeyUsers {
            return Self.matching(nkey: nkey, signature: json["sig"]?.stringValue, nonce: nonce, users)
        }
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
        case .operatorMode:
            return .refused
        }
    }

    /// A user JWT with its signature of the nonce, judged by the operator's chain of trust.
    private static func matching(
        jwt: String?, signature: String?, nonce: [UInt8]?, _ trust: OperatorTrust, _ jobRights: [JobRight: SubjectRule]?, now: Int
    ) -> Verdict {
        guard let jwt, !jwt.isEmpty else { return .refusedJWT("the CONNECT carries no user JWT") }
        guard jwt.utf8.count <= maxJWTText else { return .refusedJWT("the user JWT is over \(maxJWTText) bytes") }
        let signatureBytes = signature.flatMap { $0.utf8.count <= maxSignatureText ? Base64.decode($0, .url) ?? Base64.decode($0, .standard) : nil }
        do {
            let (account, user) = try trust.login(jwt: jwt, nonce: nonce, nonceSignature: signatureBytes, now: now, verify: verifyNKeySignature)
            guard let principal = principal(of: user, account: account, jobRights) else {
                return .refusedJWT("the permissions of user \(user.subject) name subjects that are not valid")
            }
            return .proved(principal)
        } catch {
            return .refusedJWT("\(error)")
        }
    }

    /// Who a vouched-for user JWT makes a client: named by its public key, in its account's
    /// subject space, with the JWT's publish and subscribe permissions.
    static func principal(of user: NatsJWT, account: String, _ jobRights: [JobRight: SubjectRule]?) -> Principal? {
        func rule(_ lists: (allow: [String]?, deny: [String])) -> SubjectRule? {
            let allow = lists.allow.map { $0.map { Array($0.utf8) } }, deny = lists.deny.map { Array($0.utf8) }
            guard (allow ?? []).allSatisfy(Subject.isValidFilter), deny.allSatisfy(Subject.isValidFilter) else { return nil }
            return SubjectRule(allow: allow, deny: deny)
        }
        guard let publish = rule(user.publish), let subscribe = rule(user.subscribe) else { return nil }
        let unrestricted = publish == .everything && subscribe == .everything
        let permissions: Permissions? =
            unrestricted && jobRights == nil ? nil : Permissions(publish: publish, subscribe: subscribe, jobs: jobRights ?? [:])
        return Principal(name: user.subject, permissions: permissions, account: account, expiresAt: user.expires.flatMap { $0 > 0 ? $0 : nil })
    }

    /// Whether a vouched-for user is still admitted (its JWT is kept by its connection): what a
    /// reload asks of a connection that logged in with a JWT.
    func readmit(jwt: String, now: Int = Int(time(nil))) -> Principal? {
        guard case .operatorMode(let trust, let jobRights) = credentials, let (account, user) = try? trust.user(jwt: jwt, now: now, verify: Self.verifyNKeySignature)
        else { return nil }
        return Self.principal(of: user, account: account, jobRights)
    }

    /// How many clients of an account may be connected at once (its JWT's `conn`); nil: no limit.
    func connectionLimit(ofAccount account: String) -> Int? {
        guard case .operatorMode(let trust, _) = credentials else { return nil }
        return trust.accounts[account]?.connectionLimit
    }

    /// The Ed25519 check of a signature by a printed NATS key (operator, account or user).
    static let verifyNKeySignature: SignatureCheck = { printed, signature, message in
        guard let key = NKey.publicKey(printed, prefixes: [NKey.operatorPrefix, NKey.accountPrefix, NKey.userPrefix]) else { return false }
        return Ed25519.isValid(signature: signature, of: message, publicKey: key)
    }

    /// A user JWT is a few hundred bytes to a few KiB; past 16 KiB it is not worth decoding.
    static let maxJWTText = 16 << 10

    /// A token compared with the configured one, or checked against it when it is a hash.
    private static func matching(token: String?, _ expected: String) -> Verdict {
        let principal = Principal(name: "token", permissions: nil)
        if PasswordHash.isHash(expected) { return .check(password: token ?? "", hash: expected, principal: token == nil ? nil : principal) }
        guard let token, equal(token, expected) else { return .refused }
        return .proved(principal)
    }

    /// What the user of that name proves itself with: the password (or its hash), the token
    /// under the name "token", or an NKEY. A reload compares them to tell whose credentials changed.
    func secret(of name: String) -> Secret? {
        switch credentials {
        case .token(let token): return name == "token" ? .password(token) : nil
        case .users(let users):
            return users.first { $0.name == name }.map { $0.publicKey.map(Secret.nkey) ?? .password($0.password) }
        case .operatorMode: return nil
        }
    }

    enum Secret: Equatable {
        case password(String)
        case nkey([UInt8])
    }

    /// The user a verified client certificate names (`verify_and_map`): the first of its
    /// identities (email and DNS names, then the subject) that is a user's name.
    func verdict(certificate identities: [String]) -> Verdict {
        guard case .users(let users) = credentials else { return .refused }
        for identity in identities {
            if let user = users.first(where: { $0.name == identity && $0.publicKey == nil }) {
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
        case .operatorMode: return nil
        }
    }

    /// The user whose name and password both match. Every entry is compared in full, so the
    /// time taken tells nothing about which part, or which user, was wrong; a user whose
    /// password is a bcrypt hash is left to the hash check.
    private static func matching(_ user: String, _ pass: String, _ users: [User]) -> Verdict {
        var verdict = Verdict.refused
        for entry in users where entry.provesWithPassword {
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

    /// The NKEY user whose printed key the client named, if its signature of the nonce verifies.
    /// A signature decodes from URL-safe base64 or, as nats-server also takes, standard base64.
    private static func matching(nkey: String, signature: String?, nonce: [UInt8]?, _ users: [User]) -> Verdict {
        guard let user = users.first(where: { $0.publicKey != nil && $0.name == nkey }), let publicKey = user.publicKey,
            let nonce, let signature, signature.utf8.count <= maxSignatureText,
            let bytes = Base64.decode(signature, .url) ?? Base64.decode(signature, .standard),
            Ed25519.isValid(signature: bytes, of: nonce, publicKey: publicKey)
        else { return .refused }
        return .proved(user.principal)
    }

    /// 64 bytes are 88 characters of padded base64: anything longer is not worth decoding.
    private static let maxSignatureText = 88

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
            case .operatorMode: return .refused  // a JWT user has no password to send
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

extension String {
    fileprivate var trimmingBlanks: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
