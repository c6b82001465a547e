import DocketTLS
import DocketWire

/// A NATS user's seed ("SU…", from `nk -gen user` or an nsc `.creds` file): signs the nonce of
/// the server's INFO, so the server learns the seed's holder logged in without seeing the seed.
/// Its description shows the public key only.
public struct NKeySeed: Sendable, Equatable, CustomStringConvertible {
    /// The 32-byte Ed25519 seed.
    let seed: [UInt8]
    /// The user's public key, as CONNECT's `nkey` and the server's configuration spell it ("U…").
    public let publicKey: String

    /// Reads a printed user seed; surrounding blanks and newlines (a file's last line) are ignored.
    /// Throws `badArgument` saying what is wrong with it (never quoting it).
    public init(_ printed: String) throws(DocketError) {
        let text = printed.trimmingBlanks
        let seed: [UInt8]
        do {
            seed = try NKey.userSeed(text)
        } catch {
            throw .badArgument("not a NATS user seed (SU…): \(error)")
        }
        guard let key = Ed25519.publicKey(seed: seed) else { throw .badArgument("not a NATS user seed: OpenSSL refused its key") }
        self.seed = seed
        self.publicKey = NKey.printedPublicKey(key)
    }

    /// Reads the seed from a file that holds it alone (`nk -gen user > user.nk`).
    public init(file path: String) throws(DocketError) {
        self = try parseSecretFile(path, what: "NKEY seed file") { text throws(DocketError) in try NKeySeed(text) }
    }

    /// The signature of `nonce`'s characters, in unpadded URL-safe base64, as CONNECT's `sig`.
    func sign(nonce: String) throws(DocketError) -> String {
        guard let signature = Ed25519.sign(Array(nonce.utf8), seed: seed) else {
            throw .connectFailed("signing the server's nonce failed (OpenSSL refused the seed)")
        }
        return Base64.encode(signature, .url, padded: false)
    }

    public var description: String { "the NKEY seed of \(publicKey)" }
}

extension DocketError {
    /// A `badArgument`'s text without its prefix, to wrap in another.
    var badArgumentText: String {
        if case .badArgument(let text) = self { return text }
        return description
    }
}

extension String {
    /// Without the spaces, tabs, carriage returns and newlines around it.
    var trimmingBlanks: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}
