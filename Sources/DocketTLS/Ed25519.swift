import COpenSSL

/// Ed25519 signatures (RFC 8032), as NATS NKEY logins use them: here because OpenSSL does the
/// arithmetic, and this is the one module that sees OpenSSL.
public enum Ed25519 {
    public static let publicKeyLength = 32
    public static let seedLength = 32
    public static let signatureLength = 64

    /// Whether `signature` is `publicKey`'s signature of `message`. Anything malformed (a key or
    /// signature of the wrong length, a point not on the curve) is simply not valid.
    public static func isValid(signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard publicKey.count == publicKeyLength, signature.count == signatureLength else { return false }
        let verified = withKey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, publicKey, publicKey.count)) { key -> Bool? in
            withDigestContext { context in
                // Ed25519 hashes internally: no digest is named.
                guard EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1 else { return nil }
                return EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
            }
        }
        return verified == true
    }

    /// The signature of `message` by the key whose 32-byte seed (the private part an NKEY seed
    /// "S…" carries) is given; nil if OpenSSL refuses. The server only verifies; signing is for
    /// clients, tests among them.
    public static func sign(_ message: [UInt8], seed: [UInt8]) -> [UInt8]? {
        guard seed.count == seedLength else { return nil }
        return withKey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count)) { key in
            withDigestContext { context in
                guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1 else { return nil }
                var signature = [UInt8](repeating: 0, count: signatureLength)
                var length = signature.count
                guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == signatureLength else { return nil }
                return signature
            }
        }
    }

    /// The public key of the key pair a seed makes.
    public static func publicKey(seed: [UInt8]) -> [UInt8]? {
        guard seed.count == seedLength else { return nil }
        return withKey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count)) { key in
            var publicKey = [UInt8](repeating: 0, count: publicKeyLength)
            var length = publicKey.count
            guard EVP_PKEY_get_raw_public_key(key, &publicKey, &length) == 1, length == publicKeyLength else { return nil }
            return publicKey
        }
    }

    /// Runs `body` with a key OpenSSL made (nil if it refused), then frees the key. OpenSSL's
    /// error queue is per thread and shared with the TLS sessions of the same loop: a refusal
    /// here must leave nothing there for them to misreport.
    private static func withKey<Result>(_ key: OpaquePointer?, _ body: (OpaquePointer) -> Result?) -> Result? {
        defer { ERR_clear_error() }
        guard let key else { return nil }
        defer { EVP_PKEY_free(key) }
        return body(key)
    }

    private static func withDigestContext<Result>(_ body: (OpaquePointer) -> Result?) -> Result? {
        guard let context = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(context) }
        return body(context)
    }
}
