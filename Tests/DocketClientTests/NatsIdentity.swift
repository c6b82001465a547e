import DocketTLS
import DocketWire
import Foundation

/// NATS keys and JWTs made for a test: an operator, its accounts and their users, as nsc would
/// issue them (version 2 claims, nsc's "no limit" defaults), from fresh random Ed25519 seeds.
struct NatsIdentity {
    enum Kind: String { case `operator`, account, user }

    let kind: Kind
    let seed: [UInt8]

    static func new(_ kind: Kind) -> NatsIdentity {
        NatsIdentity(kind: kind, seed: (0..<32).map { _ in UInt8.random(in: 0...255) })
    }

    var prefix: UInt8 {
        switch kind {
        case .operator: return NKey.operatorPrefix
        case .account: return NKey.accountPrefix
        case .user: return NKey.userPrefix
        }
    }

    var publicKey: String { NKey.printedPublicKey(Ed25519.publicKey(seed: seed)!, prefix: prefix) }

    /// The printed seed ("SU…"), for a user.
    var printedSeed: String { NKey.printedUserSeed(seed) }

    static func base64url(_ bytes: [UInt8]) -> String { Base64.encode(bytes, .url, padded: false) }

    static func json(_ object: [String: Any]) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    /// nsc's defaults: -1 is no limit (a version 2 JWT that leaves a limit out means zero).
    static func defaults(_ kind: Kind) -> [String: Any] {
        switch kind {
        case .operator: return [:]
        case .account:
            return ["limits": ["subs": -1, "conn": -1, "leaf": -1, "imports": -1, "exports": -1, "data": -1, "payload": -1, "wildcards": true]]
        case .user: return ["subs": -1, "data": -1, "payload": -1]
        }
    }

    /// A JWT about `subject`, signed by this identity.
    func jwt(about subject: NatsIdentity, name: String) -> String {
        var nats = Self.defaults(subject.kind)
        nats["type"] = subject.kind.rawValue
        nats["version"] = 2
        let claims: [String: Any] = [
            "jti": Self.base64url((0..<16).map { _ in UInt8.random(in: 0...255) }), "iat": Int(Date().timeIntervalSince1970),
            "iss": publicKey, "name": name, "sub": subject.publicKey, "nats": nats,
        ]
        let signed = Self.base64url(Self.json(["typ": "JWT", "alg": "ed25519-nkey"])) + "." + Self.base64url(Self.json(claims))
        return signed + "." + Self.base64url(Ed25519.sign(Array(signed.utf8), seed: seed)!)
    }

    /// A `.creds` file's text, as nsc writes them.
    static func creds(jwt: String, user: NatsIdentity) -> String {
        "-----BEGIN NATS USER JWT-----\n\(jwt)\n------END NATS USER JWT------\n\n"
            + "************************* IMPORTANT *************************\nNKEY Seed printed below.\n\n"
            + "-----BEGIN USER NKEY SEED-----\n\(user.printedSeed)\n------END USER NKEY SEED------\n\n*************************************************************\n"
    }
}

/// An operator with one preloaded account, as a docketd configuration in operator mode.
struct OperatorSetup {
    let operatorIdentity = NatsIdentity.new(.operator)
    let account = NatsIdentity.new(.account)

    var config: String {
        """
        operator: \(operatorIdentity.jwt(about: operatorIdentity, name: "op"))
        resolver: MEMORY
        resolver_preload: {
          \(account.publicKey): "\(operatorIdentity.jwt(about: account, name: "acme"))"
        }

        """
    }

    /// A new user of the account: its `.creds` file's text.
    func userCreds(name: String = "u") -> String {
        let user = NatsIdentity.new(.user)
        return NatsIdentity.creds(jwt: account.jwt(about: user, name: name), user: user)
    }
}

/// A temporary file holding `text`, removed by `remove()`.
struct TemporaryFile {
    let path: String

    init(_ text: String, suffix: String = "") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-test-\(UUID().uuidString)\(suffix)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
