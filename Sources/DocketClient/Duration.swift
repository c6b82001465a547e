import DocketWire

/// A duration as the server reads it: `250ms`, `30s`, `5m`, `2h`, `1d`.
///
/// Give a number of seconds (`30`, `1.5`), a Swift `Duration`, or a string already in the
/// server's syntax (`"250ms"`), which is sent exactly as written. Numbers go out in a canonical
/// form shared by every Docket client: whole seconds as `<n>s`, anything else as `<n>ms`,
/// rounded to the nearest millisecond (`30` is `30s`, `1.5` is `1500ms`).
public struct DocketDuration: Sendable, Hashable, CustomStringConvertible, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral
{
    enum Storage: Sendable, Hashable {
        case seconds(Double)
        case text(String)
    }

    let storage: Storage

    public init(integerLiteral value: Int) { storage = .seconds(Double(value)) }
    public init(floatLiteral value: Double) { storage = .seconds(value) }
    public init(stringLiteral value: String) { storage = .text(value) }

    /// A duration written in the server's syntax (`250ms`, `30s`, `5m`, `2h`, `1d`, or bare seconds).
    public init(_ text: String) { storage = .text(text) }

    /// A Swift `Duration`, to the millisecond.
    public init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        storage = .seconds(Double(seconds) + Double(attoseconds) / 1e18)
    }

    public static func seconds(_ value: Double) -> DocketDuration { DocketDuration(storage: .seconds(value)) }
    public static func milliseconds(_ value: Int) -> DocketDuration { DocketDuration(storage: .text("\(value)ms")) }
    public static func minutes(_ value: Int) -> DocketDuration { DocketDuration(storage: .text("\(value)m")) }
    public static func hours(_ value: Int) -> DocketDuration { DocketDuration(storage: .text("\(value)h")) }

    init(storage: Storage) { self.storage = storage }

    /// The text sent on the wire; throws `badArgument` when it cannot be a duration.
    func wireText() throws(DocketError) -> String {
        switch storage {
        case .seconds(let seconds):
            guard seconds.isFinite, seconds >= 0, seconds <= 366 * 86_400 else {
                throw .badArgument("a duration must be from 0 to 366 days, not \(seconds) seconds")
            }
            if seconds == seconds.rounded() { return "\(Int(seconds))s" }
            return "\(Int((seconds * 1000).rounded()))ms"
        case .text(let text):
            guard Self.isValidText(text) else {
                throw .badArgument("\"\(text)\" is not a duration: write digits and one of ms, s, m, h, d (250ms, 30s, 5m)")
            }
            return text
        }
    }

    /// Digits and an optional unit, as the server reads it.
    static func isValidText(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count, utf8[index] >= 0x30, utf8[index] <= 0x39 { index += 1 }
        guard index > 0, index <= 12 else { return false }
        switch String(decoding: utf8[index...], as: UTF8.self) {
        case "", "ms", "s", "m", "h", "d": return Units.milliseconds(text) != nil
        default: return false
        }
    }

    /// The duration in milliseconds, or nil if it is not valid.
    public var milliseconds: Int? {
        switch storage {
        case .seconds(let seconds):
            guard seconds.isFinite, seconds >= 0, seconds <= 366 * 86_400 else { return nil }
            return Int((seconds * 1000).rounded())
        case .text(let text):
            return Self.isValidText(text) ? Units.milliseconds(text) : nil
        }
    }

    public var description: String { (try? wireText()) ?? "invalid duration" }

    /// A call's timeout in milliseconds; throws `badArgument` for one that is no duration.
    /// Read as nil it was taken as no limit (`flush` waited for ever), as 0 (`next` gave up at
    /// once) or as 5 s (`request`).
    func callTimeoutMilliseconds() throws(DocketError) -> Int {
        guard let milliseconds else {
            throw .badArgument("timeout must be a duration from 0 to 366 days (250ms, 30s, 5m, or seconds as a number), not \(given)")
        }
        return milliseconds
    }

    /// The value as it was given, for an error message.
    var given: String {
        switch storage {
        case .seconds(let seconds): return "\(seconds) seconds"
        case .text(let text): return "\"\(text)\""
        }
    }
}
