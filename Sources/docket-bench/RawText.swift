#if canImport(Glibc)
import Glibc
#endif

/// Readers for the reply lines of text protocols (Docket, beanstalkd, RESP), working on the
/// received bytes in place: the hot paths never build a `String`.
enum RawText {
    /// The first complete line of `bytes`.
    /// - Returns: the line without its line ending (CRLF or a bare LF), and how many bytes the
    ///   line took including that ending; nil if no line is complete yet.
    static func line(in bytes: UnsafeRawBufferPointer) -> (content: UnsafeRawBufferPointer, length: Int)? {
        guard let base = bytes.baseAddress, let found = memchr(base, 0x0A, bytes.count) else { return nil }
        let newline = base.distance(to: UnsafeRawPointer(found))
        let end = newline > 0 && bytes[newline - 1] == 0x0D ? newline - 1 : newline
        return (UnsafeRawBufferPointer(rebasing: bytes[..<end]), newline + 1)
    }

    static func hasPrefix(_ line: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        return line.count >= count && memcmp(line.baseAddress!, prefix.utf8Start, count) == 0
    }

    /// Whether `line` is exactly `word`.
    static func equals(_ line: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        line.count == word.utf8CodeUnitCount && hasPrefix(line, word)
    }

    /// The space-separated field at `index` (0 is the verb); nil if the line has fewer.
    static func field(_ index: Int, of line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var position = 0
        var current = 0
        while position < line.count {
            while position < line.count, line[position] == 0x20 { position += 1 }
            guard position < line.count else { return nil }
            let start = position
            while position < line.count, line[position] != 0x20 { position += 1 }
            if current == index { return UnsafeRawBufferPointer(rebasing: line[start..<position]) }
            current += 1
        }
        return nil
    }

    /// The last space-separated field; nil for an empty line.
    static func lastField(of line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var end = line.count
        while end > 0, line[end - 1] == 0x20 { end -= 1 }
        guard end > 0 else { return nil }
        var start = end
        while start > 0, line[start - 1] != 0x20 { start -= 1 }
        return UnsafeRawBufferPointer(rebasing: line[start..<end])
    }

    /// A decimal integer filling all of `digits`, with an optional leading `-` (RESP writes
    /// -1 for "nothing"); nil for anything else, or more than 18 digits.
    static func integer(_ digits: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        let negative = digits.first == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < digits.count, digits.count - index <= 18 else { return nil }
        var value = 0
        while index < digits.count {
            let digit = digits[index]
            guard digit >= 0x30, digit <= 0x39 else { return nil }
            value = value * 10 + Int(digit - 0x30)
            index += 1
        }
        return negative ? -value : value
    }

    /// The line as text for an error message, cut short.
    static func text(_ line: UnsafeRawBufferPointer) -> String {
        String(decoding: line.prefix(200), as: UTF8.self)
    }
}
