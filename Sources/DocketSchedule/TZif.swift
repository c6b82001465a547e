/// The parts of a TZif file (RFC 8536, tzfile(5)) that map instants to UTC offsets.
///
/// Versions 2 and later repeat the data with 64-bit times after the 32-bit block, then add a
/// POSIX TZ footer for instants after the last transition; those are what is read. A version 1
/// file has only the 32-bit block and no footer. Files with leap-second records (the `right/`
/// zones, whose clocks count leap seconds) are refused: instants here are POSIX time.
struct TZif {
    /// UTC seconds, ascending.
    var transitions: [Int64] = []
    /// For each transition, the index into `offsets` of the time type it starts.
    var transitionTypes: [Int] = []
    /// Seconds east of UTC of each local time type; type 0 applies before the first transition.
    var offsets: [Int] = []
    /// The POSIX TZ footer, nil when absent or empty.
    var footer: String?

    init(_ bytes: [UInt8]) throws(ScheduleError) {
        var reader = Reader(bytes: bytes)
        let first = try reader.header()
        guard first.version != 0 else {
            try readBlock(&reader, first, timeSize: 4)
            return
        }
        reader.position += first.blockSize(timeSize: 4)
        let second = try reader.header()
        try readBlock(&reader, second, timeSize: 8)
        // The footer: a newline, the TZ string, a newline.
        guard reader.byte() == UInt8(ascii: "\n") else { throw Reader.malformed("no footer after the data") }
        let start = reader.position
        while let byte = reader.byte(), byte != UInt8(ascii: "\n") {}
        guard reader.position > start, bytes[reader.position - 1] == UInt8(ascii: "\n") else {
            throw Reader.malformed("the footer does not end with a newline")
        }
        let text = bytes[start..<(reader.position - 1)]
        guard text.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { throw Reader.malformed("the footer is not printable text") }
        footer = text.isEmpty ? nil : String(decoding: text, as: UTF8.self)
    }

    private mutating func readBlock(_ reader: inout Reader, _ header: Reader.Header, timeSize: Int) throws(ScheduleError) {
        guard header.leapCount == 0 else {
            throw ScheduleError("zones with leap seconds (right/...) are not supported; use the zone without right/")
        }
        guard reader.position + header.blockSize(timeSize: timeSize) <= reader.bytes.count else {
            throw Reader.malformed("the file is shorter than its header says")
        }
        transitions.reserveCapacity(header.timeCount)
        for _ in 0..<header.timeCount {
            let time = timeSize == 4 ? Int64(reader.int32()) : reader.int64()
            if let last = transitions.last, time <= last { throw Reader.malformed("transitions out of order") }
            transitions.append(time)
        }
        for _ in 0..<header.timeCount {
            let type = Int(reader.byte()!)
            guard type < header.typeCount else { throw Reader.malformed("a transition to a missing time type") }
            transitionTypes.append(type)
        }
        for _ in 0..<header.typeCount {
            let offset = Int(reader.int32())
            // RFC 8536: offsets lie between -25 and +26 hours.
            guard offset >= -89_999, offset <= 93_599 else { throw Reader.malformed("a UTC offset out of range") }
            offsets.append(offset)
            reader.position += 2  // is-DST flag, abbreviation index
        }
        reader.position += header.characterCount + header.standardWallCount + header.utLocalCount
    }
}

private struct Reader {
    let bytes: [UInt8]
    var position = 0

    struct Header {
        var version: UInt8
        var utLocalCount: Int
        var standardWallCount: Int
        var leapCount: Int
        var timeCount: Int
        var typeCount: Int
        var characterCount: Int

        func blockSize(timeSize: Int) -> Int {
            timeCount * (timeSize + 1) + typeCount * 6 + characterCount + leapCount * (timeSize + 4)
                + standardWallCount + utLocalCount
        }
    }

    static func malformed(_ what: String) -> ScheduleError {
        ScheduleError("not a valid zone file: \(what)")
    }

    mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func int32() -> Int32 {
        var value: UInt32 = 0
        for _ in 0..<4 { value = value << 8 | UInt32(byte() ?? 0) }
        return Int32(bitPattern: value)
    }

    mutating func int64() -> Int64 {
        var value: UInt64 = 0
        for _ in 0..<8 { value = value << 8 | UInt64(byte() ?? 0) }
        return Int64(bitPattern: value)
    }

    mutating func header() throws(ScheduleError) -> Header {
        guard position + 44 <= bytes.count, bytes[position..<(position + 4)].elementsEqual("TZif".utf8) else {
            throw ScheduleError("not a zone file (no TZif header)")
        }
        let version = bytes[position + 4]
        // Version 4 (RFC 9636) changes only the leap-second table, which is refused anyway.
        guard version == 0 || (UInt8(ascii: "2")...UInt8(ascii: "4")).contains(version) else {
            throw Reader.malformed("unknown TZif version")
        }
        position += 20
        var counts: [Int] = []
        for _ in 0..<6 {
            let count = int32()
            guard count >= 0, count < 1 << 20 else { throw Reader.malformed("a count out of range") }
            counts.append(Int(count))
        }
        let header = Header(
            version: version, utLocalCount: counts[0], standardWallCount: counts[1], leapCount: counts[2],
            timeCount: counts[3], typeCount: counts[4], characterCount: counts[5])
        guard header.typeCount >= 1,
            header.utLocalCount == 0 || header.utLocalCount == header.typeCount,
            header.standardWallCount == 0 || header.standardWallCount == header.typeCount
        else { throw Reader.malformed("inconsistent counts in the header") }
        return header
    }
}
