@testable import DocketServer
import DocketWire
import DocketTLS
import Testing

/// The pure parts of NKEY logins: printed keys (base32, CRC-16), base64 in both alphabets, and
/// Ed25519 through OpenSSL. Vectors made with the `nkeys` Python package and nats.py's tests.
@Suite struct NKeyTests {
    /// nats.py's nats-core test seed and the public key its server_auth_nkey.conf names.
    static let seed = "SUAEIV5COV7ADQZE52WTYHVJQRV7WKJE5J7IBBJGATJTUUT2LVFGVXDPRQ"
    static let publicKey = "UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCX"
    static let rawPublicKey = "401466fe964a051d5a51a851fa07eeca301fb0a88fa8f589595e4ae016d6a168"
    static let rawSeed = "4457a2757e01c324eead3c1ea9846bfb2924ea7e80852604d33a527a5d4a6adc"

    @Test func crc16XmodemOfTheCheckString() {
        #expect(CRC16.xmodem(Array("123456789".utf8)) == 0x31C3)
        #expect(CRC16.xmodem([UInt8]()) == 0)
    }

    @Test func base32DecodesRFC4648Vectors() {
        #expect(Base32.decode("") == [])
        #expect(Base32.decode("MY") == Array("f".utf8))
        #expect(Base32.decode("MZXW6YTB") == Array("fooba".utf8))
        #expect(Base32.decode("MZXW6YTBOI") == Array("foobar".utf8))
        #expect(Base32.decode("MZXW6YTBOI======") == nil)  // nkeys are unpadded
        #expect(Base32.decode("mzxw6ytboi") == nil)  // and upper case
        #expect(Base32.decode("MZ") == nil)  // trailing bits that are not zero
        #expect(Base32.decode("M") == nil)  // no byte string is 5 bits long
        #expect(Base32.decode("MZXW6YTBO1") == nil)  // 1 is not in the alphabet
    }

    @Test func aUserKeyDecodesToItsEd25519Key() {
        #expect(NKey.userPublicKey(Self.publicKey) == hex(Self.rawPublicKey))
        #expect(NKey.userPublicKey("UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK") == Array(0..<32).map(UInt8.init).publicKey)
    }

    @Test(arguments: [
        "",
        "U",
        String(NKeyTests.publicKey.dropLast()),  // one character short
        NKeyTests.publicKey + "A",  // one too many
        "UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQCY",  // checksum off by one
        "UBABIZX6SZFAKHK2KGUFD6QH53FDAH5QVCH2R5MJLFPEVYAW22QWQQC8",  // not base32
        "ubabizx6szfakhk2kgufd6qh53fdah5qvch2r5mjlfpevyaw22qwqqcx",  // lower case
        "AAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5OICT",  // an account's key
        NKeyTests.seed,  // a seed, never a public key
        String(repeating: "U", count: 100_000),
    ])
    func anythingElseIsNoUserKey(_ text: String) {
        #expect(NKey.userPublicKey(text) == nil)
    }

    @Test func base64BothAlphabetsWithOrWithoutPadding() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0x00, 0x10]
        #expect(Base64.encode(bytes) == "+/+/ABA=")
        #expect(Base64.encode(bytes, .url, padded: false) == "-_-_ABA")
        #expect(Base64.decode("-_-_ABA", .url) == bytes)
        #expect(Base64.decode("-_-_ABA=", .url) == bytes)
        #expect(Base64.decode("+/+/ABA=") == bytes)
        #expect(Base64.decode("-_-_ABA") == nil)
        #expect(Base64.decode("+/+/ABA=", .url) == nil)
        #expect(Base64.encode(Array("any carnal pleasure.".utf8)) == "YW55IGNhcm5hbCBwbGVhc3VyZS4=")
    }

    @Test func aNonceIsFifteenURLSafeCharactersAndNeverRepeats() {
        let nonces = (0..<1000).map { _ in Server.makeNonce() }
        #expect(nonces.allSatisfy { $0.count == 15 && Base64.decode(String(decoding: $0, as: UTF8.self), .url)?.count == 11 })
        #expect(Set(nonces).count == nonces.count)
    }

    @Test func ed25519SignsAndVerifiesWithTheSeedsKey() throws {
        let seed = hex(Self.rawSeed)
        #expect(Ed25519.publicKey(seed: seed) == hex(Self.rawPublicKey))
        let nonce = Array("abcdefghijklmno".utf8)
        let signature = try #require(Ed25519.sign(nonce, seed: seed))
        // What the Python nkeys package signs for the same seed and nonce (Ed25519 is deterministic).
        #expect(Base64.encode(signature, .url, padded: false) == "dEpa5zeb3fek19YxkFFqJEftcWfizvkGtelTRsBYpgn-6ju9c7JscQT2Riludy_LZzQRV7B2P9v8e553HcMFBw")
        #expect(Ed25519.isValid(signature: signature, of: nonce, publicKey: hex(Self.rawPublicKey)))
        var tampered = signature
        tampered[10] ^= 1
        #expect(!Ed25519.isValid(signature: tampered, of: nonce, publicKey: hex(Self.rawPublicKey)))
        #expect(!Ed25519.isValid(signature: signature, of: Array("abcdefghijklmnp".utf8), publicKey: hex(Self.rawPublicKey)))
        #expect(!Ed25519.isValid(signature: Array(signature.dropLast()), of: nonce, publicKey: hex(Self.rawPublicKey)))
        #expect(!Ed25519.isValid(signature: signature + [0], of: nonce, publicKey: hex(Self.rawPublicKey)))
        #expect(!Ed25519.isValid(signature: signature, of: nonce, publicKey: Array(repeating: 0xFF, count: 32)))
        #expect(!Ed25519.isValid(signature: signature, of: nonce, publicKey: []))
    }

    func hex(_ text: String) -> [UInt8] {
        stride(from: 0, to: text.count, by: 2).map { offset in
            let start = text.index(text.startIndex, offsetBy: offset)
            return UInt8(text[start..<text.index(start, offsetBy: 2)], radix: 16)!
        }
    }
}

extension Array where Element == UInt8 {
    /// The Ed25519 public key of this seed.
    fileprivate var publicKey: [UInt8]? { Ed25519.publicKey(seed: self) }
}
