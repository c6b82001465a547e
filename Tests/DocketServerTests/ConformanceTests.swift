import DocketTestSupport
import Foundation
import Testing

/// Runs every transcript in `Protocol/conformance/` against a fresh docketd, one server per file.
/// The format is specified in `Protocol/conformance/README.md`; this is its Swift runner.
@Suite struct ConformanceTests {
    static let directory = DocketdProcess.packageRoot.appendingPathComponent("Protocol/conformance")

    static let files: [String] = {
        let enumerator = FileManager.default.enumerator(atPath: directory.path)
        var found: [String] = []
        while let path = enumerator?.nextObject() as? String {
            if path.hasSuffix(".t") { found.append(path) }
        }
        return found.sorted()
    }()

    @Test func transcriptsExist() {
        #expect(Self.files.count >= 30)
    }

    @Test(arguments: files)
    func transcript(_ file: String) throws {
        let text = try String(contentsOf: Self.directory.appendingPathComponent(file), encoding: .utf8)
        let transcript = try Transcript(text)
        var flags = transcript.flags
        if !transcript.config.isEmpty {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("docket-transcript-\(UUID().uuidString).conf").path
            try (transcript.config.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            flags += ["-c", path]
        }
        defer { if let index = flags.firstIndex(of: "-c") { try? FileManager.default.removeItem(atPath: flags[index + 1]) } }
        let server = try DocketdProcess(flags)
        var clients: [Character: LineClient] = [:]
        var lastLine: [Character: String] = [:]
        for step in transcript.steps {
            let where_ = "\(file):\(step.line)"
            if clients[step.connection] == nil { clients[step.connection] = try server.client() }
            let client = clients[step.connection]!
            do {
                switch step.action {
                case .send(let bytes):
                    try client.send(bytes)
                case .expect(let expected):
                    let line = try client.readLine()
                    #expect(line == expected, "\(where_)")
                    lastLine[step.connection] = line
                case .match(let pattern):
                    let line = try client.readLine()
                    let regex = try NSRegularExpression(pattern: "^(?:\(pattern))$")
                    let found = regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
                    #expect(found, "\(where_): \(line.debugDescription) does not match /\(pattern)/")
                    lastLine[step.connection] = line
                case .body:
                    guard let count = Int(lastLine[step.connection]?.split(separator: " ").last ?? "") else {
                        Issue.record("\(where_): previous line has no byte count")
                        return
                    }
                    let body = try client.readBytes(count + 2)
                    #expect(body.suffix(2) == [13, 10], "\(where_): body not followed by CRLF")
                case .eof:
                    let rest = try client.readUntilClosed()
                    #expect(rest.isEmpty, "\(where_): bytes before close: \(String(decoding: rest, as: UTF8.self))")
                case .close:
                    clients[step.connection] = nil
                }
            } catch {
                Issue.record("\(where_): \(error)\nserver log:\n\(server.log.text.suffix(2000))")
                return
            }
        }
    }
}

/// A parsed transcript.
struct Transcript {
    enum Action {
        case send([UInt8])
        case expect(String)
        case match(String)
        case body
        case eof
        case close
    }

    struct Step {
        let line: Int
        let connection: Character
        let action: Action
    }

    var flags: [String] = []
    /// Lines of a configuration file given to the server with `-c`.
    var config: [String] = []
    var docketOnly = false
    var steps: [Step] = []

    init(_ text: String) throws {
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("! flags:") {
                flags = line.dropFirst("! flags:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                continue
            }
            if line.hasPrefix("! config:") {
                let text = line.dropFirst("! config:".count)
                config.append(String(text.hasPrefix(" ") ? text.dropFirst() : text))
                continue
            }
            if line == "! docket-only" {
                docketOnly = true
                continue
            }
            // This harness runs the embedded store; `! store: lmdb` files are its own.
            if line.hasPrefix("! store:") {
                guard line.dropFirst("! store:".count).trimmingCharacters(in: .whitespaces) == "lmdb" else {
                    throw HarnessError("line \(number): this harness runs the lmdb store only")
                }
                continue
            }
            guard let connection = line.first, connection.isLowercase, connection.isLetter else {
                throw HarnessError("line \(number): no connection letter")
            }
            let rest = line.dropFirst()
            func argument(after op: String) -> Substring {
                let tail = rest.dropFirst(op.count)
                return tail.hasPrefix(" ") ? tail.dropFirst() : tail
            }
            let action: Action
            if rest.hasPrefix(">>") {
                action = .send(try Self.decode(argument(after: ">>"), number))
            } else if rest.hasPrefix(">") {
                action = .send(try Self.decode(argument(after: ">"), number) + [13, 10])
            } else if rest.hasPrefix("<") {
                action = .expect(String(decoding: try Self.decode(argument(after: "<"), number), as: UTF8.self))
            } else if rest.hasPrefix("~") {
                action = .match(String(argument(after: "~")))
            } else if rest.hasPrefix("!") {
                switch argument(after: "!") {
                case "body": action = .body
                case "eof": action = .eof
                case "close": action = .close
                default: throw HarnessError("line \(number): unknown directive")
                }
            } else {
                throw HarnessError("line \(number): unknown operator")
            }
            steps.append(Step(line: number, connection: connection, action: action))
        }
    }

    /// Decodes `\r`, `\n`, `\t`, `\\` and `\xHH`.
    static func decode(_ text: Substring, _ line: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            switch bytes.popFirst() {
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "x"):
                guard bytes.count >= 2, let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else {
                    throw HarnessError("line \(line): bad \\x escape")
                }
                out.append(value)
                bytes = bytes.dropFirst(2)
            default:
                throw HarnessError("line \(line): unknown escape")
            }
        }
        return out
    }
}
