import DocketTLS
import DocketWire

/// The protocol steps around the measured part of a run: greeting the server and making sure
/// it has processed everything sent so far. Lines here become `String`s; the hot paths never do.
enum Handshake {
    /// Sent after INFO. `verbose` off so the server sends no `+OK` per PUB; `echo` off so a
    /// connection never receives its own messages.
    static let connectCommand = "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\n"

    /// Reads the server's INFO and answers with CONNECT.
    /// - Returns: the `max_payload` the server announces, if it announces one.
    /// With `tls`, upgrades after INFO when the server requires it, as NATS clients do.
    static func greet(_ connection: Connection, control: RunControl, tls: TLSContext? = nil) throws -> Int? {
        let shouldStop = { control.shouldStop }
        let line = try connection.readLine(shouldStop: shouldStop)
        guard line.hasPrefix("INFO ") else {
            throw BenchError("expected INFO from the server, got: \(line.prefix(120))")
        }
        let info = JSONValue.parse(String(line.dropFirst(5)))
        if info?["tls_required"]?.boolValue == true {
            guard let tls else { throw BenchError("the server requires TLS: give --tls-ca") }
            try connection.startTLS(tls, serverName: "127.0.0.1", shouldStop: shouldStop)
        }
        try connection.write(connectCommand, shouldStop: shouldStop)
        return info?["max_payload"]?.numberValue.map { Int($0) }
    }

    /// Sends PING and waits for its PONG. The server handles a connection's commands in order,
    /// so the PONG proves it has processed everything sent before: a SUB is in place, or every
    /// PUB has been routed to the subscribers' outbound queues.
    static func flush(_ connection: Connection, control: RunControl) throws {
        let shouldStop = { control.shouldStop }
        try connection.write("PING\r\n", shouldStop: shouldStop)
        while true {
            let line = try connection.readLine(shouldStop: shouldStop)
            if line == "PONG" { return }
            if line == "PING" {
                try connection.write("PONG\r\n", shouldStop: shouldStop)
            } else if line.hasPrefix("-ERR") {
                throw BenchError("the server said \(line)")
            } else if !(line == "+OK" || line.hasPrefix("INFO ")) {
                throw BenchError("unexpected from the server while waiting for PONG: \(line.prefix(120))")
            }
        }
    }
}
