import DocketDeflate
import Testing

/// Raw deflate as permessage-deflate carries it, on bytes these tests make.
@Suite struct RawDeflateTests {
    static func inflate(_ inflater: RawInflater, _ bytes: [UInt8], chunk: Int = .max, limit: Int = 1 << 20) throws -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        repeat {
            let end = min(bytes.count, start + min(chunk, bytes.count - start))
            try bytes[start..<end].withUnsafeBytes { (piece) throws(DeflateError) in
                try inflater.decompress(piece, endOfMessage: end == bytes.count, limit: limit - out.count) { out += $0 }
            }
            start = end
        } while start < bytes.count
        return out
    }

    @Test(arguments: [1, 7, 4096])
    func messagesRoundTripInAnySplit(chunk: Int) throws {
        let deflater = try RawDeflater()
        let inflater = try RawInflater()
        for message in ["PUB foo 5\r\nhello\r\n", String(repeating: "MSG a 1 3\r\nabc\r\n", count: 5000)] {
            let compressed = Array(message.utf8).withUnsafeBytes { deflater.compressMessage($0, forgetHistory: false) }
            #expect(compressed.count < message.utf8.count + 16)
            #expect(!compressed.suffix(4).elementsEqual([0, 0, 0xFF, 0xFF]))
            #expect(try Self.inflate(inflater, compressed, chunk: chunk) == Array(message.utf8))
        }
    }

    /// RFC 7692 7.2.3.1's example: "Hello" compressed, with the sender's context.
    @Test func theRFCExampleDecompresses() throws {
        #expect(try Self.inflate(try RawInflater(), [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Array("Hello".utf8))
        // A message ending in a final block (BFINAL set): the next one starts a new stream.
        let inflater = try RawInflater()
        #expect(try Self.inflate(inflater, [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Array("Hello".utf8))
        #expect(try Self.inflate(inflater, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Array("Hello".utf8))
    }

    @Test func aBombIsRefusedAtItsLimit() throws {
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        let compressed = try zeros.withUnsafeBytes { try RawDeflater().compressMessage($0, forgetHistory: true) }
        #expect(compressed.count < 2048)
        #expect(throws: DeflateError.self) { try Self.inflate(try RawInflater(), compressed, limit: 64 << 10) }
    }

    @Test func garbageIsABrokenStream() throws {
        #expect(throws: DeflateError.self) { try Self.inflate(try RawInflater(), [0xFF, 0xFF, 0xFF, 0xFF, 0x00]) }
    }
}
