/// A header that a node puts on a message it sends up to the nats-server cluster after it gave
/// the message to members of its own queue groups, which it does while its link is down (and
/// then sends the message once the link is back, for the other nodes' plain subscribers).
/// Without it, the cluster would give such a message to each of those groups a second time,
/// on whichever node it picks. The node that receives it strips the header, and does not give
/// the message to a member of a group it names.
///
/// The header is the first after the status line: `Docket-Served-Groups: <queue> <queue>…`,
/// or `Docket-Served-Groups-Only: …` when the message had no headers and the block is there
/// only for the mark (the receiver then drops the whole block). Queue names hold no spaces.
/// A client's message whose first header already reads so goes up with an empty mark before
/// it (`isMarked`): the receiver takes that off and shows the client's header as it was sent.
enum ServedGroupsMark {
    private static let withOthers = Array("Docket-Served-Groups: ".utf8)
    private static let alone = Array("Docket-Served-Groups-Only: ".utf8)
    private static let statusLine = Array("NATS/1.0\r\n".utf8)
    private static let crlf = Array("\r\n".utf8)

    /// `message` (its first `headerCount` bytes a header block, if any) with the mark naming
    /// `groups`: the new header size and the bytes.
    static func marked(headerCount: Int?, message: UnsafeRawBufferPointer, groups: [[UInt8]]) -> (headerCount: Int, bytes: [UInt8]) {
        var line = headerCount == nil ? alone : withOthers
        for (index, group) in groups.enumerated() {
            if index > 0 { line.append(UInt8(ascii: " ")) }
            line += group
        }
        line += crlf
        guard let headerCount, let statusEnd = endOfFirstLine(message, within: headerCount) else {
            let bytes = statusLine + line + crlf + Array(message)
            return (statusLine.count + line.count + crlf.count, bytes)
        }
        let bytes = Array(message[..<statusEnd]) + line + Array(message[statusEnd...])
        return (headerCount + line.count, bytes)
    }

    /// Whether a receiver would take the message's first header for the mark.
    static func isMarked(headerCount: Int?, message: UnsafeRawBufferPointer) -> Bool {
        markLine(headerCount: headerCount, message: message) != nil
    }

    /// The groups a marked message names, and the message as its publisher sent it; nil for a
    /// message without the mark.
    static func read(headerCount: Int?, message: UnsafeRawBufferPointer) -> (groups: [[UInt8]], headerCount: Int?, bytes: [UInt8])? {
        guard let headerCount, let (statusEnd, prefix) = markLine(headerCount: headerCount, message: message) else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: message[statusEnd..<headerCount])
        guard let lineEnd = endOfFirstLine(rest, within: rest.count) else { return nil }
        let value = rest[prefix.count..<(lineEnd - crlf.count)]
        let groups = value.split(separator: UInt8(ascii: " ")).map { Array($0) }
        if prefix == alone {
            return (groups, nil, Array(message[headerCount...]))
        }
        let bytes = Array(message[..<statusEnd]) + Array(message[(statusEnd + lineEnd)...])
        return (groups, headerCount - lineEnd, bytes)
    }

    /// Where the mark's line starts (after the status line) and which of the two it is; nil
    /// when the first header is not the mark.
    private static func markLine(headerCount: Int?, message: UnsafeRawBufferPointer) -> (start: Int, prefix: [UInt8])? {
        guard let headerCount, let statusEnd = endOfFirstLine(message, within: headerCount) else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: message[statusEnd..<headerCount])
        if rest.starts(with: withOthers) { return (statusEnd, withOthers) }
        if rest.starts(with: alone) { return (statusEnd, alone) }
        return nil
    }

    /// Where the first line of `bytes` ends (after its CRLF), within the first `limit` bytes.
    private static func endOfFirstLine(_ bytes: UnsafeRawBufferPointer, within limit: Int) -> Int? {
        guard limit >= 2 else { return nil }
        for index in 0..<(limit - 1) where bytes[index] == 13 && bytes[index + 1] == 10 {
            return index + 2
        }
        return nil
    }
}
