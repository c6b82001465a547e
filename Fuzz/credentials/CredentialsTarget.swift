@testable import DocketServer
import DocketWire

/// libFuzzer's entry point for what a client sends to log in with a key: the `nkey`, `sig` and
/// `jwt` of a CONNECT (read before anyone is authenticated) and the seeds and keys of the
/// clients' configuration. The first byte picks what the rest is read as.
///
/// Properties: nothing traps; a key, seed or base64 text that decodes prints back to itself
/// (each has one spelling, so a key cannot pass a check under another name); base64 round-trips
/// its bytes; a JWT that decodes
/// signs a prefix of its own text, and its checks against a trust of made-up keys end in a
/// verdict, with no signature ever accepted by a verifier that accepts none.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size > 0, let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data + 1, count: size - 1), as: UTF8.self)
    switch data[0] % 4 {
    case 0:
        if let key = NKey.userPublicKey(text) {
            if key.count != 32 { violation("a user key of \(key.count) bytes") }
            if NKey.printedPublicKey(key) != text { violation("user key \(text) prints back as \(NKey.printedPublicKey(key))") }
        }
        for prefix: UInt8 in [0, 14 << 3, 20 << 3] {
            if let key = NKey.publicKey(text, prefixes: [prefix]), NKey.printedPublicKey(key, prefix: prefix) != text {
                violation("key \(text) prints back differently")
            }
        }
    case 1:
        if let seed = try? NKey.userSeed(text) {
            if seed.count != 32 { violation("a seed of \(seed.count) bytes") }
            if NKey.printedUserSeed(seed) != text { violation("seed prints back differently") }
        }
        if let bytes = Base32.decode(text), Base32.encode(bytes) != text { violation("base32 \(text) encodes back differently") }
    case 2:
        // Base64 takes padding or none, so only bytes → text → bytes must hold.
        for alphabet in [Base64.Alphabet.standard, .url] {
            guard let bytes = Base64.decode(text, alphabet) else { continue }
            for padded in [true, false] where Base64.decode(Base64.encode(bytes, alphabet, padded: padded), alphabet) != bytes {
                violation("base64 round trip changed \(bytes)")
            }
        }
    default:
        guard let jwt = try? NatsJWT.decode(text) else { return 0 }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let headerAndClaims = Array(text.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        if jwt.signedPart != headerAndClaims && jwt.signedPart != Array(parts[1].utf8) {
            violation("a JWT signs bytes that are not its own header and claims, nor its claims")
        }
        if jwt.signature.count != 64 { violation("a signature of \(jwt.signature.count) bytes") }
        // A trust whose verifier accepts nothing can never admit anyone.
        let never: SignatureCheck = { _, _, _ in false }
        if let trust = try? OperatorTrust(operators: [text], preload: [(jwt.subject, text)], verify: never) {
            violation("an operator trusted with a verifier that accepts nothing: \(trust.operators.count)")
        }
        // Every signature accepted: the checks of the claims alone still end in a verdict.
        let always: SignatureCheck = { _, _, _ in true }
        if let trust = try? OperatorTrust(operators: [text], preload: [], verify: always) {
            _ = try? trust.login(jwt: text, nonce: [1], nonceSignature: nil, now: 1_800_000_000, verify: always)
        }
    }
    return 0
}

func violation(_ message: String) -> Never {
    fatalError("property broken: \(message)")
}
