/// A statement parameter. Text values go in PostgreSQL's text format (the statement's casts
/// say what they are); byte values go in the binary format, which for `bytea` is the bytes
/// themselves and for arrays is the array wire format (`PostgresValue.array`), so no payload
/// is ever escaped or hex-encoded on the way in.
public enum PostgresValue: Equatable, Sendable {
    case null
    case text(String)
    case binary([UInt8])

    public static func int(_ value: Int) -> PostgresValue { .text(String(value)) }
    public static func int(_ value: Int?) -> PostgresValue { value.map { .text(String($0)) } ?? .null }
    public static func bytes(_ value: [UInt8]?) -> PostgresValue { value.map { .binary($0) } ?? .null }
    public static func string(_ value: String?) -> PostgresValue { value.map { .text($0) } ?? .null }

    /// A one-dimensional array in the binary wire format (the statement must cast the
    /// parameter to the matching array type, `$1::bigint[]`, or the server refuses it).
    public static func array(_ type: PostgresArrayElement, _ elements: [[UInt8]?]) -> PostgresValue {
        var out: [UInt8] = []
        func int32(_ value: Int32) { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }
        int32(elements.isEmpty ? 0 : 1)  // dimensions
        int32(elements.contains { $0 == nil } ? 1 : 0)  // has nulls
        int32(type.oid)
        if !elements.isEmpty {
            int32(Int32(elements.count))
            int32(1)  // lower bound
        }
        for element in elements {
            if let element {
                int32(Int32(element.count))
                out.append(contentsOf: element)
            } else {
                int32(-1)
            }
        }
        return .binary(out)
    }

    public static func bigintArray(_ values: [Int64?]) -> PostgresValue {
        array(.bigint, values.map { $0.map { value in withUnsafeBytes(of: value.bigEndian) { Array($0) } } })
    }

    public static func intArray(_ values: [Int32?]) -> PostgresValue {
        array(.int, values.map { $0.map { value in withUnsafeBytes(of: value.bigEndian) { Array($0) } } })
    }

    public static func doubleArray(_ values: [Double?]) -> PostgresValue {
        array(.double, values.map { $0.map { value in withUnsafeBytes(of: value.bitPattern.bigEndian) { Array($0) } } })
    }

    public static func textArray(_ values: [String?]) -> PostgresValue {
        array(.text, values.map { $0.map { Array($0.utf8) } })
    }

    public static func byteaArray(_ values: [[UInt8]?]) -> PostgresValue { array(.bytea, values) }

    public static func boolArray(_ values: [Bool?]) -> PostgresValue { array(.bool, values.map { $0.map { [$0 ? 1 : 0] } }) }
}

/// Element types `PostgresValue.array` can send (their type OIDs are fixed by PostgreSQL).
public enum PostgresArrayElement: Sendable {
    case int, bigint, double, text, bytea, bool

    var oid: Int32 {
        switch self {
        case .int: return 23
        case .bigint: return 20
        case .double: return 701
        case .text: return 25
        case .bytea: return 17
        case .bool: return 16
        }
    }
}

/// One statement's rows, every value in PostgreSQL's text format (nil for SQL NULL).
public struct PostgresResult: Sendable {
    public let columns: [String]
    public let rows: [PostgresRow]
    /// The number of rows a command affected or returned (`PQcmdTuples`), if it says.
    public let affectedRows: Int?

    public init(columns: [String], rows: [PostgresRow], affectedRows: Int?) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }
}

public struct PostgresRow: Sendable {
    public let values: [String?]

    public init(_ values: [String?]) { self.values = values }

    public subscript(_ index: Int) -> String? { values[index] }

    public func string(_ index: Int) -> String? { values[index] }

    public func int(_ index: Int) -> Int? { values[index].flatMap { Int($0) } }

    public func int64(_ index: Int) -> Int64? { values[index].flatMap { Int64($0) } }

    public func double(_ index: Int) -> Double? { values[index].flatMap { Double($0) } }

    public func bool(_ index: Int) -> Bool? {
        switch values[index] {
        case "t": return true
        case "f": return false
        default: return nil
        }
    }

    /// A `bytea` value, which the text format writes as `\x` and hex digits.
    public func bytes(_ index: Int) -> [UInt8]? { values[index].flatMap(PostgresRow.decodeHex) }

    static func decodeHex(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

/// Why a statement did not give a result.
public struct PostgresError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// The server refused the statement (`sqlState` says why).
        case server
        /// Not run: an earlier statement of the same transaction failed.
        case aborted
        /// It ran, but its transaction was rolled back (another statement of it failed, or
        /// the commit did); nothing it did stays.
        case rolledBack
        /// The connection failed or was lost before the transaction's outcome was known: the
        /// transaction may or may not have committed.
        case connection
        /// The connection was closed (by its owner, or after a failure) before it was sent.
        case closed
    }

    public let kind: Kind
    /// The five-character SQLSTATE code, when the server gave one (`23505`, `57P01`, …).
    public let sqlState: String?
    public let message: String
    public let detail: String?
    /// An ENQ refused by `docket.enqueue_flow`: nothing of its statement was done.
    public let flowTooDeep: FlowTooDeep?

    /// Job `job` of an ENQ (1 for the first of a BATCH) would be `depth` deep in its flow.
    public struct FlowTooDeep: Equatable, Sendable {
        public let job: Int
        public let depth: Int
    }

    public init(_ kind: Kind, _ message: String, sqlState: String? = nil, detail: String? = nil, flowTooDeep: FlowTooDeep? = nil) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.flowTooDeep = flowTooDeep
    }

    public var description: String {
        var text = "\(kind): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail { text += " — \(detail)" }
        return text
    }
}

/// A `NOTIFY` the connection heard on a channel it `LISTEN`s to.
public struct PostgresNotification: Equatable, Sendable {
    public let channel: String
    public let payload: String
    /// The server process that sent it.
    public let senderPID: Int32
}
