import DocketTestSupport
import Foundation
import Testing

/// Start-up, configuration and shutdown of the docketd process.
@Suite struct LifecycleTests {
    @Test func sigtermFlushesClientsAndExitsZero() throws {
        let server = try DocketdProcess()
        let subscriber = try server.client()
        _ = try subscriber.handshake()
        try subscriber.line("SUB s 1")
        try subscriber.sync()
        let publisher = try server.client()
        _ = try publisher.handshake()
        // 8 MiB for a subscriber that is not reading yet: most of it waits in the server.
        let payload = String(repeating: "y", count: 4096)
        var batch = ""
        for _ in 0..<64 { batch += "PUB s 4096\r\n\(payload)\r\n" }
        for _ in 0..<32 { try publisher.send(batch) }
        try publisher.sync()
        kill(server.process.processIdentifier, SIGTERM)
        // Everything the server accepted before the signal is still delivered.
        var messages = 0
        while messages < 64 * 32 {
            let (control, body) = try subscriber.readMessage()
            #expect(control == "MSG s 1 4096" && body.count == 4096)
            messages += 1
        }
        _ = try subscriber.readUntilClosed()
        #expect(server.waitForExit(timeout: 10) == 0)
        #expect(server.log.text.contains("Received signal SIGTERM"))
        #expect(server.log.text.contains("server exiting"))
    }

    @Test func aDataDirectoryServesOneServerAtATime() throws {
        let first = try DocketdProcess()
        #expect(throws: HarnessError.self) {
            _ = try DocketdProcess(dataDirectory: first.dataDirectory)
        }
        #expect(first.stop() == 0)
        // Once the first is gone, the directory opens again.
        let again = try DocketdProcess(dataDirectory: first.dataDirectory)
        #expect(again.stop() == 0)
    }

    @Test func badFlagsAreRefusedWithAReason() throws {
        for flags in [["--max-payload", "lots"], ["--port", "70000"], ["--log-level", "loud"], ["--ping-interval", "0s"]] {
            let process = ChildProcess()
            process.executableURL = DocketdProcess.binary
            process.arguments = flags
            let pipe = Pipe()
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let status = process.awaitExit()
            #expect(status != nil && status != 0, "\(flags)")
            #expect(output.contains(flags[0]), "\(flags): \(output)")
        }
    }

    @Test(arguments: ["--help", "-h"])
    func helpDescribesEveryOption(_ flag: String) throws {
        let process = ChildProcess()
        process.executableURL = DocketdProcess.binary
        process.arguments = [flag]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.awaitExit() == 0)
        for option in [
            "--addr", "--port", "--data-dir", "--max-payload", "--max-control-line", "--max-connections",
            "--max-subscriptions", "--max-pending", "--write-deadline", "--ping-interval", "--max-pings-out",
            "--shutdown-grace", "--log-level", "DOCKET_PORT", "-a, --addr", "-m, --http-port", "--sync", "--max-store",
            "-P, --pid", "DOCKET_PID_FILE", "--ports-file-dir", "DOCKET_PORTS_FILE_DIR",
            "--max-connecting", "DOCKET_MAX_CONNECTING", "--descriptor-reserve", "DOCKET_DESCRIPTOR_RESERVE", "--max-pending-total", "--max-route-peers", "--refusal-drain", "--min-disk-free", "DOCKET_MIN_DISK_FREE",
        ] {
            #expect(output.contains(option), "--help mentions \(option)")
        }
    }
}
