@testable import DocketServer
import Foundation
import Testing

/// The claims and the chain of trust of NATS JWTs, on JWTs made here. Signatures are stand-ins
/// (a signer's key, padded to 64 bytes), so these tests are about which key must have signed
/// what; real Ed25519 signatures are checked end to end in Tests/interop/test_nats_jwt.py.
@Suite struct NatsJWTTests {
    static let operatorKey = "OPERATOR1", accountKey = "ACCOUNT1", signingKey = "ACCOUNTSIGNER", userKey = "USER1"

    static func fakeSignature(_ key: String) -> [UInt8] { Array((key + String(repeating: "-", count: 64)).utf8.prefix(64)) }
    static let verify: SignatureCheck = { key, signature, message in !message.isEmpty && signature == fakeSignature(key) }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A JWT whose claims are `claims`, "signed" by `signer`.
    static func jwt(_ claims: [String: Any], signer: String, header: [String: Any] = ["typ": "JWT", "alg": "ed25519-nkey"]) -> String {
        let head = base64url(Array(try! JSONSerialization.data(withJSONObject: header)))
        let body = base64url(Array(try! JSONSerialization.data(withJSONObject: claims)))
        return "\(head).\(body).\(base64url(fakeSignature(signer)))"
    }

    /// What nsc writes when told nothing: no limits (-1), which a version 2 JWT must say.
    nonisolated(unsafe) static let unlimited: [String: [String: Any]] = [
        "account": ["limits": ["subs": -1, "conn": -1, "data": -1, "payload": -1, "wildcards": true]],
        "user": ["subs": -1, "data": -1, "payload": -1],
        "operator": [:],
    ]

    static func claims(_ kind: String, sub: String, iss: String, nats: [String: Any] = [:], iat: Int = 1_000) -> [String: Any] {
        let body = nats.merging(unlimited[kind]!) { given, _ in given }.merging(["type": kind, "version": 2]) { given, _ in given }
        return ["sub": sub, "iss": iss, "iat": iat, "name": "n", "jti": "x", "nats": body]
    }

    static let operatorJWT = jwt(claims("operator", sub: operatorKey, iss: operatorKey), signer: operatorKey)

    static func trust(account nats: [String: Any] = ["signing_keys": [signingKey]]) throws -> OperatorTrust {
        let account = jwt(claims("account", sub: accountKey, iss: operatorKey, nats: nats), signer: operatorKey)
        return try OperatorTrust(operators: [operatorJWT], preload: [(accountKey, account)], verify: verify)
    }

    func login(_ user: String, trust: OperatorTrust? = nil, signedNonce: Bool = true, now: Int = 2_000) throws -> (account: String, user: NatsJWT) {
        let nonce = Array("nonce".utf8)
        return try (trust ?? Self.trust()).login(
            jwt: user, nonce: nonce, nonceSignature: signedNonce ? Self.fakeSignature(Self.userKey) : Self.fakeSignature("someone"),
            now: now, verify: Self.verify)
    }

    @Test func aUserOfAPreloadedAccountLogsIn() throws {
        let user = Self.jwt(
            Self.claims("user", sub: Self.userKey, iss: Self.accountKey, nats: ["pub": ["allow": ["a.>"]], "sub": ["deny": ["b"]]]),
            signer: Self.accountKey)
        let (account, jwt) = try login(user)
        #expect(account == Self.accountKey)
        #expect(jwt.subject == Self.userKey)
        #expect(jwt.publish.allow == ["a.>"] && jwt.publish.deny.isEmpty)
        #expect(jwt.subscribe.allow == nil && jwt.subscribe.deny == ["b"])
    }

    @Test func anAccountSigningKeySignsForItsAccount() throws {
        let user = Self.jwt(
            Self.claims("user", sub: Self.userKey, iss: Self.signingKey, nats: ["issuer_account": Self.accountKey]), signer: Self.signingKey)
        #expect(try login(user).account == Self.accountKey)
        // A key the account does not list may not.
        let stranger = Self.jwt(
            Self.claims("user", sub: Self.userKey, iss: "OTHERKEY", nats: ["issuer_account": Self.accountKey]), signer: "OTHERKEY")
        #expect(throws: OperatorTrust.Refusal.self) { try login(stranger) }
        // A scoped signing key ({ "kind": "user_scope", "key": …, "template": … }) would give its
        // users the scope's permissions, which docketd does not apply: refused, not ignored.
        let scoped = try Self.trust(account: ["signing_keys": [["kind": "user_scope", "key": Self.signingKey, "template": ["pub": ["allow": ["a"]]]]]])
        #expect(throws: OperatorTrust.Refusal.self) { try login(user, trust: scoped) }
    }

    @Test func versionOneJWTsNameTheirKindAtTheTop() throws {
        var claims = Self.claims("user", sub: Self.userKey, iss: Self.accountKey)
        claims["type"] = "user"
        claims["nats"] = ["pub": [:], "sub": [:]]
        let jwt = try NatsJWT.decode(Self.jwt(claims, signer: Self.accountKey, header: ["typ": "jwt", "alg": "ed25519"]))
        #expect(jwt.kind == .user && jwt.publish.allow == nil && jwt.subscribe.allow == nil)
    }

