import DocketTestSupport
import Foundation
import Testing

/// A flow enqueued with BATCH survives kill -9 whole: acknowledged means every job of it, with
/// its parents, and a child stays blocked until its parents complete in the next process.
@Suite struct DependencyCrashTests {
    @Test(.enabled(if: DocketdProcess.storeUnderTest == "lmdb", "dependencies are on the embedded store only"))
    func anAcknowledgedFlowSurvivesACrashAndStillWaits() throws {
        let first = try DocketdProcess()
        let client = try first.client()
        _ = try client.handshake()
        try client.send("BATCH 3\r\nENQ resize 1\r\na\r\nENQ resize 1\r\nb\r\nENQ report after=#1,#2 1\r\nr\r\n")
        #expect(try client.readLine() == "+OK 1 2 3")
        try client.line("RESERVE resize timeout=0")
        #expect(try client.readMessage().0.hasPrefix("JOB 1 "))
        try client.send("ACK 1 4\r\nwide\r\n")
        #expect(try client.readLine() == "+OK")
        first.crash()

        let second = try DocketdProcess(dataDirectory: first.dataDirectory)
        let again = try second.client()
        _ = try again.handshake()
        try again.line("INSPECT 3")
        let document = String(decoding: try again.readMessage().1, as: UTF8.self)
        #expect(document.contains(#""state":"blocked""#) && document.contains(#""parents":[1,2]"#))
        try again.line("RESERVE report timeout=0")
        #expect(try again.readLine() == "NOJOB")
        try again.line("RESERVE resize timeout=0")
        #expect(try again.readMessage().0.hasPrefix("JOB 2 "))
        try again.line("ACK 2")
        #expect(try again.readLine() == "+OK")
        try again.line("RESERVE report timeout=0")
        #expect(try again.readMessage().0.hasPrefix("JOB 3 "))
        try again.line("PARENTS 3")
        #expect(String(decoding: try again.readMessage().1, as: UTF8.self).contains(#"{"id":1,"queue":"resize","state":"completed","result":"wide","error":null}"#))
        #expect(second.stop() == 0)
    }
}
