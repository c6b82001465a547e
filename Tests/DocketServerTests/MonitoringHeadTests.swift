import DocketTestSupport
import Foundation
import Testing

extension MonitoringPortTests {
    /// An answer's head (through the blank line) and its body.
    func split(_ answer: String) -> (head: [String], body: String) {
        guard let end = answer.range(of: "\r\n\r\n") else { return ([answer], "") }
        return (answer[..<end.lowerBound].components(separatedBy: "\r\n"), String(answer[end.upperBound...]))
    }

    /// Every monitoring document answers a HEAD with the head its GET gets and no body
    /// (RFC 9110 9.3.2): the sliced ones (`/metrics`, `/queues`) say chunked to both.
    @Test(arguments: ["/varz", "/connz", "/subsz", "/subscriptionsz", "/routez", "/healthz", "/metrics", "/queues"])
    func aHeadGetsTheHeadOfItsGetAndNoBody(_ path: String) throws {
        let server = try DocketdProcess(["-m", "0"])
        let port = try #require(server.httpPort)
        let get = split(try exchange(port, Array("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        let head = split(try exchange(port, Array("HEAD \(path) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        #expect(head.body.isEmpty && !get.body.isEmpty)
        // A document's length may differ between two requests (uptime, connections); the rest may not.
        let unsized = { (lines: [String]) in lines.map { $0.hasPrefix("Content-Length: ") ? "Content-Length" : $0 } }
        #expect(unsized(head.head) == unsized(get.head), "\(head.head) against \(get.head)")
    }

    /// An HTTP/1.0 client cannot read chunks (RFC 9112 6.1): a sliced document goes to it
    /// whole, ended by the close. Before, it got `Transfer-Encoding: chunked` and chunk sizes
    /// in its body.
    @Test func anHTTP10ClientGetsASlicedDocumentUnchunked() throws {
        let server = try DocketdProcess(["-m", "0"])
        let port = try #require(server.httpPort)
        let old = split(try exchange(port, Array("GET /metrics HTTP/1.0\r\n\r\n".utf8)))
        let new = split(try exchange(port, Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        #expect(old.head.first == "HTTP/1.1 200 OK" && !old.head.contains("Transfer-Encoding: chunked"), "\(old.head)")
        #expect(new.head.contains("Transfer-Encoding: chunked"))
        // The same document as the chunked one, once its chunks are put together (its values
        // may have moved between the two: its names may not).
        let names = { (body: String) in body.split(separator: "\n").filter { $0.hasPrefix("# ") } }
        #expect(old.body.hasPrefix("# HELP ") && old.body.hasSuffix("\n"), "\(old.body.prefix(80))")
        #expect(names(old.body) == names(unchunked(new.body)) && !names(old.body).isEmpty)
        let head = split(try exchange(port, Array("HEAD /metrics HTTP/1.0\r\n\r\n".utf8)))
        #expect(head.head == old.head && head.body.isEmpty)
    }

    /// A chunked body's data.
    func unchunked(_ body: String) -> String {
        var rest = Substring(body)
        var data = ""
        while let line = rest.range(of: "\r\n"), let size = Int(rest[..<line.lowerBound], radix: 16), size > 0 {
            let start = line.upperBound
            let end = rest.utf8.index(start, offsetBy: size)
            data += rest[start..<end]
            rest = rest[end...].dropFirst(2)
        }
        return data
    }
}
