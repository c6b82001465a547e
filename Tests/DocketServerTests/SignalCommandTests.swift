@testable import DocketServer
import DocketTestSupport
import Foundation
import Glibc
import Testing

/// `docketd --signal`, as nats-server's: the words, the target, and the signals reaching a server.
@Suite struct SignalCommandTests {
    @Test func eachCommandIsNatsServersSignal() throws {
        let expected: [String: Int32] = ["stop": SIGKILL, "quit": SIGINT, "term": SIGTERM, "reopen": SIGUSR1, "reload": SIGHUP, "ldm": SIGUSR2]
        for (name, signal) in expected {
            #expect(try SignalCommand.parse(name) == SignalCommand(name: name, signal: signal, target: .onlyRunning))
        }
        #expect(try SignalCommand.parse("reload=4242").target == .pid(4242))
        #expect(try SignalCommand.parse("ldm=/run/docketd.pid").target == .pidFile("/run/docketd.pid"))
        #expect(try SignalCommand.parse("term=./42.pid").target == .pidFile("./42.pid"))
        for bad in ["", "restart", "RELOAD", "reload=", "reload=0", "reload=-3", "=12"] {
            #expect(throws: SignalError.self, "\(bad)") { try SignalCommand.parse(bad) }
        }
    }

    @Test func withoutAPidOnlyASingleRunningServerIsChosen() throws {
        let command = try SignalCommand.parse("reload")
        #expect(try command.resolve { [77] } == 77)
        let none = #expect(throws: SignalError.self) { try command.resolve { [] } }
        #expect(none?.description == "no docketd process is running")
        let several = #expect(throws: SignalError.self) { try command.resolve { [12, 34] } }
        #expect(several?.description.contains("12, 34") == true)
    }

    @Test func aPidFileIsReadToItsFirstLine() throws {
        let command = try SignalCommand.parse("reload=/any.pid")
        #expect(try command.resolve(readFile: { _ in "  123 \n" }, running: { [] }) == 123)
        #expect(throws: SignalError.self) { try command.resolve(readFile: { _ in "\n" }, running: { [] }) }
        #expect(throws: SignalError.self) { try command.resolve(readFile: { _ in "docketd" }, running: { [] }) }
    }

    @Test func signalsReachTheServerNamedByItsPidFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pidFile = directory.appendingPathComponent("docketd.pid").path
        let server = try DocketdProcess(["-P", pidFile, "--lame-duck-duration", "1s", "--lame-duck-grace-period", "100ms"])
        defer { _ = server.stop() }

        let reload = try DocketdProcess.runToExit(["--signal", "reload=\(pidFile)"])
        #expect(reload.status == 0, "\(reload.output)")
        #expect(server.log.waitForLine(containing: "SIGHUP", timeout: 10) != nil)

        // nats-server's one-dash spelling, and a plain pid.
        let reopen = try DocketdProcess.runToExit(["-sl", "reopen=\(server.pid)"])
        #expect(reopen.status == 0, "\(reopen.output)")
        #expect(server.log.waitForLine(containing: "SIGUSR1", timeout: 10) != nil)

        let missing = try DocketdProcess.runToExit(["--signal", "reload=\(directory.path)/none.pid"])
        #expect(missing.status != 0 && missing.output.contains("none.pid"))

        let lameDuck = try DocketdProcess.runToExit(["--signal", "ldm=\(pidFile)"])
        #expect(lameDuck.status == 0, "\(lameDuck.output)")
        #expect(server.log.waitForLine(containing: "lame duck", timeout: 10) != nil)
        #expect(server.waitForExit(timeout: 20) == 0)
    }

    @Test func quitEndsTheServerAsSIGINTDoes() throws {
        let server = try DocketdProcess()
        let quit = try DocketdProcess.runToExit(["--signal", "quit=\(server.pid)"])
        #expect(quit.status == 0, "\(quit.output)")
        #expect(server.waitForExit(timeout: 20) == 0)
        #expect(server.log.text.contains("SIGINT"))
    }
}
