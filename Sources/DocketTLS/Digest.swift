import COpenSSL

/// Message digests from OpenSSL, for protocols that name one (the WebSocket handshake's
/// `Sec-WebSocket-Accept` is a SHA-1): this module is the one that sees OpenSSL.
public enum Digest {
    /// The 20-byte SHA-1 of `bytes`. SHA-1 is broken for signatures; the WebSocket handshake
    /// uses it only to prove that a server read the request, which it still does.
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let status = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha1(), nil)
        }
        precondition(status == 1 && length == 20, "OpenSSL could not compute a SHA-1")
        return digest
    }
}
