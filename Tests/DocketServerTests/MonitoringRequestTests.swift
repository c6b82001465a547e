@testable import DocketServer
import Testing

/// The monitoring port's reading of a request target, without a socket.
@Suite struct MonitoringRequestTests {
    /// `%` must be followed by two hex digits: `UInt8("+1", radix: 16)` is 1, so `%+1` once
    /// decoded to a control byte that a proxy in front would have passed on as three characters.
    @Test(arguments: ["%+1", "%-0", "%+f", "%1", "%", "%zz", "a%2"])
    func aBrokenEscapeIsRefused(_ text: String) {
        #expect(MonitoringServer.percentDecoded(Substring(text)) == nil)
    }

    @Test func escapesAndPlusDecode() {
        #expect(MonitoringServer.percentDecoded("a%20b+c%2Fd%e2%82%AC") == "a b c/d€")
        #expect(MonitoringServer.percentDecoded("%C0%AF") == nil)  // not UTF-8
        let request = MonitoringServer.request(Array("GET /api/job?id=%+1&name=q%31 HTTP/1.1\r\n\r\n".utf8), [])
        #expect(request?.query == ["id": "", "name": "q1"])  // a value that does not decode is empty
    }

    /// Such a request never reaches a page: the server refuses it (400) by its first broken
    /// parameter, since an empty value can widen what is asked for (`queue=`: every queue).
    @Test func theFirstBrokenParameterIsNamedAndTheFirstOfARepeatedNameCounts() {
        func head(_ target: String) -> [UInt8] { Array("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n".utf8) }
        #expect(MonitoringServer.brokenQueryParameter(head("/api/job?id=%+1&name=q%31")) == "id=%+1")
        #expect(MonitoringServer.brokenQueryParameter(head("/varz?ok=1&%C0%80=x")) == "%C0%80=x")
        #expect(MonitoringServer.brokenQueryParameter(head("http://h/connz?limit=%G1")) == "limit=%G1")
        #expect(MonitoringServer.brokenQueryParameter(head("/connz?limit=2&sort=cid&subs")) == nil)
        #expect(MonitoringServer.brokenQueryParameter(head("/connz")) == nil)
        #expect(MonitoringServer.request(head("/connz?limit=1&limit=3"), [])?.query == ["limit": "1"])
    }
}
