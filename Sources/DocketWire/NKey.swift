/// NATS's printable keys ("nkeys", as `nk -gen user -pubout` prints them): RFC 4648 base32
/// without padding of one prefix byte (its top five bits spell the key's kind: 'U' for a user),
/// the 32-byte Ed25519 key, and a CRC-16/XMODEM of those 33 bytes, little-endian. A seed ("SU…")
/// spends two prefix bytes instead: 'S', then the kind of key it makes. The server reads public
/// keys; clients read seeds and print the public key they make.
public enum NKey {
    /// The prefix byte of a user's key: 'U' is the 20th letter of the base32 alphabet.
    public static let userPrefix: UInt8 = 20 << 3
    /// The prefix bytes of an operator's ('O') and an account's ('A') keys, which sign JWTs.
    public static let operatorPrefix: UInt8 = 14 << 3
    public static let accountPrefix: UInt8 = 0
    /// 'S', the top five bits of a seed's first byte.
    static let seedPrefix: UInt8 = 18 << 3
    /// 35 bytes in base32: 280 bits, exactly 56 characters.
    static let printedLength = 56
    /// 36 bytes in base32: 288 bits, 58 characters (the last two bits zero).
    static let printedSeedLength = 58

    /// The Ed25519 public key that a user's printed key ("U…") stands for; nil for anything else
    /// (another kind of key, a seed, a typo the checksum catches). The prefix byte must be exact:
    /// the low three bits that nats' own decoder ignores would give one key several spellings.
    public static func userPublicKey(_ printed: String) -> [UInt8]? {
        publicKey(printed, prefixes: [userPrefix])
    }

    /// The Ed25519 public key of a printed key whose prefix byte is one of `prefixes`.
    public static func publicKey(_ printed: String, prefixes: Set<UInt8>) -> [UInt8]? {
        guard printed.utf8.count == printedLength, let raw = Base32.decode(printed), raw.count == 35, prefixes.contains(raw[0]) else {
            return nil
        }
        let checksum = UInt16(raw[33]) | UInt16(raw[34]) << 8
        guard CRC16.xmodem(raw[..<33]) == checksum else { return nil }
        return Array(raw[1..<33])
    }

    /// A public key as nats-server's configuration and CONNECT's `nkey` spell it ("U…" for a
    /// user's, the default).
    public static func printedPublicKey(_ publicKey: [UInt8], prefix: UInt8 = userPrefix) -> String {
        printed([prefix] + publicKey)
    }

    /// The 32-byte Ed25519 seed of a printed user seed ("SU…", as `nk -gen user` and nsc's
    /// `.creds` files hold it). Strict, as `userPublicKey` is: the second prefix byte's unused
    /// bits must be zero.
    public static func userSeed(_ printed: String) throws(SeedError) -> [UInt8] {
        guard printed.utf8.count == printedSeedLength else {
            throw SeedError("it is \(printed.utf8.count) characters long, and a seed is \(printedSeedLength)")
        }
        guard let raw = Base32.decode(printed), raw.count == 36 else {
            throw SeedError("it is not base32 (A-Z and 2-7 only)")
        }
        let checksum = UInt16(raw[34]) | UInt16(raw[35]) << 8
        guard CRC16.xmodem(raw[..<34]) == checksum else { throw SeedError("its checksum does not match (a typo, or a truncated copy)") }
        guard raw[0] & 0xF8 == seedPrefix else { throw SeedError("it is not a seed (a seed starts with S)") }
        guard raw[0] & 0x07 == userPrefix >> 5, raw[1] == (userPrefix & 0x1F) << 3 else {
            throw SeedError("it is not a user's seed (SU…): it is another kind of key's")
        }
        return Array(raw[2..<34])
    }

    /// Why a printed seed was refused; never holds the seed itself.
    public struct SeedError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The printed form of `raw` (prefix bytes and key) with its checksum appended.
    static func printed(_ raw: [UInt8]) -> String {
        let checksum = CRC16.xmodem(raw)
        return Base32.encode(raw + [UInt8(checksum & 0xFF), UInt8(checksum >> 8)])
    }

    /// A user's printed seed, from its 32-byte Ed25519 seed: what `nk -gen user` prints.
    public static func printedUserSeed(_ seed: [UInt8]) -> String {
        printed([seedPrefix | userPrefix >> 5, (userPrefix & 0x1F) << 3] + seed)
    }
}

/// RFC 4648 base32 (upper case `A`–`Z`, `2`–`7`), without padding.
public enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// nil for a character outside the alphabet, a length no byte string encodes to, or unused
    /// trailing bits that are not zero (which would give one byte string several spellings).
    public static func decode(_ text: String) -> [UInt8]? {
        var bits: UInt32 = 0
        var count = 0
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 5 / 8)
        for char in text.utf8 {
            let value: UInt32
            switch char {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(char - UInt8(ascii: "A"))
            case UInt8(ascii: "2")...UInt8(ascii: "7"): value = UInt32(char - UInt8(ascii: "2")) + 26
            default: return nil
            }
            bits = (bits << 5 | value) & 0xFFFF
            count += 5
            if count >= 8 {
                count -= 8
                out.append(UInt8((bits >> UInt32(count)) & 0xFF))
            }
        }
        guard count < 5, bits & ((1 << UInt32(count)) - 1) == 0 else { return nil }
        return out
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        var bits: UInt32 = 0
        var count = 0
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        for byte in bytes {
            bits = (bits << 8 | UInt32(byte)) & 0xFFFF
            count += 8
            while count >= 5 {
                count -= 5
                out.append(alphabet[Int((bits >> UInt32(count)) & 31)])
            }
        }
        if count > 0 { out.append(alphabet[Int((bits << UInt32(5 - count)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection, no final XOR.
public enum CRC16 {
    public static func xmodem<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}
