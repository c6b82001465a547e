/// Splits a control line into fields separated by runs of spaces or tabs, as ranges.
public struct FieldScanner {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    public init(bytes: UnsafeRawBufferPointer, position: Int, end: Int) {
        self.bytes = bytes
        self.position = position
        self.end = end
    }

    /// The next field, or nil at the end of the line.
    public mutating func next() -> Range<Int>? {
        while position < end, Self.isBlank(bytes[position]) { position += 1 }
        guard position < end else { return nil }
        let start = position
        while position < end, !Self.isBlank(bytes[position]) { position += 1 }
        return start..<position
    }

    /// The next field without moving past it.
    public func peek() -> Range<Int>? {
        var copy = self
        return copy.next()
    }

    /// The next field, where a double-quoted part (`cron="0 3 * * *"`) may hold blanks: the
    /// field runs on to the blank after the closing quote. An unclosed quote runs to the end.
    public mutating func nextQuoted(_ bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        while position < end, Self.isBlank(bytes[position]) { position += 1 }
        guard position < end else { return nil }
        let start = position
        var quoted = false
        while position < end, quoted || !Self.isBlank(bytes[position]) {
            if bytes[position] == UInt8(ascii: "\"") { quoted.toggle() }
            position += 1
        }
        return start..<position
    }

    /// Everything left on the line without surrounding blanks, or nil if nothing is left.
    public mutating func rest() -> Range<Int>? {
        while position < end, Self.isBlank(bytes[position]) { position += 1 }
        var last = end
        while last > position, Self.isBlank(bytes[last - 1]) { last -= 1 }
        guard last > position else { return nil }
        defer { position = end }
        return position..<last
    }

    /// Collects the remaining fields; false if there are more than `max`.
    mutating func collect(into fields: inout FieldList, max: Int) -> Bool {
        while let field = next() {
            guard fields.count < max else { return false }
            fields.append(field)
        }
        return true
    }

    @inline(__always) static func isBlank(_ byte: UInt8) -> Bool { byte == Byte.space || byte == Byte.tab }
}

/// Up to four field ranges kept inline, so splitting a line allocates nothing.
struct FieldList {
    private var storage: (Range<Int>, Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0, 0..<0)
    private(set) var count = 0

    mutating func append(_ range: Range<Int>) {
        switch count {
        case 0: storage.0 = range
        case 1: storage.1 = range
        case 2: storage.2 = range
        default: storage.3 = range
        }
        count += 1
    }

    subscript(index: Int) -> Range<Int> {
        switch index {
        case 0: return storage.0
        case 1: return storage.1
        case 2: return storage.2
        default: return storage.3
        }
    }
}
