import DocketWire

/// A NATS JWT, as nats-server's decentralized authentication uses them: an operator vouches for
/// accounts, an account (or one of its signing keys) for users, and a user proves itself by
/// signing the server's nonce with its own key. `header.claims.signature`, each part base64url;
/// the signature is Ed25519 over `header.claims`, by the key the claims name as issuer.
///
/// Pure: decoding and the checks of the claims. Whether a signature is right is asked of the
/// `SignatureCheck` the caller passes, so that this file knows nothing of the cryptography.
struct NatsJWT: Sendable {
    enum Kind: String, Sendable { case `operator`, account, user }

    let kind: Kind
    /// `sub`: the public key the JWT is about (O…, A… or U…).
    let subject: String
    /// `iss`: the public key that signed it.
    let issuer: String
    /// A user's `issuer_account`: the account, when a signing key of it is the issuer.
    let issuerAccount: String?
    let name: String
    /// Seconds since 1970; nil when the JWT does not say.
    let issuedAt: Int?
    let expires: Int?
    let notBefore: Int?
    /// An operator's or account's other keys that may sign for it.
    let signingKeys: [String]
    /// Those of an account's signing keys that are scoped (`{ "kind": "user_scope", "key": …,
    /// "template": … }`): the users they sign get the scope's permissions, not their own.
    let scopedSigningKeys: Set<String>
    /// An account's revocations: a user key (or `*`, every user) and the time before which
    /// JWTs issued for it are void.
    let revocations: [String: Int]
    /// A user's `pub`/`sub` permissions, each nil when the JWT sets none.
    let publish: (allow: [String]?, deny: [String])
    let subscribe: (allow: [String]?, deny: [String])
    /// A bearer token user: the JWT alone proves it, no nonce signature.
    let isBearer: Bool
    /// What a JWT restricts that docketd cannot enforce: a user's source networks, times of
    /// day, connection types, response permissions; a user's or an account's limits on
    /// subscriptions, payload size and data, and an account's ban on wildcards. A login with any
    /// of these is refused: ignoring one would let a user do what its issuer kept it from.
    let unenforceable: [String]
    /// An account's `conn` limit: how many clients of it may be connected at once; nil: no limit.
    let connectionLimit: Int?

    let signedPart: [UInt8]
    let signature: [UInt8]

    struct DecodeError: Error, CustomStringConvertible, Sendable {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Parses a JWT's text. Checks its form only, not its signature or its times.
    static func decode(_ text: String) throws -> NatsJWT {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw DecodeError("a JWT has three parts separated by dots") }
        guard let headerBytes = Base64.decode(String(parts[0]), .url), let header = JSONValue.parse(String(decoding: headerBytes, as: UTF8.self)),
            let claimsBytes = Base64.decode(String(parts[1]), .url), let claims = JSONValue.parse(String(decoding: claimsBytes, as: UTF8.self)),
            let signature = Base64.decode(String(parts[2]), .url)
        else { throw DecodeError("a JWT's parts are base64url JSON") }
        guard header["typ"]?.stringValue?.lowercased() == "jwt" else { throw DecodeError("not a JWT (typ)") }
        guard let algorithm = header["alg"]?.stringValue, algorithm == "ed25519" || algorithm == "ed25519-nkey" else {
            throw DecodeError("a NATS JWT is signed with ed25519")
        }
        guard signature.count == 64 else { throw DecodeError("an ed25519 signature is 64 bytes") }
        let nats = claims["nats"]
        // Version 1 JWTs put the kind at the top, version 2 inside "nats".
        guard let kindText = nats?["type"]?.stringValue ?? claims["type"]?.stringValue, let kind = Kind(rawValue: kindText) else {
            throw DecodeError("a JWT's type is operator, account or user")
        }
        guard let subject = claims["sub"]?.stringValue, let issuer = claims["iss"]?.stringValue else {
            throw DecodeError("a JWT names its subject and its issuer")
        }

