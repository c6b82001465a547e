/// A JSON value, for the few control-plane documents on the wire (CONNECT, INFO).
/// The hot path never touches JSON.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses one JSON document; nil if it is not valid JSON.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> JSONValue? {
        var reader = JSONReader(bytes: bytes)
        guard let value = reader.value(depth: 0) else { return nil }
        reader.skipWhitespace()
        return reader.position == bytes.count ? value : nil
    }

    public static func parse(_ text: String) -> JSONValue? {
        Array(text.utf8).withUnsafeBytes { parse($0) }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var numberValue: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The number as a `T`, cut toward zero; nil if this is not a number or the number does not
    /// fit. A plain `Int(double)` traps on NaN, infinities and out-of-range values, and these
    /// numbers come from peers: `-1` or `1e300` where an id belongs must not stop the reader.
    public func integer<T: BinaryInteger>(as type: T.Type) -> T? {
        guard let number = numberValue, number.isFinite else { return nil }
        return T(exactly: number.rounded(.towardZero))
    }

    public var intValue: Int? { integer(as: Int.self) }
    public var int64Value: Int64? { integer(as: Int64.self) }
    public var uint64Value: UInt64? { integer(as: UInt64.self) }
}

/// A recursive-descent reader over raw bytes.
private struct JSONReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Documents nest at most this deep, so hostile input cannot exhaust the stack.
    static let maxDepth = 64

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) -> JSONValue? {
        guard depth < Self.maxDepth else { return nil }
        skipWhitespace()
        guard position < bytes.count else { return nil }
        switch bytes[position] {
        case UInt8(ascii: "{"): return object(depth: depth)
        case UInt8(ascii: "["): return array(depth: depth)
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { return nil }
        for offset in 0..<count where bytes[position + offset] != word.utf8Start[offset] { return nil }
        position += count
        return value
    }

    mutating func object(depth: Int) -> JSONValue? {
        position += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), let key = string() else { return nil }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
            position += 1
            guard let member = value(depth: depth + 1) else { return nil }
            members[key] = member
            skipWhitespace()
            guard position < bytes.count else { return nil }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            return nil
        }
    }

    mutating func array(depth: Int) -> JSONValue? {
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            guard let element = value(depth: depth + 1) else { return nil }
            elements.append(element)
            skipWhitespace()
            guard position < bytes.count else { return nil }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
            return nil
        }
    }

    mutating func string() -> String? {
        position += 1
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                guard position < bytes.count else { return nil }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    guard var code = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(code) {
                        // A high surrogate and the escaped low one after it are one character.
                        let afterHigh = position
                        if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        {
                            position += 2
                            if let low = hex4(), (0xDC00..<0xE000).contains(low) {
                                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            } else {
                                position = afterHigh
                            }
                        }
                    }
                    // Half a pair alone (JavaScript's JSON.stringify writes one for a string cut
                    // inside an emoji) is U+FFFD, as Go's decoder, nats-server's, reads it.
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    flush()
                    scalars.append(scalar)
                default: return nil
                }
            case 0..<0x20:
                return nil
            default:
                utf8.append(byte)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            position += 1
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: return nil
            }
            code = code << 4 | UInt32(digit)
        }
        return code
    }

    mutating func number() -> JSONValue? {
        let start = position
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        var sawDigit = false
        while position < bytes.count {
            let byte = bytes[position]
            let isNumberByte =
                (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
                || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
            guard isNumberByte else { break }
            if byte >= 0x30 && byte <= 0x39 { sawDigit = true }
            position += 1
        }
        guard sawDigit else { return nil }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        return Double(text).map(JSONValue.number)
    }
}

/// Builds a compact JSON object, for documents the server writes (INFO, queue records).
///
/// Written as bytes: the queue record goes through it with every commit that changes a queue's
/// totals, and building it as a `String` (a scalar at a time, each number its own string) was
/// 5 % of the loop thread in the 32x1 job cycle.
public struct JSONObjectWriter {
    private var bytes: [UInt8] = []

    public init() {
        // A queue record fits; growing an array from nothing reallocates it several times.
        bytes.reserveCapacity(256)
        bytes.append(UInt8(ascii: "{"))
    }

    public mutating func add(_ key: String, _ value: String) {
        member(key)
        Self.appendQuoted(value, to: &bytes)
    }

    public mutating func add(_ key: String, _ value: Int) {
        member(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func add(_ key: String, _ value: Bool) {
        member(key)
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
    }

    public mutating func add(_ key: String, _ value: Double) {
        member(key)
        bytes.append(contentsOf: (value.isFinite ? "\(value)" : "null").utf8)
    }

    public mutating func add(_ key: String, _ value: String?) {
        if let value { add(key, value) } else { add(key, json: "null") }
    }

    public mutating func add(_ key: String, _ value: Int?) {
        if let value { add(key, value) } else { add(key, json: "null") }
    }

    /// Adds an already encoded JSON value.
    public mutating func add(_ key: String, json: String) {
        member(key)
        bytes.append(contentsOf: json.utf8)
    }

    /// Adds an already encoded JSON value, given as UTF-8.
    public mutating func add(_ key: String, json: [UInt8]) {
        member(key)
        bytes.append(contentsOf: json)
    }

    private mutating func member(_ key: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        Self.appendQuoted(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    public var result: String { String(decoding: resultBytes, as: UTF8.self) }

    /// The object as UTF-8.
    public var resultBytes: [UInt8] {
        var out = bytes
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string literal for `value`, escaping quotes, backslashes and control characters.
    public static func quote(_ value: String) -> String {
        var out: [UInt8] = []
        appendQuoted(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `value` as a JSON string literal. Byte by byte: every byte of a multi-byte
    /// UTF-8 sequence is 0x80 or above and goes through unchanged. An escape appends its bytes
    /// one at a time (an array literal per escape, and the hex digits made per byte, made a
    /// megabyte of control bytes take a quarter of a second: a hostile reason stalled the loop).
    public static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        let backslash = UInt8(ascii: "\\")
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), backslash:
                out.append(backslash)
                out.append(byte)
            case UInt8(ascii: "\n"):
                out.append(backslash)
                out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"):
                out.append(backslash)
                out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"):
                out.append(backslash)
                out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(backslash)
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(hexDigit(byte >> 4))
                out.append(hexDigit(byte & 0xF))
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10 }
}
