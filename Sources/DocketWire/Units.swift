/// Durations and sizes as people write them: `250ms`, `30s`, `5m`, `2h`; `4096`, `64KiB`, `1MiB`.
public enum Units {
    /// Milliseconds in a duration such as `250ms`, `30s`, `5m`, `2h` or `1d`; a bare number is
    /// seconds. Nil for anything else, or for more than a year (a typo, not an intention).
    public static func milliseconds(_ text: String) -> Int? {
        let (number, unit) = split(text)
        guard let value = number else { return nil }
        let scale: Int
        switch unit {
        case "ms": scale = 1
        case "s", "": scale = 1000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        default: return nil
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
        guard !digits.isEmpty, digits.count <= 12 else { return (nil, "") }
        return (Int(digits), String(text.dropFirst(digits.count)))
    }
}
