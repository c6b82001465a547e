import DocketWire

/// Formatting JSON documents for people, keeping the server's key order.
public enum JSONFormat {
    /// Re-indents a compact JSON document (two spaces per level, `"key": value`), working on
    /// its tokens so keys keep the order the server wrote them in. Input that is not JSON comes
    /// back unchanged.
    public static func pretty(_ bytes: [UInt8], indent: Int = 2) -> String {
        guard bytes.withUnsafeBytes({ JSONValue.parse($0) }) != nil else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        var depth = 0
        var index = 0
        func newline() {
            out.append(10)
            out.append(contentsOf: repeatElement(0x20, count: depth * indent))
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                // Copy the string as it is, escapes included.
                out.append(byte)
                index += 1
                while index < bytes.count {
                    let inner = bytes[index]
                    out.append(inner)
                    index += 1
                    if inner == UInt8(ascii: "\\"), index < bytes.count {
                        out.append(bytes[index])
                        index += 1
                    } else if inner == UInt8(ascii: "\"") {
                        break
                    }
                }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                // Empty containers stay on one line.
                var next = index + 1
                while next < bytes.count, isBlank(bytes[next]) { next += 1 }
                if next < bytes.count, bytes[next] == (byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    out.append(byte)
                    out.append(bytes[next])
                    index = next + 1
                    continue
                }
                out.append(byte)
                depth += 1
                newline()
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                newline()
                out.append(byte)
            case UInt8(ascii: ","):
                out.append(byte)
                newline()
            case UInt8(ascii: ":"):
                out.append(byte)
                out.append(0x20)
            default:
                if !isBlank(byte) { out.append(byte) }
            }
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// Writes a JSON value compactly (object keys sorted, as a dictionary has no order).
    public static func compact(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let number):
            if number.isFinite, number == number.rounded(), abs(number) < 9.007_199_254_740_992e15 { return String(Int64(number)) }
            return number.isFinite ? "\(number)" : "null"
        case .string(let text): return JSONObjectWriter.quote(text)
        case .array(let items): return "[" + items.map(compact).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.keys.sorted().map { JSONObjectWriter.quote($0) + ":" + compact(members[$0]!) }.joined(separator: ",") + "}"
        }
    }
}
