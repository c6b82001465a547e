/// Encoders for what the server writes, appending straight into an output buffer.
extension ByteBuffer {
    /// `MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n`.
    @inlinable public func appendMsg(
        subject: UnsafeRawBufferPointer, sid: UnsafeRawBufferPointer,
        reply: UnsafeRawBufferPointer?, payload: UnsafeRawBufferPointer
    ) {
        ensureWritable(subject.count + sid.count + (reply?.count ?? 0) + payload.count + 32)
        append("MSG ")
        append(subject)
        append(Byte.space)
        append(sid)
        append(Byte.space)
        if let reply {
            append(reply)
            append(Byte.space)
        }
        appendDecimal(payload.count)
        append("\r\n")
        append(payload)
        append("\r\n")
    }

    /// `HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>\r\n<headers+payload>\r\n`.
    @inlinable public func appendHmsg(
        subject: UnsafeRawBufferPointer, sid: UnsafeRawBufferPointer,
        reply: UnsafeRawBufferPointer?, headerCount: Int, message: UnsafeRawBufferPointer
    ) {
        ensureWritable(subject.count + sid.count + (reply?.count ?? 0) + message.count + 48)
        append("HMSG ")
        append(subject)
        append(Byte.space)
        append(sid)
        append(Byte.space)
        if let reply {
            append(reply)
            append(Byte.space)
        }
        appendDecimal(headerCount)
        append(Byte.space)
        appendDecimal(message.count)
        append("\r\n")
        append(message)
        append("\r\n")
    }

    /// `-ERR '<text>'\r\n`.
    public func appendError(_ error: ProtocolError) {
        append("-ERR '")
        append(string: error.text)
        append("'\r\n")
    }

    /// A Docket data reply: `<WORD> <#bytes>\r\n<body>\r\n`.
    public func appendDataReply(_ word: StaticString, body: [UInt8]) {
        append(word)
        append(Byte.space)
        appendDecimal(body.count)
        append("\r\n")
        append(body)
        append("\r\n")
    }
}

/// The status message a requester gets when its request reached no subscriber.
public enum NoResponders {
    /// The header block `NATS/1.0 503\r\n\r\n`: 16 bytes, the whole message.
    public static let headerBlock: StaticString = "NATS/1.0 503\r\n\r\n"
}
