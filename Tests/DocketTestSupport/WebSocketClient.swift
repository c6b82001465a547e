import Foundation

/// A blocking WebSocket client for tests, on `LineClient`'s socket: it sends the upgrade
/// request and frames exactly as a test writes them (masked or not, split anywhere), and reads
/// the server's frames one at a time, so that tests can check the bytes on the wire.
public final class WebSocketClient {
    public let socket: LineClient
    /// The status line and headers of the server's answer to the upgrade.
    public private(set) var responseHead: [String] = []

    public static let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

    public init(port: Int) throws { socket = try LineClient(port: port) }

    /// The request head of an upgrade, with `extra` header lines (each ending in CRLF).
    public static func request(path: String = "/", key: String = sampleKey, extra: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\(extra)\r\n"
    }

    /// Sends `request` and reads the response head; returns its status code.
    @discardableResult
    public func upgrade(_ request: String = WebSocketClient.request()) throws -> Int {
        try socket.send(request)
        responseHead = []
        while true {
            let line = try socket.readLine()
            if line.isEmpty { break }
            responseHead.append(line)
        }
        return Int(responseHead.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// The value of a response header (case-insensitive name).
    public func header(_ name: String) -> String? {
        for line in responseHead.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name.lowercased() { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// A client frame's bytes: masked unless told otherwise, FIN unless `final` is false.
    public static func frame(_ opcode: UInt8, _ payload: [UInt8], final: Bool = true, masked: Bool = true, flags: UInt8 = 0) -> [UInt8] {
        var bytes: [UInt8] = [(final ? 0x80 : 0) | flags | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count <= 125 {
            bytes.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            bytes += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            bytes.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((payload.count >> shift) & 0xFF)) }
        }
        guard masked else { return bytes + payload }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        return bytes + mask + payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
    }

    /// Sends `text` as one masked binary frame.
    public func send(_ text: String) throws { try socket.send(Self.frame(0x2, Array(text.utf8))) }

    public struct Frame {
        public let final: Bool
        public let opcode: UInt8
        public let masked: Bool
        /// RSV1: a permessage-deflate compressed message.
        public let compressed: Bool
        public let payload: [UInt8]
        public var text: String { String(decoding: payload, as: UTF8.self) }
        /// A close frame's status.
        public var closeStatus: Int? { opcode == 0x8 && payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil }
    }

    /// The next frame the server sends.
    public func readFrame() throws -> Frame {
        let head = try socket.readBytes(2)
        var length = Int(head[1] & 0x7F)
        if length == 126 {
            length = try socket.readBytes(2).reduce(0) { $0 << 8 | Int($1) }
        } else if length == 127 {
            length = try socket.readBytes(8).reduce(0) { $0 << 8 | Int($1) }
        }
        let masked = head[1] & 0x80 != 0
        if masked { _ = try socket.readBytes(4) }
        return Frame(
            final: head[0] & 0x80 != 0, opcode: head[0] & 0x0F, masked: masked, compressed: head[0] & 0x40 != 0,
            payload: try socket.readBytes(length))
    }

    /// Data frames' payloads until `count` CRLF lines have come, as lines (a line may span frames).
    public func readLines(_ count: Int) throws -> [String] {
        var bytes: [UInt8] = []
        while bytes.filter({ $0 == 0x0A }).count < count {
            let frame = try readFrame()
            guard frame.opcode == 0x2 else { throw HarnessError("expected a binary frame, got opcode \(frame.opcode)") }
            bytes += frame.payload
        }
        return String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
    }
}
