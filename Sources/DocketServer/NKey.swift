/// NATS's printable public keys ("nkeys", as `nk -gen user -pubout` prints them): RFC 4648
/// base32 without padding of one prefix byte (its top five bits spell the key's kind: 'U' for a
/// user), the 32-byte Ed25519 key, and a CRC-16/XMODEM of those 33 bytes, little-endian.
public enum NKey {
    /// The prefix byte of a user's key: 'U' is the 20th letter of the base32 alphabet.
    static let userPrefix: UInt8 = 20 << 3
    /// 35 bytes in base32: 280 bits, exactly 56 characters.
    static let printedLength = 56

    /// The Ed25519 public key that a user's printed key ("U…") stands for; nil for anything else
    /// (another kind of key, a seed, a typo the checksum catches). The prefix byte must be exact:
    /// the low three bits that nats' own decoder ignores would give one key several spellings.
    public static func userPublicKey(_ printed: String) -> [UInt8]? {
        publicKey(printed, prefixes: [userPrefix])
    }

    /// The prefix bytes of an operator's ('O') and an account's ('A') keys, which sign JWTs.
    static let operatorPrefix: UInt8 = 14 << 3
    static let accountPrefix: UInt8 = 0

    /// The Ed25519 public key of a printed key whose prefix byte is one of `prefixes`.
    static func publicKey(_ printed: String, prefixes: Set<UInt8>) -> [UInt8]? {
        guard printed.utf8.count == printedLength, let raw = Base32.decode(printed), raw.count == 35, prefixes.contains(raw[0]) else {
            return nil
        }
        let checksum = UInt16(raw[33]) | UInt16(raw[34]) << 8
        guard CRC16.xmodem(raw[..<33]) == checksum else { return nil }
        return Array(raw[1..<33])
    }
}

/// RFC 4648 base32 (upper case `A`–`Z`, `2`–`7`), without padding, decoding only.
enum Base32 {
    /// nil for a character outside the alphabet, a length no byte string encodes to, or unused
    /// trailing bits that are not zero (which would give one byte string several spellings).
    static func decode(_ text: String) -> [UInt8]? {
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
}

/// CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection, no final XOR.
enum CRC16 {
    static func xmodem<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt16 {
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