        func strings(_ value: JSONValue?) -> [String]? {
            guard case .array(let items)? = value else { return nil }
            return items.compactMap(\.stringValue)
        }
        func permission(_ value: JSONValue?) -> (allow: [String]?, deny: [String]) {
            let allow = strings(value?["allow"]).flatMap { $0.isEmpty ? nil : $0 }
            return (allow, strings(value?["deny"]) ?? [])
        }
        var signingKeys: [String] = [], scopedSigningKeys: Set<String> = []
        if case .array(let items)? = nats?["signing_keys"] {
            // A plain key, or (accounts, version 2) a scoped key `{ "key": … }`.
            signingKeys = items.compactMap { $0.stringValue ?? $0["key"]?.stringValue }
            scopedSigningKeys = Set(items.compactMap { $0["key"]?.stringValue })
        }
        var revocations: [String: Int] = [:]
        if case .object(let members)? = nats?["revocations"] {
            for (key, value) in members { if let time = value.intValue { revocations[key] = time } }
        }
        var unenforceable: [String] = []
        // nats-server reads a limit a version 2 JWT leaves out as zero (nothing allowed);
        // version 1 JWTs had no such rule. -1 is no limit.
        let isVersion2 = (nats?["version"]?.intValue ?? 1) >= 2
        func limit(_ value: JSONValue?) -> Int? {
            let number = value?.intValue ?? (isVersion2 ? 0 : -1)
            return number < 0 ? nil : number
        }
        let limits = kind == .account ? nats?["limits"] : kind == .user ? nats : nil
        if kind != .operator {
            for name in ["subs", "payload", "data"] where limit(limits?[name]) != nil { unenforceable.append("\(name) limit") }
        }
        if kind == .account, limits?["wildcards"]?.boolValue == false || (isVersion2 && limits?["wildcards"] == nil) {
            unenforceable.append("no wildcards")
        }
        if kind == .user, let nats {
            if let sources = strings(nats["src"]), !sources.isEmpty { unenforceable.append("src") }
            if let sources = nats["src"]?.stringValue, !sources.isEmpty { unenforceable.append("src") }
            if let times = nats["times"], times != .null, times != .array([]) { unenforceable.append("times") }
            if let types = strings(nats["allowed_connection_types"]), !types.isEmpty { unenforceable.append("allowed_connection_types") }
            if let response = nats["resp"], response != .null { unenforceable.append("resp") }
        }
        return NatsJWT(
            kind: kind, subject: subject, issuer: issuer, issuerAccount: nats?["issuer_account"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 },
            name: claims["name"]?.stringValue ?? "", issuedAt: claims["iat"]?.intValue, expires: claims["exp"]?.intValue,
            notBefore: claims["nbf"]?.intValue, signingKeys: signingKeys, scopedSigningKeys: scopedSigningKeys, revocations: revocations,
            publish: permission(nats?["pub"]), subscribe: permission(nats?["sub"]),
            isBearer: nats?["bearer_token"]?.boolValue ?? false, unenforceable: unenforceable,
            connectionLimit: kind == .account ? limit(limits?["conn"]) : nil,
            // Version 1 ("ed25519") signed the claims' text alone; version 2 ("ed25519-nkey")
            // signs the header too.
            signedPart: algorithm == "ed25519" ? Array(parts[1].utf8) : Array(text.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count)),
            signature: signature)
    }

    /// Whether `now` (seconds since 1970) lies in the JWT's window of validity.
    func isCurrent(at now: Int) -> Bool {
        if let expires, expires > 0, now >= expires { return false }
        if let notBefore, notBefore > 0, now < notBefore { return false }
        return true
    }

    /// The keys this JWT's holder signs with: its own and its signing keys.
    var keys: [String] { [subject] + signingKeys }
}

/// Asks whether `signature` is the Ed25519 signature of `message` by the NATS public key
/// `publicKey` (its text form, O…, A… or U…); false for a key that does not decode.
typealias SignatureCheck = @Sendable (_ publicKey: String, _ signature: [UInt8], _ message: [UInt8]) -> Bool

/// nats-server's operator mode with a memory resolver: the trusted operators, and the account
/// JWTs the configuration preloads (`resolver: MEMORY`, `resolver_preload { key: jwt }`).
struct OperatorTrust: Sendable {
    let operators: [NatsJWT]
    /// Account public key → its JWT, each signed by a trusted operator.
    let accounts: [String: NatsJWT]

