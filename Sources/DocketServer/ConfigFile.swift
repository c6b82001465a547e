#if canImport(Glibc)
import Glibc
#endif

/// A configuration file in nats-server's format, so that an operator's existing
/// `nats-server.conf` is read unchanged for the parts the two servers share.
///
/// The format: `key = value`, `key: value` or `key value`; `#` and `//` comments; values are
/// numbers (a size may carry a unit: `1MB`, `64KiB`), booleans (`true`/`false`, `yes`/`no`,
/// `on`/`off`), quoted or bare strings, arrays `[a, b]` (commas or new lines between items) and
/// maps `{ … }` (`key { … }` needs no separator); `include <file>` reads another file (relative
/// to the including one) in place; `$NAME` is a variable set earlier in the file at the top
/// level, or else the environment variable. Pure: it reads files and nothing else.
public enum ConfigValue: Equatable, Sendable {
    case string(String)
    case number(Double, unit: String)
    case bool(Bool)
    case array([ConfigValue])
    case map([(String, ConfigValue)])

    public static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.number(let x, let u), .number(let y, let v)): return x == y && u == v
        case (.bool(let x), .bool(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.map(let x), .map(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value of `key` in a map.
    public subscript(key: String) -> ConfigValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.last { $0.0 == key }?.1
    }

    /// A string, or a number written back as text (`listen: 4222` and `port: "4222"` both work).
    public var text: String? {
        switch self {
        case .string(let value): return value
        // A whole number as one (4222, not 4222.0); one too large for an Int stays a Double's
        // text (1e+20), which no setting takes, rather than a trap.
        case .number(let value, let unit): return (Int(exactly: value).map { String($0) } ?? Self.decimalText(value)) + unit
        case .bool(let value): return String(value)
        default: return nil
        }
    }

    /// `value`'s shortest text, with a small one's exponent written out: Swift writes 0.0000052
    /// as `5.2e-06`, which this format (and every setting reading the text) takes for a word, so
    /// `jitter: 0.0000052` read back as a string. Large ones keep their exponent (see `text`).
    static func decimalText(_ value: Double) -> String {
        let shortest = String(value)
        guard let e = shortest.firstIndex(of: "e"), let exponent = Int(shortest[shortest.index(after: e)...]), exponent < 0 else {
            return shortest
        }
        var mantissa = shortest[..<e]
        let sign = mantissa.hasPrefix("-") ? "-" : ""
        if !sign.isEmpty { mantissa = mantissa.dropFirst() }
        let whole = mantissa.prefix { $0 != "." }
        let digits = whole + mantissa.dropFirst(whole.count + 1)
        // The point moves left of the mantissa's digits: whole.count + exponent is at most 0 here
        // (a mantissa under 10 and an exponent of -1 or below).
        return sign + "0." + String(repeating: "0", count: -(whole.count + exponent)) + digits
    }
}

/// An error in a configuration file: where, and what was expected.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// A syntax error at a place in a file; "Parse error" as nats-server says it, so that the
    /// scripts and harnesses that look for those words find them.
    init(_ file: String, _ line: Int, _ column: Int, _ message: String) {
        description = "\(file):\(line):\(column): Parse error: \(message)"
    }
    public init(_ message: String) { description = message }
}

public enum ConfigFile {
    /// The top-level map of the file at `path`.
    public static func load(_ path: String, environment: @escaping (String) -> String? = { getenv($0).map { String(cString: $0) } })
        throws -> ConfigValue
    {
        try loadDocument(path, environment: environment).value
    }

    /// The top-level map, the top-level keys the file used as `$NAME` variables (those are
    /// definitions, not settings), and where each key was first written (`places`).
    public static func loadDocument(
        _ path: String, environment: @escaping (String) -> String? = { getenv($0).map { String(cString: $0) } }
    ) throws -> (value: ConfigValue, variables: Set<String>, places: [String: String]) {
        var parser = try ConfigParser(path: path, environment: environment, depth: 0)
        let value = ConfigValue.map(try parser.parseDocument())
        return (value, parser.referenced, parser.keyPlaces)
    }

