import DocketWire
import Testing

@Suite struct JSONTests {
    @Test func parsesConnectDocuments() {
        let json = JSONValue.parse(#"{"verbose":false,"pedantic":true,"name":"w\u00e9 \"1\"","protocol":1,"list":[1,2.5,-3e2,null]}"#)
        #expect(json?["verbose"]?.boolValue == false)
        #expect(json?["pedantic"]?.boolValue == true)
        #expect(json?["name"]?.stringValue == "wé \"1\"")
        #expect(json?["protocol"]?.numberValue == 1)
        #expect(json?["list"] == .array([.number(1), .number(2.5), .number(-300), .null]))
    }

    @Test(arguments: ["", "{", "{\"a\"}", "{\"a\":}", "[1,]", "{\"a\":1,}", "tru", "\"abc", "{} x", "\"\u{01}\""])
    func rejectsMalformedJSON(_ text: String) {
        #expect(JSONValue.parse(text) == nil)
    }

    /// A surrogate escape without its other half (what JavaScript's JSON.stringify writes for a
    /// string cut between the halves of an emoji) reads as U+FFFD, as Go's decoder, and so
    /// nats-server, reads it; the document stays valid.
    @Test(arguments: [
        (#""a\ud83d""#, "a\u{FFFD}"), (#""\ude00b""#, "\u{FFFD}b"), (#""\ud83d\u0041""#, "\u{FFFD}A"),
        (#""\ud83d\ud83d\ude00""#, "\u{FFFD}😀"), (#""\ud83d\ude00""#, "😀"), (#""\ud83d\\""#, "\u{FFFD}\\"),
    ])
    func loneSurrogatesReadAsReplacementCharacters(_ text: String, _ expected: String) {
        #expect(JSONValue.parse(text) == .string(expected))
    }

    @Test func refusesDeepNesting() {
        #expect(JSONValue.parse(String(repeating: "[", count: 10_000)) == nil)
    }

    /// Numbers come from peers: whatever they are, reading one as an integer gives a value or
    /// nil, never a trap (`Int(1e300)` and `UInt64(-1.0)` stop the process).
    @Test func integersOutOfRangeReadAsNil() throws {
        let json = try #require(JSONValue.parse(#"{"big":1e300,"neg":-1,"frac":2.9,"max":9223372036854775807,"id":18446744073709549568,"s":"7"}"#))
        #expect(json["big"]?.intValue == nil && json["big"]?.int64Value == nil && json["big"]?.uint64Value == nil)
        #expect(json["neg"]?.uint64Value == nil && json["neg"]?.intValue == -1)
        #expect(json["frac"]?.intValue == 2 && json["frac"]?.uint64Value == 2)
        // 2^63 as a double: one past Int64.max, so not an Int64, but a UInt64.
        #expect(json["max"]?.int64Value == nil && json["max"]?.uint64Value == 1 << 63)
        #expect(json["id"]?.uint64Value == 18_446_744_073_709_549_568)
        #expect(json["s"]?.intValue == nil && json["missing"]?.intValue == nil)
    }

    @Test func writerEscapes() {
        var writer = JSONObjectWriter()
        writer.add("a", "q\"\\\n\u{01}")
        writer.add("n", 5)
        writer.add("b", true)
        #expect(writer.result == #"{"a":"q\"\\\n\u0001","n":5,"b":true}"#)
        #expect(JSONValue.parse(writer.result)?["a"]?.stringValue == "q\"\\\n\u{01}")
    }

    /// Every kind of member, byte for byte as the String-built writer wrote them (stored queue
    /// records must read the same).
    @Test func writerMembersByteForByte() {
        #expect(JSONObjectWriter().result == "{}")
        var writer = JSONObjectWriter()
        writer.add("t\tab", "\r\t\u{1f}é→\u{7f}")
        writer.add("none", nil as String?)
        writer.add("count", nil as Int?)
        writer.add("neg", -42)
        writer.add("off", false)
        writer.add("half", 0.5)
        writer.add("inf", Double.infinity)
        writer.add("raw", json: "[1,2]")
        writer.add("bytes", json: Array("{}".utf8))
        let expected = #"{"t\tab":"\r\t\u001fé→\#u{7f}","none":null,"count":null,"neg":-42,"off":false,"half":0.5,"inf":null,"raw":[1,2],"bytes":{}}"#
        #expect(writer.result == expected)
        #expect(writer.resultBytes == Array(expected.utf8))
        #expect(JSONObjectWriter.quote("a\"b") == #""a\"b""#)
    }

    /// Every control byte is escaped (hex digits in lower case) and reads back as itself.
    @Test func everyControlByteIsEscapedAndReadsBack() {
        let text = String(decoding: Array(0..<0x20) + [0x22, 0x5c, 0x41], as: UTF8.self)
        let quoted = JSONObjectWriter.quote(text)
        #expect(quoted.hasPrefix(#""\u0000\u0001"#) && quoted.contains(#"\u000b\f"#) == false && quoted.contains(#"\u000b\u000c"#))
        #expect(quoted.hasSuffix(#"\u001f\"\\A""#))
        #expect(JSONValue.parse("[" + quoted + "]") == .array([.string(text)]))
    }
}

@Suite struct UnitsTests {
    @Test func durations() {
        #expect(Units.milliseconds("250ms") == 250)
        #expect(Units.milliseconds("30s") == 30_000)
        #expect(Units.milliseconds("5m") == 300_000)
        #expect(Units.milliseconds("2h") == 7_200_000)
        #expect(Units.milliseconds("7") == 7_000)
        #expect(Units.milliseconds("5x") == nil)
        #expect(Units.milliseconds("ms") == nil)
        #expect(Units.milliseconds("-5s") == nil)
        #expect(Units.milliseconds("999d") == nil)
    }

    @Test func sizes() {
        #expect(Units.bytes("4096") == 4096)
        #expect(Units.bytes("64KiB") == 65_536)
        #expect(Units.bytes("1MiB") == 1_048_576)
        #expect(Units.bytes("1mb") == 1_048_576)
        #expect(Units.bytes("2G") == 2 << 30)
        #expect(Units.bytes("12 MiB") == nil)
        #expect(Units.bytes("1099511627776") == 1 << 40)
        #expect(Units.bytes("999999999999999999") == 999_999_999_999_999_999)
        #expect(Units.bytes("9999999999999999999") == nil)
        #expect(Units.bytes("99999999999999999T") == nil)
        #expect(Units.bytes("") == nil)
    }
}

@Suite struct ByteBufferTests {
    @Test func writesEveryNumberAsDescriptionDoes() {
        // Each length of number, the numbers at either side of each power of ten, and Int.max.
        var values: [Int] = Array(0...1_000) + [Int.max, Int.max - 1]
        var power = 1
        for _ in 0..<18 {
            power *= 10
            values += [power - 1, power, power + 1, power * 9 / 10 + 55]
        }
        var random = SystemRandomNumberGenerator()
        values += (0..<2_000).map { _ in Int.random(in: 0...Int.max, using: &random) >> Int.random(in: 0...62, using: &random) }
        let buffer = ByteBuffer(capacity: 8)
        for value in values {
            buffer.appendDecimal(value)
            buffer.append(Byte.space)
        }
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == values.map { "\($0) " }.joined())
    }

    @Test func appendsAndConsumes() {
        let buffer = ByteBuffer(capacity: 16)
        buffer.append("MSG ")
        buffer.appendDecimal(0)
        buffer.append(Byte.space)
        buffer.appendDecimal(1_234_567_890)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "MSG 0 1234567890")
        buffer.consume(4)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "0 1234567890")
        buffer.append(Array(repeating: 0x61, count: 1000))
        #expect(buffer.readableCount == 1012)
        buffer.consume(1012)
        #expect(buffer.isEmpty)
    }

    @Test func encodesMessages() {
        let buffer = ByteBuffer()
        let subject = Array("foo.bar".utf8), sid = Array("9".utf8), reply = Array("r".utf8)
        let payload = Array("NATS/1.0\r\n\r\nhi".utf8)
        subject.withUnsafeBytes { subject in
            sid.withUnsafeBytes { sid in
                reply.withUnsafeBytes { reply in
                    payload.withUnsafeBytes { payload in
                        buffer.appendMsg(subject: subject, sid: sid, reply: nil, payload: payload)
                        buffer.appendHmsg(subject: subject, sid: sid, reply: reply, headerCount: 12, message: payload)
                    }
                }
            }
        }
        #expect(String(decoding: buffer.bytes, as: UTF8.self)
            == "MSG foo.bar 9 14\r\nNATS/1.0\r\n\r\nhi\r\nHMSG foo.bar 9 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
    }
}
