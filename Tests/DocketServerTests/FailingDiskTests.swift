import DocketTestSupport
import Foundation
import Testing

/// A disk that starts failing under a running server (`FailingDisk`): docketd must stop with a
/// clear reason rather than acknowledge what the disk did not take, and start again afterwards
/// with everything it acknowledged.
@Suite(.enabled(if: FailingDisk.isAvailable, "needs clang or cc to build the failing-disk library"))
struct FailingDiskTests {
    /// With `--sync none` the checkpoints' flushes of data.mdb are the only ones. When one
    /// fails, the kernel marks the unwritten pages clean, so nothing written since the last
    /// good one is sure to reach the disk, ever: the server stopped acknowledging without a
    /// word before.
    @Test func aFailedFlushUnderSyncNoneStopsTheServer() throws {
        let armed = FileManager.default.temporaryDirectory.appendingPathComponent("docket-armed-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: armed) }
        let server = try DocketdProcess(
            ["--sync", "none"], shell: try FailingDisk.shell(calls: ["fdatasync"], path: "/data.mdb", armedBy: armed))
        let client = try server.client()
        _ = try client.handshake()
        var acknowledged: [String] = []
        try client.send("ENQ flushed 1\r\na\r\n")
        acknowledged.append(try client.readLine())
        FileManager.default.createFile(atPath: armed.path, contents: nil)
        // The next checkpoint's flush fails; every ENQ after it must be refused.
        let deadline = Date().addingTimeInterval(5)
        var ending = "the server kept acknowledging for 5 s"
        while Date() < deadline {
            do {
                try client.send("ENQ flushed 1\r\nb\r\n")
                let reply = try client.readLine()
                guard reply.hasPrefix("+OK ") else { ending = reply; break }
                acknowledged.append(reply)
            } catch {
                ending = "\(error)"
                break
            }
            usleep(50_000)
        }
        #expect(server.waitForExit(timeout: 5) == 1, "\(ending)")
        #expect(server.log.text.contains("Store commit failed: mdb_txn_commit failed in"), "\(server.log.text)")
        #expect(server.log.text.contains("Input/output error"))

        // Nothing of what was acknowledged is lost to docketd itself: it is in the page cache.
        let restarted = try server.restart(["--sync", "none"])
        defer { restarted.stop() }
        let reader = try restarted.client()
        _ = try reader.handshake()
        for reply in acknowledged {
            let id = try #require(reply.split(separator: " ").last)
            #expect(try reader.object("INSPECT \(id)")["queue"] as? String == "flushed")
        }
    }

    /// A checkpoint that fails on an idle server stops nothing until the next change, and the
    /// log said nothing until then: a failing disk went unreported for as long as nobody wrote.
    @Test func aFailedCheckpointIsLoggedWhenItHappens() throws {
        let armed = FileManager.default.temporaryDirectory.appendingPathComponent("docket-armed-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: armed) }
        let server = try DocketdProcess(
            [], shell: try FailingDisk.shell(calls: ["pwrite", "writev", "fdatasync"], path: "/data.mdb", armedBy: armed))
        defer { _ = server.stop() }
        let client = try server.client()
        _ = try client.handshake()
        FileManager.default.createFile(atPath: armed.path, contents: nil)
        try client.send("ENQ idle 1\r\na\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))  // logged: the checkpoint comes after
        // No further command: the checkpoint a tenth of a second later fails, and says so.
        #expect(server.log.waitForLine(containing: "[ERR] Store:", timeout: 5) != nil, "\(server.log.text)")
        #expect(server.process.isRunning)
    }

    /// SIGTERM's last flush failing left docketd exiting 0, as if everything were on disk.
    @Test func aShutdownWhoseLastFlushFailsExitsWithStatus1() throws {
        let armed = FileManager.default.temporaryDirectory.appendingPathComponent("docket-armed-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: armed) }
        let server = try DocketdProcess(
            ["--sync", "none"], shell: try FailingDisk.shell(calls: ["fdatasync", "fsync", "msync"], path: "/data.mdb", armedBy: armed))
        let client = try server.client()
        _ = try client.handshake()
        try client.send("ENQ closing 1\r\na\r\n")
        #expect(try client.readLine().hasPrefix("+OK "))
        FileManager.default.createFile(atPath: armed.path, contents: nil)
        #expect(server.stop() == 1, "\(server.log.text)")
        #expect(server.log.text.contains("[ERR] Store:"), "\(server.log.text)")
        #expect(server.log.text.contains("server exiting with status 1"))
    }
}
