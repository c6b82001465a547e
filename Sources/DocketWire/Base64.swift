/// RFC 4648 base64 in its two alphabets: standard (`+`, `/`) for HTTP basic authentication,
/// URL-safe (`-`, `_`) for the NKEY nonce and the signature a client returns for it.
public enum Base64 {
    public enum Alphabet: Sendable {
        case standard, url

        var symbols: [UInt8] {
            Array(("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + (self == .standard ? "+/" : "-_")).utf8)
        }
    }

    /// Decodes leniently about padding (`=` is skipped wherever it is, and may be missing):
    /// what is decoded is checked afterwards (a password compared, a signature verified).
    public static func decode(_ text: String, _ alphabet: Alphabet = .standard) -> [UInt8]? {
        let (sixtyTwo, sixtyThree) = alphabet == .standard ? (UInt8(ascii: "+"), UInt8(ascii: "/")) : (UInt8(ascii: "-"), UInt8(ascii: "_"))
        var bits: UInt32 = 0
        var count = 0
        var out: [UInt8] = []
        for char in text.utf8 {
            let value: UInt32
            switch char {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(char - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(char - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(char - UInt8(ascii: "0")) + 52
            case sixtyTwo: value = 62
            case sixtyThree: value = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            bits = bits << 6 | value
            count += 6
            if count >= 8 {
                count -= 8
                out.append(UInt8((bits >> UInt32(count)) & 0xFF))
            }
        }
        return out
    }

    /// Encodes with `=` padding (the dashboard's payload previews), or without it (the NKEY
    /// nonce, as nats-server writes it).
    public static func encode(_ bytes: [UInt8], _ alphabet: Alphabet = .standard, padded: Bool = true) -> String {
        let symbols = alphabet.symbols
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var group = UInt32(0)
            for (offset, byte) in chunk.enumerated() { group |= UInt32(byte) << UInt32(16 - 8 * offset) }
            for position in 0...chunk.count { out.append(symbols[Int(group >> UInt32(18 - 6 * position)) & 63]) }
            if padded { out.append(contentsOf: repeatElement(UInt8(ascii: "="), count: 3 - chunk.count)) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
