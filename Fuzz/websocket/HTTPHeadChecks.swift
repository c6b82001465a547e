@testable import DocketServer

/// Properties of `DocketServer.HTTPHead`, the reader of the request head that comes before the
/// frames (the WebSocket upgrade, and every request on the monitoring port), checked on each
/// input's stream:
/// - nothing traps, and each answer is the same twice;
/// - `endOfHead` ends after a blank line that is the first one: the bytes before it end in
///   LF LF or LF CR LF, and no shorter prefix has ended;
/// - `headers` reads fields as bytes, as a proxy does: every field line whose name is `Host`
///   (any case) is a Host, and a value put after a known name and colon reads back as itself
///   without its blanks, whatever characters begin it (a combining mark after the colon once
///   hid a second Host);
/// - two Host fields are always `hostProblem`'s concern.
func checkHTTPHead(_ stream: [UInt8]) {
    if let end = HTTPHead.endOfHead(stream) {
        guard end <= stream.count, stream[..<end].suffix(2) == [0x0A, 0x0A] || stream[..<end].suffix(3) == [0x0A, 0x0D, 0x0A] else {
            violation("endOfHead \(end) is not after a blank line")
        }
        if HTTPHead.endOfHead(Array(stream[..<(end - 1)])) != nil { violation("a head ended before endOfHead \(end)") }
    }
    let problem = HTTPHead.hostProblem(stream)
    guard HTTPHead.hostProblem(stream) == problem, HTTPHead.hasWellFormedFields(stream) == HTTPHead.hasWellFormedFields(stream) else {
        violation("the same head judged twice differs")
    }
    let hosts = HTTPHead.headers("host", in: stream)
    var lines = stream.split(separator: 0x0A, omittingEmptySubsequences: false).map { $0.last == 0x0D ? $0.dropLast() : $0 }
    lines.removeAll { $0.isEmpty }
    let hostLines = lines.dropFirst().filter { line in
        line.count >= 5 && zip(line.prefix(5), Array("host:".utf8)).allSatisfy { ((0x41...0x5A).contains($0) ? $0 | 0x20 : $0) == $1 }
    }
    if hostLines.count != hosts.count { violation("\(hostLines.count) Host lines read as \(hosts.count) Hosts") }
    if hosts.count > 1 && problem == nil { violation("two Hosts and no problem") }

    // The stream as one field's value (without line ends, which would start another field).
    let value = stream.filter { $0 != 0x0A && $0 != 0x0D }
    let head = Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Value:".utf8) + value + Array("\r\nHost:".utf8) + value + Array("\r\n\r\n".utf8)
    let blank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
    let trimmed = String(decoding: value.drop(while: blank).reversed().drop(while: blank).reversed(), as: UTF8.self)
    guard HTTPHead.headers("x-value", in: head) == [trimmed] else {
        violation("a value reads back as \(HTTPHead.headers("x-value", in: head)), not [\(trimmed)]")
    }
    guard HTTPHead.headers("host", in: head) == ["127.0.0.1", trimmed] else { violation("the second Host went unseen") }
    if !value.contains(0), HTTPHead.hostProblem(head) != "more than one Host header" {
        violation("two Hosts judged as \(String(describing: HTTPHead.hostProblem(head)))")
    }
}
