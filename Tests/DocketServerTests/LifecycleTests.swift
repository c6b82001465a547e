import DocketTestSupport
import Foundation
import Testing

/// Start-up, configuration and shutdown of the docketd process.
@Suite struct LifecycleTests {
    /// A subscriber to `s` that has not read yet, once 8 MiB of messages (2048 of 4096 bytes)
    /// were published to it: most of them wait in the server.
    func subscriberOwedEightMiB(by server: DocketdProcess) throws -> LineClient {
        let subscriber = try server.client()
        _ = try subscriber.handshake()
        try subscriber.line("SUB s 1")
        try subscriber.sync()
        let publisher = try server.client()
        _ = try publisher.handshake()
        let batch = String(repeating: "PUB s 4096\r\n" + String(repeating: "y", count: 4096) + "\r\n", count: 64)
        for _ in 0..<32 { try publisher.send(batch) }
        try publisher.sync()
        return subscriber
    }

    @Test func sigtermFlushesClientsAndExitsZero() throws {
        let server = try DocketdProcess()
        let subscriber = try subscriberOwedEightMiB(by: server)
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

    /// A client that does not take what it is owed holds the stop for the grace at most; a
    /// second signal ends that wait at once, and the store is still closed cleanly.
    @Test func aSecondSignalStopsAtOnce() throws {
        let server = try DocketdProcess(["--shutdown-grace", "10m"])
        let subscriber = try subscriberOwedEightMiB(by: server)
        kill(server.pid, SIGTERM)
        #expect(server.log.waitForLine(containing: "Received signal SIGTERM", timeout: 10) != nil)
        kill(server.pid, SIGTERM)
        // Far short of the ten minutes' grace: the subscriber never read.
        #expect(server.waitForExit(timeout: 60) == 0)
        withExtendedLifetime(subscriber) {}
        #expect(server.log.text.contains("Second signal SIGTERM: exiting at once"), "\(server.log.text)")
        #expect(server.log.text.contains("the data directory; server exiting"), "\(server.log.text)")
    }

    @Test func aDataDirectoryServesOneServerAtATime() throws {
        let first = try DocketdProcess()
        // The refusal names the server that holds the directory, for the operator to stop.
        let second = try DocketdProcess.runToExit(["-p", "0", "-d", first.dataDirectory.path])
        #expect(second.status == 1)
        #expect(second.output.contains("is in use by another docketd (pid \(first.pid))"), "\(second.output)")
        #expect(first.stop() == 0)
        // Once the first is gone, the directory opens again.
        let again = try DocketdProcess(dataDirectory: first.dataDirectory)
        #expect(again.stop() == 0)
    }

    @Test func badFlagsAreRefusedWithAReason() throws {
        // The counts' upper bounds are the configuration file's (the flags took any count above 0).
        for flags in [
            ["--max-payload", "lots"], ["--port", "70000"], ["--log-level", "loud"], ["--ping-interval", "0s"],
            ["--max-connections", "10000001"], ["--max-subscriptions", "100000001"], ["--max-pings-out", "1001"],
            ["--route-max-pings-out", "1001"],
        ] {
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

    /// A variable with a value its option cannot take stops the start, naming the variable: a
    /// whole number that was none used to become the default (`DOCKET_PORT=abc` listened on
    /// 4222, `DOCKET_HTTP_PORT=x` served no monitoring), a switch other than 1 was off.
    @Test(arguments: [
        ("DOCKET_PORT", "abc"), ("DOCKET_HTTP_PORT", "x"), ("DOCKET_MAX_CONNECTIONS", "lots"), ("DOCKET_KEEP_DEAD", "1e3"),
        ("DOCKET_HTTP_ADMIN", "true"), ("DOCKET_MAX_PAYLOAD", "lots"), ("DOCKET_SYNC", "sometimes"),
        ("DOCKET_ROUTE_MAX_PINGS_OUT", "often"), ("DOCKET_MIN_DISK_FREE", "lots"), ("DOCKET_CLUSTER_PING_INTERVAL", "soon"),
        // Whole numbers out of their option's range (they were refused naming neither).
        ("DOCKET_KEEP_DEAD", "-3"), ("DOCKET_KEEP_COMPLETED", "2147483648"), ("DOCKET_MAX_FLOW_DEPTH", "0"), ("DOCKET_MAX_QUEUES", "0"),
        ("DOCKET_MAX_CHECKPOINT_BACKLOG", "1KiB"),
    ])
    func aVariableWithABadValueIsRefusedNamingIt(_ variable: String, _ value: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("docket-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try DocketdProcess.runToExit(["-d", directory.path], timeout: 10, environment: [variable: value])
        #expect(run.status == 64, "\(variable)=\(value): \(run.output)")
        #expect(run.output.contains("\(variable)=\(value)"), "\(variable)=\(value): \(run.output)")
        // A flag wins over its variable, which is then not read at all.
        if variable != "DOCKET_HTTP_ADMIN" {
            let flag = "--" + variable.dropFirst("DOCKET_".count).lowercased().replacingOccurrences(of: "_", with: "-")
            let good = ["DOCKET_MAX_PAYLOAD": "1MiB", "DOCKET_SYNC": "always", "DOCKET_MAX_CONNECTIONS": "100", "DOCKET_ROUTE_MAX_PINGS_OUT": "2",
                "DOCKET_CLUSTER_PING_INTERVAL": "5s", "DOCKET_MAX_FLOW_DEPTH": "10", "DOCKET_MAX_QUEUES": "10",
                "DOCKET_MAX_CHECKPOINT_BACKLOG": "16MiB"][variable] ?? "0"
            let server = try DocketdProcess([flag, good], dataDirectory: directory, environment: [variable: value])
            #expect(server.stop() == 0)
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
        // --salvage is the way out of a damaged data.mdb too (README, "Operating docketd"), and
        // an operator who reads only --help must learn that there.
        let salvage = output.components(separatedBy: "--salvage").dropFirst().first ?? ""
        #expect(salvage.prefix(300).contains("data.mdb"), "--help: --salvage\(salvage.prefix(300))")
    }
}