    @Test func refusals() throws {
        func user(_ nats: [String: Any] = [:], iss: String = Self.accountKey, signer: String = Self.accountKey, top: [String: Any] = [:], iat: Int = 1_000) -> String {
            Self.jwt(Self.claims("user", sub: Self.userKey, iss: iss, nats: nats, iat: iat).merging(top) { _, b in b }, signer: signer)
        }
        let refused: [(String, String)] = [
            (user(signer: "FORGER"), "bad signature"),
            (user(iss: "UNKNOWNACCOUNT", signer: "UNKNOWNACCOUNT"), "not known"),
            (user(top: ["exp": 1_500]), "expired"),
            (user(top: ["nbf": 3_000]), "not yet valid"),
            (user(["src": ["10.0.0.0/8"]]), "cannot enforce"),
            (user(["allowed_connection_types": ["WEBSOCKET"]]), "cannot enforce"),
            (user(["times": [["start": "08:00:00", "end": "17:00:00"]]]), "cannot enforce"),
            (user(["resp": ["max": 1]]), "cannot enforce"),
            (Self.jwt(Self.claims("account", sub: Self.accountKey, iss: Self.operatorKey), signer: Self.operatorKey), "not a user"),
            ("not.a.jwt", "does not decode"),
            ("e30.e30", "does not decode"),
        ]
        for (jwt, words) in refused {
            #expect(throws: OperatorTrust.Refusal.self, "\(words)") { try login(jwt) }
            do { _ = try login(jwt) } catch { #expect("\(error)".contains(words), "\(error)") }
        }
        // The nonce must be signed by the user's own key, unless the JWT is a bearer token.
        #expect(throws: OperatorTrust.Refusal.self) { try login(user(), signedNonce: false) }
        #expect(try login(user(["bearer_token": true]), signedNonce: false).account == Self.accountKey)
    }

    /// Limits docketd does not enforce refuse the login; so does a version 2 JWT that leaves
    /// them out, which nats-server reads as zero. Only an account's connection limit is kept.
    @Test func limitsDocketdCannotEnforceRefuseTheLogin() throws {
        let user = Self.jwt(Self.claims("user", sub: Self.userKey, iss: Self.accountKey), signer: Self.accountKey)
        for limits: [String: Any] in [
            ["subs": 10, "conn": -1, "data": -1, "payload": -1, "wildcards": true],
            ["subs": -1, "conn": -1, "data": -1, "payload": 1024, "wildcards": true],
            ["subs": -1, "conn": -1, "data": -1, "payload": -1, "wildcards": false],
            ["conn": -1],
        ] {
            let strict = try Self.trust(account: ["limits": limits])
            #expect(throws: OperatorTrust.Refusal.self, "\(limits)") { try login(user, trust: strict) }
        }
        let capped = try Self.trust(account: ["limits": ["subs": -1, "conn": 3, "data": -1, "payload": -1, "wildcards": true]])
        #expect(try login(user, trust: capped).account == Self.accountKey)
        #expect(capped.accounts[Self.accountKey]?.connectionLimit == 3)
        #expect(try Self.trust().accounts[Self.accountKey]?.connectionLimit == nil)
        // A version 2 user without limits is refused; a version 1 user without them is not.
        var bare = Self.claims("user", sub: Self.userKey, iss: Self.accountKey)
        bare["nats"] = ["type": "user", "version": 2]
        #expect(throws: OperatorTrust.Refusal.self) { try login(Self.jwt(bare, signer: Self.accountKey)) }
        bare["nats"] = ["pub": [:], "sub": [:]]
        bare["type"] = "user"
        #expect(try login(Self.jwt(bare, signer: Self.accountKey)).account == Self.accountKey)
    }

    @Test func revokedUsersAreRefused() throws {
        let revoking = try Self.trust(account: ["revocations": [Self.userKey: 1_500]])
        let old = Self.jwt(Self.claims("user", sub: Self.userKey, iss: Self.accountKey, iat: 1_000), signer: Self.accountKey)
        let reissued = Self.jwt(Self.claims("user", sub: Self.userKey, iss: Self.accountKey, iat: 1_600), signer: Self.accountKey)
        #expect(throws: OperatorTrust.Refusal.self) { try login(old, trust: revoking) }
        #expect(try login(reissued, trust: revoking).account == Self.accountKey)
        let everyone = try Self.trust(account: ["revocations": ["*": 1_500]])
        #expect(throws: OperatorTrust.Refusal.self) { try login(old, trust: everyone) }
    }

    @Test func theConfigurationsChainIsCheckedAtStart() throws {
        let account = Self.jwt(Self.claims("account", sub: Self.accountKey, iss: Self.operatorKey), signer: Self.operatorKey)
        // An operator JWT signed by someone else, an account filed under another key, an
        // account signed by an operator that is not trusted: each refuses the configuration.
        let forgedOperator = Self.jwt(Self.claims("operator", sub: Self.operatorKey, iss: Self.operatorKey), signer: "FORGER")
        #expect(throws: OperatorTrust.Refusal.self) { try OperatorTrust(operators: [forgedOperator], preload: [], verify: Self.verify) }
        #expect(throws: OperatorTrust.Refusal.self) {
            try OperatorTrust(operators: [Self.operatorJWT], preload: [("ACCOUNT2", account)], verify: Self.verify)
        }
        let foreign = Self.jwt(Self.claims("account", sub: Self.accountKey, iss: "OPERATOR2"), signer: "OPERATOR2")
        #expect(throws: OperatorTrust.Refusal.self) {
            try OperatorTrust(operators: [Self.operatorJWT], preload: [(Self.accountKey, foreign)], verify: Self.verify)
        }
        #expect(throws: OperatorTrust.Refusal.self) { try OperatorTrust(operators: [], preload: [], verify: Self.verify) }
        #expect(try OperatorTrust(operators: [Self.operatorJWT], preload: [(Self.accountKey, account)], verify: Self.verify).accounts.count == 1)
    }
}
