/// The Redis serialization protocol (RESP2), as much as the benchmarks speak: commands are
/// arrays of bulk strings; replies are read one value header at a time, in place.
enum RESP {
    static let crlf: [UInt8] = [0x0D, 0x0A]

    /// One value from the server. An array yields only its header; its elements follow as
    /// values of their own. Buffers point into the receive buffer, valid until consumed.
    enum Value {
        case simple(UnsafeRawBufferPointer)
        case error(UnsafeRawBufferPointer)
        case integer(Int)
        case bulk(UnsafeRawBufferPointer)
        /// `$-1` or `*-1`: what a blocking command answers when it times out.
        case null
        case array(count: Int)
    }

    /// A command as RESP: `*<n>` then each argument as a bulk string.
    static func command(_ arguments: [String]) -> [UInt8] {
        var bytes = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            bytes += Array("$\(argument.utf8.count)\r\n".utf8) + Array(argument.utf8) + crlf
        }
        return bytes
    }

    /// Appends the header of a bulk string of `length` bytes, whose bytes and CRLF follow.
    static func appendBulkHeader(length: Int, to output: inout OutputBuffer) {
        output.append(dollar)
        output.appendDecimal(length)
        output.append(crlf)
    }

    private static let dollar: [UInt8] = [UInt8(ascii: "$")]

    /// The first complete value in `bytes` and the bytes it took; nil if it is not all there.
    /// - Throws: if the bytes are not RESP.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> (value: Value, length: Int)? {
        guard let (line, lineLength) = RawText.line(in: bytes) else { return nil }
        guard let type = line.first else { throw BenchError("an empty line where a RESP value should be") }
        let rest = UnsafeRawBufferPointer(rebasing: line[1...])
        switch type {
        case UInt8(ascii: "+"): return (.simple(rest), lineLength)
        case UInt8(ascii: "-"): return (.error(rest), lineLength)
        case UInt8(ascii: ":"):
            guard let value = RawText.integer(rest) else { break }
            return (.integer(value), lineLength)
        case UInt8(ascii: "$"):
            guard let size = RawText.integer(rest) else { break }
            if size < 0 { return (.null, lineLength) }
            let length = lineLength + size + 2
            guard bytes.count >= length else { return nil }
            guard bytes[length - 2] == 0x0D, bytes[length - 1] == 0x0A else {
                throw BenchError("a RESP bulk string of \(size) bytes is not followed by CRLF")
            }
            return (.bulk(UnsafeRawBufferPointer(rebasing: bytes[lineLength..<(length - 2)])), length)
        case UInt8(ascii: "*"):
            guard let count = RawText.integer(rest) else { break }
            return (count < 0 ? .null : .array(count: count), lineLength)
        default: break
        }
        throw BenchError("not a RESP value: \(RawText.text(line))")
    }
}
