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

    /// The groups a marked message names, and the message as its publisher sent it; nil for a
    /// message without the mark.
    static func read(headerCount: Int?, message: UnsafeRawBufferPointer) -> (groups: [[UInt8]], headerCount: Int?, bytes: [UInt8])? {
        guard let headerCount, let statusEnd = endOfFirstLine(message, within: headerCount) else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: message[statusEnd..<headerCount])
        let prefix: [UInt8]
        if rest.starts(with: withOthers) {
            prefix = withOthers
        } else if rest.starts(with: alone) {
            prefix = alone
        } else {
            return nil
        }
        guard let lineEnd = endOfFirstLine(rest, within: rest.count) else { return nil }
        let value = rest[prefix.count..<(lineEnd - crlf.count)]
        let groups = value.split(separator: UInt8(ascii: " ")).map { Array($0) }
        if prefix == alone {
            return (groups, nil, Array(message[headerCount...]))
        }
        let bytes = Array(message[..<statusEnd]) + Array(message[(statusEnd + lineEnd)...])
        return (groups, headerCount - lineEnd, bytes)
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
