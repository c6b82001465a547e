@testable import DocketServer
import Testing

@Suite struct ServedGroupsMarkTests {
    private func roundTrip(headerCount: Int?, message: String, groups: [String]) throws -> (groups: [String], headerCount: Int?, bytes: String) {
        let marked = Array(message.utf8).withUnsafeBytes {
            ServedGroupsMark.marked(headerCount: headerCount, message: $0, groups: groups.map { Array($0.utf8) })
        }
        #expect(String(decoding: marked.bytes[..<marked.headerCount], as: UTF8.self).hasSuffix("\r\n\r\n"))
        let read = try #require(marked.bytes.withUnsafeBytes { ServedGroupsMark.read(headerCount: marked.headerCount, message: $0) })
        return (read.groups.map { String(decoding: $0, as: UTF8.self) }, read.headerCount, String(decoding: read.bytes, as: UTF8.self))
    }

    @Test func aMessageWithoutHeadersComesBackWithoutThem() throws {
        let read = try roundTrip(headerCount: nil, message: "payload", groups: ["workers", "audit"])
        #expect(read.groups == ["workers", "audit"] && read.headerCount == nil && read.bytes == "payload")
    }

    @Test func aMessageWithHeadersKeepsThemAndItsStatus() throws {
        let headers = "NATS/1.0 503\r\nA: b\r\n\r\n"
        let read = try roundTrip(headerCount: headers.utf8.count, message: headers + "payload", groups: ["g"])
        #expect(read.groups == ["g"] && read.headerCount == headers.utf8.count && read.bytes == headers + "payload")
    }

    @Test(arguments: [nil, "NATS/1.0\r\nDocket-Served-Groupsx: g\r\n\r\n", "NATS/1.0\r\nA: b\r\nDocket-Served-Groups: g\r\n\r\n"])
    func messagesWithoutTheMarkAreLeftAlone(_ headers: String?) {
        let message = (headers ?? "") + "payload"
        let read = Array(message.utf8).withUnsafeBytes { ServedGroupsMark.read(headerCount: headers?.utf8.count, message: $0) }
        #expect(read == nil)
    }

    /// What a node sends up for a client whose own first header reads as the mark: an empty
    /// mark before it, which the receiver takes off, leaving the client's header and no group.
    @Test(arguments: ["NATS/1.0\r\nDocket-Served-Groups: g\r\n\r\n", "NATS/1.0\r\nDocket-Served-Groups-Only: g\r\nA: b\r\n\r\n"])
    func aClientHeaderLikeTheMarkSurvivesAnEmptyMark(_ headers: String) throws {
        let message = headers + "payload"
        #expect(Array(message.utf8).withUnsafeBytes { ServedGroupsMark.isMarked(headerCount: headers.utf8.count, message: $0) })
        let read = try roundTrip(headerCount: headers.utf8.count, message: message, groups: [])
        #expect(read.groups.isEmpty && read.headerCount == headers.utf8.count && read.bytes == message)
    }
}
