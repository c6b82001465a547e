/// The body of the reply to `HELP`: one line per verb with its usage.
enum HelpText {
    static let lines = [
        "CONNECT {json}                          options: verbose, pedantic, echo, headers, no_responders, name",
        "PUB <subject> [reply-to] <#bytes>       publish; the payload follows on the next line",
        "HPUB <subject> [reply-to] <#hdr> <#all> publish with a NATS/1.0 header block before the payload",
        "SUB <subject> [queue-group] <sid>       subscribe; * matches one token, > the rest",
        "UNSUB <sid> [max-msgs]                  unsubscribe now, or after max-msgs messages in all",
        "PING                                    the server answers PONG",
        "PONG                                    answer to the server's PING",
        "HELP                                    this list",
    ]

    static let body: [UInt8] = Array(lines.joined(separator: "\r\n").utf8)
}
