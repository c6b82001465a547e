/// Durations and sizes as people write them: `250ms`, `30s`, `5m`, `2h`; `4096`, `64KiB`, `1MiB`.
public enum Units {
    /// Milliseconds in a duration such as `250ms`, `30s`, `5m`, `2h` or `1d`; a bare number is
    /// seconds. Nil for anything else, or for more than a year (a typo, not an intention).
    public static func milliseconds(_ text: String) -> Int? {
        var copy = text
        return copy.withUTF8 { milliseconds(UnsafeRawBufferPointer($0)) }
    }

    /// The same, on bytes, so options on the hot path (`RESERVE q timeout=1s`) need no String.
    public static func milliseconds(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var value = 0
        var index = 0
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            guard index < 12 else { return nil }
            value = value * 10 + Int(bytes[index] - 0x30)
            index += 1
        }
        guard index > 0 else { return nil }
        let unit = bytes.count - index
        let scale: Int
        func unitIs(_ word: StaticString) -> Bool {
            guard unit == word.utf8CodeUnitCount else { return false }
            for offset in 0..<unit where bytes[index + offset] != word.utf8Start[offset] { return false }
            return true
        }
        if unit == 0 || unitIs("s") {
            scale = 1000
        } else if unitIs("ms") {
            scale = 1
        } else if unitIs("m") {
            scale = 60_000
        } else if unitIs("h") {
            scale = 3_600_000
        } else if unitIs("d") {
            scale = 86_400_000
        } else {
            return nil
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow, result <= 366 * 86_400_000 else { return nil }
        return result
    }

    /// Bytes in a size such as `4096`, `64KiB`, `64KB`, `1MiB` or `1GiB` (K, M and G are
    /// binary multiples, as memory sizes are). Nil for anything else.
    public static func bytes(_ text: String) -> Int? {
        let (number, unit) = split(text)
        guard let value = number else { return nil }
        let scale: Int
        switch unit.lowercased() {
        case "", "b": scale = 1
        case "k", "kb", "kib": scale = 1 << 10
        case "m", "mb", "mib": scale = 1 << 20
        case "g", "gb", "gib": scale = 1 << 30
        case "t", "tb", "tib": scale = 1 << 40
        default: return nil
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : result
    }

    private static func split(_ text: String) -> (Int?, String) {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        // 18 digits always fit an Int; twelve refused 1TiB written in bytes (1099511627776), a
        // size the limits that go up to 1TiB name as their largest.
        guard !digits.isEmpty, digits.count <= 18 else { return (nil, "") }
        return (Int(digits), String(text.dropFirst(digits.count)))
    }
}
