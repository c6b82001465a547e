/// Reading an HTTP/1.1 request head (request line and header fields), as the monitoring port
/// and the WebSocket upgrade both need it: strict where parsers are known to disagree, since a
/// proxy in front may read a head otherwise than this server does.
enum HTTPHead {
    /// Whether a request line's version is `HTTP/1.<digit>`, and nothing after it.
    static func isHTTP1(_ version: ArraySlice<UInt8>) -> Bool {
        version.count == 8 && version.starts(with: Array("HTTP/1.".utf8)) && (0x30...0x39).contains(version.last!)
    }

    /// The value of header `name` (lower case) in a request head, without surrounding blanks.
    static func header(_ name: String, in head: [UInt8]) -> String? { headers(name, in: head).first }

    /// Whether every header line is `name: value` with a name of token characters (no blank
    /// before the colon, no line folded onto the one before).
    static func hasWellFormedFields(_ head: [UInt8]) -> Bool {
        let lines = head.split(separator: 0x0A, omittingEmptySubsequences: false).dropFirst()
        for raw in lines {
            let line = raw.last == 0x0D ? raw.dropLast() : raw[...]
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else { return false }
            for byte in line[..<colon] {
                let isAlphanumeric = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                guard isAlphanumeric || Self.tokenPunctuation.contains(byte) else { return false }
            }
        }
        return true
    }

    /// Why a request's head does not name one host (nil: it does): at most one `Host`, an
    /// absolute-form target's authority must be that host, and the head must not hide a line in
    /// a bare CR or carry a NUL (RFC 9112 2.2, 3.2; RFC 9110 5.5). (A missing `Host` is taken,
    /// as scripts and health checks leave it out; the dashboard refuses it itself.)
    static func hostProblem(_ head: [UInt8]) -> String? {
        for (index, byte) in head.enumerated() {
            if byte == 0 { return "a NUL in the request head" }
            if byte == 0x0D && (index + 1 == head.count || head[index + 1] != 0x0A) { return "a CR without LF in the request head" }
        }
        let requestLine = head.prefix { $0 != 0x0D && $0 != 0x0A }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: true)
        let hosts = headers("host", in: head)
        guard hosts.count <= 1 else { return "more than one Host header" }
        guard parts.count == 3 else { return nil }  // answered 400 as a request line
        let target = String(decoding: parts[1], as: UTF8.self)
        let lowered = target.lowercased()
        for scheme in ["http://", "https://"] where lowered.hasPrefix(scheme) {
            let authority = lowered.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" }
            guard let host = hosts.first, host.lowercased() == authority else {
                return "the target's host and the Host header differ"
            }
        }
        return nil
    }

    /// The characters of a header name (RFC 9110 5.6.2) besides letters and digits.
    private static let tokenPunctuation = Array("!#$%&'*+-.^_`|~".utf8)

    /// Every value of header `name` (lower case), in order. Read on bytes, as
    /// `hasWellFormedFields` and any proxy read them: read as Characters, a combining mark
    /// after the colon (`Host:\u{301}x`) joined it into one character that is not a colon, and
    /// the field went unseen (a second Host, a Transfer-Encoding).
    static func headers(_ name: String, in head: [UInt8]) -> [String] {
        let wanted = Array(name.utf8)
        let lines = head.split(separator: 0x0A, omittingEmptySubsequences: false)
            .map { $0.last == 0x0D ? $0.dropLast() : $0 }.filter { !$0.isEmpty }.dropFirst()
        return lines.compactMap { line in
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), line[..<colon].count == wanted.count,
                zip(line[..<colon], wanted).allSatisfy({ ((0x41...0x5A).contains($0) ? $0 | 0x20 : $0) == $1 })
            else { return nil }
            let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
            let value = line[(colon + 1)...].drop(while: isBlank).reversed().drop(while: isBlank).reversed()
            return String(decoding: value, as: UTF8.self)
        }
    }

    /// Where the request head ends (after its blank line), or nil if it has not ended yet.
    static func endOfHead(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0A {
                if index + 1 < bytes.count && bytes[index + 1] == 0x0A { return index + 2 }
                if index + 2 < bytes.count && bytes[index + 1] == 0x0D && bytes[index + 2] == 0x0A { return index + 3 }
            }
            index += 1
        }
        return nil
    }
}

extension StringProtocol {
    /// Without surrounding blanks (spaces and tabs), as HTTP writes around values and list items.
    var trimmingBlanks: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(drop(while: blank).reversed().drop(while: blank).reversed())
    }
}