    struct Refusal: Error, CustomStringConvertible, Sendable {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Checks the operators (each self-signed) and the preloaded accounts (each signed by one of
    /// them, and filed under its own key); a configuration that fails any check is refused.
    init(operators operatorJWTs: [String], preload: [(key: String, jwt: String)], verify: SignatureCheck) throws {
        var operators: [NatsJWT] = []
        for text in operatorJWTs {
            let jwt = try NatsJWT.decode(text)
            guard jwt.kind == .operator else { throw Refusal("operator: the JWT is of an \(jwt.kind.rawValue), not an operator") }
            guard jwt.issuer == jwt.subject || jwt.signingKeys.contains(jwt.issuer) else {
                throw Refusal("operator: the JWT of \(jwt.subject) is not signed by the operator itself")
            }
            guard verify(jwt.issuer, jwt.signature, jwt.signedPart) else { throw Refusal("operator: the JWT of \(jwt.subject) has a bad signature") }
            operators.append(jwt)
        }
        guard !operators.isEmpty else { throw Refusal("operator mode needs at least one operator JWT") }
        let trusted = Set(operators.flatMap(\.keys))
        var accounts: [String: NatsJWT] = [:]
        for (key, text) in preload {
            let jwt = try NatsJWT.decode(text)
            guard jwt.kind == .account, jwt.subject == key else { throw Refusal("resolver_preload: \(key) is not the JWT of account \(key)") }
            guard trusted.contains(jwt.issuer), verify(jwt.issuer, jwt.signature, jwt.signedPart) else {
                throw Refusal("resolver_preload: the JWT of account \(key) is not signed by a trusted operator")
            }
            accounts[key] = jwt
        }
        self.operators = operators
        self.accounts = accounts
    }

    /// What a user JWT from a CONNECT, with its signature of the nonce, proves at `now`: the
    /// account it belongs to and the user's own JWT.
    func login(jwt text: String, nonce: [UInt8]?, nonceSignature: [UInt8]?, now: Int, verify: SignatureCheck) throws -> (account: String, user: NatsJWT) {
        let (account, user) = try user(jwt: text, now: now, verify: verify)
        if !user.isBearer {
            guard let nonce, let nonceSignature, verify(user.subject, nonceSignature, nonce) else {
                throw Refusal("user \(user.subject) did not sign the nonce")
            }
        }
        return (account, user)
    }

    /// Whether a user JWT is vouched for at `now` (its account, signature, times, revocations):
    /// what a login checks besides the nonce, and what a reload checks again.
    func user(jwt text: String, now: Int, verify: SignatureCheck) throws -> (account: String, user: NatsJWT) {
        let user: NatsJWT
        do { user = try NatsJWT.decode(text) } catch { throw Refusal("the user JWT does not decode: \(error)") }
        guard user.kind == .user else { throw Refusal("the JWT is of an \(user.kind.rawValue), not a user") }
        let accountKey = user.issuerAccount ?? user.issuer
        guard let account = accounts[accountKey] else { throw Refusal("account \(accountKey) is not known") }
        guard account.isCurrent(at: now) else { throw Refusal("the JWT of account \(accountKey) has expired") }
        guard account.keys.contains(user.issuer) else { throw Refusal("user \(user.subject) is not signed by account \(accountKey)") }
        guard verify(user.issuer, user.signature, user.signedPart) else { throw Refusal("the JWT of user \(user.subject) has a bad signature") }
        // A scoped key's users get the scope's permissions and limits, which docketd does not
        // apply: taking the user's own (often none) would grant what the scope withholds.
        guard !account.scopedSigningKeys.contains(user.issuer) else {
            throw Refusal("user \(user.subject) is signed by a scoped signing key of account \(accountKey), whose scope docketd cannot apply")
        }
        guard user.isCurrent(at: now) else { throw Refusal("the JWT of user \(user.subject) has expired or is not yet valid") }
        for key in [user.subject, "*"] {
            if let before = account.revocations[key], (user.issuedAt ?? 0) <= before {
                throw Refusal("user \(user.subject) is revoked")
            }
        }
        guard account.unenforceable.isEmpty else {
            throw Refusal("the JWT of account \(accountKey) restricts \(account.unenforceable.joined(separator: ", ")), which docketd cannot enforce")
        }
        guard user.unenforceable.isEmpty else {
            throw Refusal("the JWT of user \(user.subject) restricts \(user.unenforceable.joined(separator: ", ")), which docketd cannot enforce")
        }
        return (accountKey, user)
    }
}