    /// A file the configuration reads (itself, an include, an operator's JWT), at most 1 MiB;
    /// `what` names it in the error.
    public static func readText(_ path: String, what: String) throws -> String {
        guard let file = fopen(path, "r") else {
            throw ConfigError("cannot read \(what) \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            data += chunk[..<count]
            guard data.count <= 1 << 20 else { throw ConfigError("\(path) is over 1 MiB; not \(what)") }
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses `text` as a file named `name` (for tests and tools).
    public static func parse(_ text: String, name: String = "<config>", environment: @escaping (String) -> String? = { _ in nil })
        throws -> ConfigValue
    {
        var parser = ConfigParser(text: text, path: name, environment: environment, depth: 0)
        return .map(try parser.parseDocument())
    }
}

struct ConfigParser {
    private let bytes: [UInt8]
    private let path: String
    private let environment: (String) -> String?
    private let depth: Int
    private var position = 0
    /// Maps and arrays open around the current value: bounded, so that a file of nested
    /// brackets ends with an error rather than overflowing the stack of this recursive parser.
    private var nesting = 0
    static let maxNesting = 64
    private var line = 1
    private var column = 1
    /// Top-level keys so far, for `$NAME`, and those a `$NAME` used.
    private var variables: [String: ConfigValue] = [:]
    private(set) var referenced: Set<String> = []
    /// Where each key, at any depth, was first written: `docketd.conf:3:1`, so that a setting
    /// refused after the parse (a misspelt one) is named with its line.
    private(set) var keyPlaces: [String: String] = [:]

    init(text: String, path: String, environment: @escaping (String) -> String?, depth: Int) {
        bytes = Array(text.utf8)
        self.path = path
        self.environment = environment
        self.depth = depth
    }

    init(path: String, environment: @escaping (String) -> String?, depth: Int) throws {
        let text = try ConfigFile.readText(path, what: "the configuration file")
        self.init(text: text, path: path, environment: environment, depth: depth)
    }

    private func error(_ message: String) -> ConfigError { ConfigError(path, line, column, message) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func advance() {
        if bytes[position] == 0x0A {
            line += 1
            column = 1
        } else {
            column += 1
        }
        position += 1
    }

    /// Skips blanks, new lines (when `newlines`), commas between items, and comments.
    private mutating func skip(newlines: Bool = true) {
        while let byte = current {
            if byte == 0x20 || byte == 0x09 || byte == 0x0D || (newlines && (byte == 0x0A || byte == UInt8(ascii: ",") || byte == UInt8(ascii: ";"))) {
                advance()
            } else if byte == UInt8(ascii: "#") || (byte == UInt8(ascii: "/") && position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "/")) {
                while let next = current, next != 0x0A { _ = next; advance() }
            } else {
                return
            }
        }
    }

    private static func isKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    /// A whole file: its key-value pairs, which may also be wrapped in one pair of braces, as a
    /// JSON object is (nats-server reads a configuration written as JSON).
    mutating func parseDocument() throws -> [(String, ConfigValue)] {
        skip()
        guard current == UInt8(ascii: "{") else { return try parseBody(closing: nil) }
        advance()
        let entries = try parseBody(closing: UInt8(ascii: "}"), topLevel: true)
        skip()
        if current != nil { throw error("expected the end of the file after the closing '}'") }
        return entries
    }

    /// Key-value pairs until `closing` (`}`) or the end of the file.
    /// `topLevel`: the file's own pairs (whose keys are `$NAME` variables), braced or not.
    mutating func parseBody(closing: UInt8?, topLevel: Bool = false) throws -> [(String, ConfigValue)] {
        var entries: [(String, ConfigValue)] = []
        while true {
            skip()
            guard let byte = current else {
                if closing != nil { throw error("expected '}' before the end of the file") }
                return entries
            }
            if let closing, byte == closing {
                advance()
                return entries
            }
            let place = "\(path):\(line):\(column)"
            let key = try parseKey()
            if keyPlaces[key] == nil && key != "include" { keyPlaces[key] = place }
            if key == "include" {
                skip(newlines: false)
                let target = try parseBareOrQuoted()
                entries += try include(target)
                continue
            }
            skip(newlines: false)
            if current == UInt8(ascii: "=") || current == UInt8(ascii: ":") {
                advance()
                skip(newlines: false)
            }
            let value = try parseValue()
            if depth == 0 && (closing == nil || topLevel) { variables[key] = value }
            entries.append((key, value))
        }
    }

    private mutating func include(_ target: String) throws -> [(String, ConfigValue)] {
        guard depth < 10 else { throw error("includes nest more than 10 deep") }
        let base = path.lastIndex(of: "/").map { String(path[...$0]) } ?? ""
        let resolved = target.hasPrefix("/") ? target : base + target
        var nested = try ConfigParser(path: resolved, environment: environment, depth: depth + 1)
        nested.variables = variables
        let entries = try nested.parseBody(closing: nil)
        for (key, value) in entries { variables[key] = value }
        referenced.formUnion(nested.referenced)
        keyPlaces.merge(nested.keyPlaces) { first, _ in first }
        return entries
    }

    private mutating func parseKey() throws -> String {
        if current == UInt8(ascii: "\"") || current == UInt8(ascii: "'") { return try parseQuoted() }
        let start = position
        while let byte = current, Self.isKeyByte(byte) { advance() }
        guard position > start else { throw error("expected a key, found '\(Character(Unicode.Scalar(current ?? 0x3F)))'") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func parseValue() throws -> ConfigValue {
        guard let byte = current, byte != 0x0A else { throw error("expected a value") }
        let opens = byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[")
        if opens {
            guard nesting < Self.maxNesting else { throw error("maps and arrays nest more than \(Self.maxNesting) deep") }
            nesting += 1
        }
        defer { if opens { nesting -= 1 } }
        switch byte {
        case UInt8(ascii: "{"):
            advance()
            return .map(try parseBody(closing: UInt8(ascii: "}")))
        case UInt8(ascii: "["):
            advance()
            var items: [ConfigValue] = []
            while true {
                skip()
                guard let next = current else { throw error("expected ']' before the end of the file") }
                if next == UInt8(ascii: "]") {
                    advance()
                    return .array(items)
                }
                items.append(try parseValue())
            }
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return .string(try parseQuoted())
        case UInt8(ascii: "$"):
            advance()
            let name = try parseKey()
            if let value = variables[name] {
                referenced.insert(name)
                return value
            }
            if let value = environment(name) { return Self.scalar(value) }
            throw error("$\(name) is neither set earlier in the file nor in the environment")
        default:
            return Self.scalar(try parseBareOrQuoted())
        }
    }

    private mutating func parseBareOrQuoted() throws -> String {
        if current == UInt8(ascii: "\"") || current == UInt8(ascii: "'") { return try parseQuoted() }
        // "key: : value" is a second separator, not a value (":4222" is one).
        if let byte = current, byte == UInt8(ascii: ":") || byte == UInt8(ascii: "="),
            position + 1 == bytes.count || [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position + 1])
        {
            throw error("expected a value, found '\(Character(Unicode.Scalar(byte)))'")
        }
        let start = position
        while let byte = current, byte != 0x0A, byte != 0x0D, byte != UInt8(ascii: ","), byte != UInt8(ascii: "}"),
            byte != UInt8(ascii: "]"), byte != UInt8(ascii: "#"), byte != UInt8(ascii: ";")
        {
            advance()
        }
        var text = String(decoding: bytes[start..<position], as: UTF8.self)
        while text.last == " " || text.last == "\t" { text.removeLast() }
        guard !text.isEmpty else { throw error("expected a value") }
        return text
    }

    private mutating func parseQuoted() throws -> String {
        let quote = bytes[position]
        advance()
        var out: [UInt8] = []
        while let byte = current {
            if byte == quote {
                advance()
                return String(decoding: out, as: UTF8.self)
            }
            if byte == 0x0A { break }
            if byte == UInt8(ascii: "\\"), quote == UInt8(ascii: "\""), position + 1 < bytes.count {
                advance()
                switch bytes[position] {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                default: out.append(bytes[position])
                }
                advance()
                continue
            }
            out.append(byte)
            advance()
        }
        throw error("a quoted string does not end on its line")
    }

    /// A bare word as a boolean, a number (with an optional unit: `1MB`, `2m`, `64KiB`) or text.
    static func scalar(_ text: String) -> ConfigValue {
        switch text.lowercased() {
        case "true", "yes", "on": return .bool(true)
        case "false", "no", "off": return .bool(false)
        default: break
        }
        let digits = text.prefix { $0.isNumber || $0 == "." || $0 == "-" }
        if !digits.isEmpty, let number = Double(digits) {
            let unit = String(text.dropFirst(digits.count))
            if unit.allSatisfy({ $0.isLetter }) { return .number(number, unit: unit) }
        }
        return .string(text)
    }
}
