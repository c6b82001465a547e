import Glibc

/// A file of committed batches: the durable half of a commit with `SyncMode.always`; with
/// `SyncMode.none`, written without flushes, what a docketd crash keeps and a checkpoint makes
/// durable.
///
/// A durable LMDB commit costs two flushes of scattered B-tree pages (about 1.2 ms here); a
/// write to one file and one `fdatasync` cost a fraction of that. So a batch is durable once it
/// is written here, and LMDB receives the batches later, many per transaction, at checkpoints
/// (see `DataDirectory`). On open, batches beyond the last checkpoint are replayed into LMDB.
///
/// The file is written over, not appended to: it is created at `preallocatedBytes` of real
/// zeros and, after a checkpoint, reused from its start (`rewind`). An `fdatasync` that does not
/// change the file's size has no metadata to write, which made it about a quarter faster here.
/// A file holds the records of one round after the other, from offset 0; what follows them is
/// zeros or older records.
///
/// Record layout: body length (UInt32, little-endian), CRC-32C of the body (UInt32), body. The
/// body is a sequence number (UInt64) and `BatchCodec`'s encoding of the batches of one flush,
/// one after the other (one batch in logs written before batches were flushed together, which
/// read the same way). A record is written and flushed whole, never with another, so a damaged
/// record followed by valid ones means that a flushed record was lost. Reading stops at
/// the first record that is cut short, fails its checksum, or does not carry the sequence
/// number after its predecessor's (an older record left from a previous round). A record that
/// was being written when the process or machine stopped was never acknowledged: a batch is
/// acknowledged only after its `fdatasync`.
final class WriteAheadLog {
    /// About 100 ms of the heaviest durable load measured here takes 1-2 MiB. A round that
    /// needs more grows the file (slower, as safe), and the file keeps the size it reached.
    static let preallocatedBytes = 2 << 20

    /// How far past the last good sequence number `strayRecords` looks for whole records: as
    /// many damaged records in a row as start-up can see past.
    static let strayWindow: UInt64 = 256
    /// The most bytes `strayRecords` checksums on candidates, so that a file full of lookalikes
    /// cannot stall start-up.
    static let strayChecksumBudget = 64 << 20
    /// The zeros `strayRecords` passes over at once.
    static let zeroRun = 4096

    let path: String
    private var descriptor: Int32
    /// Where the next record goes.
    private(set) var position = 0

    /// Whether the file was there before this open (a new one is made whole first).
    let existed: Bool

    init(path: String) throws {
        self.path = path
        existed = access(path, F_OK) == 0
        if existed {
            descriptor = open(path, O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { throw StoreError("cannot open \(path): \(String(cString: strerror(errno)))") }
            return
        }
        // Made whole under another name and renamed into place, so that a log file that exists
        // always has its full size: a shorter one was cut, not left half-made by a crash.
        let temporary = path + ".new"
        descriptor = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StoreError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        do {
            try preallocate(naming: temporary)
        } catch {
            Glibc.close(descriptor)
            unlink(temporary)
            throw error
        }
    }

    /// The file's name in its directory (`wal-a.log`).
    var name: String { path.split(separator: "/").last.map(String.init) ?? path }

    /// The file's size in bytes.
    var size: Int {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
    }

    deinit { Glibc.close(descriptor) }

    /// Writes zeros over the whole size (allocated blocks, unlike `fallocate`'s unwritten
    /// extents, need no metadata update when written), then gives the file its name and makes
    /// both durable.
    private func preallocate(naming temporary: String) throws {
        try writeZeros(from: 0)
        guard fsync(descriptor) == 0 else { throw StoreError("fsync of \(path) failed: \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else { throw StoreError("cannot rename \(temporary): \(String(cString: strerror(errno)))") }
        try syncDirectory(containing: path)
    }

    /// Gives a file cut below `preallocatedBytes` its full size again (zeros past what is left),
    /// durably: a salvage keeps using a cut file, and the next start must not take it for one
    /// cut since.
    func restoreFullSize() throws {
        let offset = size
        guard offset < Self.preallocatedBytes else { return }
        try writeZeros(from: offset)
        guard fsync(descriptor) == 0 else { throw StoreError("fsync of \(path) failed: \(String(cString: strerror(errno)))") }
    }

    /// Writes zeros over the whole file, durably: it holds no record after this.
    func erase() throws {
        try writeZeros(from: 0, to: max(size, Self.preallocatedBytes))
        guard fsync(descriptor) == 0 else { throw StoreError("fsync of \(path) failed: \(String(cString: strerror(errno)))") }
    }

    /// Writes zeros from `start` up to `end` (`preallocatedBytes` unless given).
    private func writeZeros(from start: Int, to end: Int = preallocatedBytes) throws {
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        var offset = start
        while offset < end {
            let count = zeros.withUnsafeBytes { pwrite(descriptor, $0.baseAddress!, min($0.count, end - offset), off_t(offset)) }
            // A write a signal interrupted wrote nothing (as `append` knows): it refused the
            // start, seen with an injected EINTR.
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw StoreError("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += count
        }
    }

    /// The records of the file's current round, in order (see the type's description). Read
    /// record by record: a round is usually far shorter than the file.
    /// `end` is where reading stopped.
    func readRecords() throws -> (records: [(sequence: UInt64, body: [UInt8])], end: Int) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StoreError("cannot stat \(path): \(String(cString: strerror(errno)))") }
        let size = Int(info.st_size)
        var records: [(sequence: UInt64, body: [UInt8])] = []
        var offset = 0
        var header = [UInt8](repeating: 0, count: 8)
        while try read(&header, at: offset) {
            let length = Int(Self.uint32(header, 0))
            let checksum = Self.uint32(header, 4)
            // After the round's records come zeros, older records or the torn end of one: a
            // "length" read there can be anything, and must not be trusted to allocate.
            guard length >= 8, length <= size - offset - 8 else { break }
            var body = [UInt8](repeating: 0, count: length)
            guard try read(&body, at: offset + 8), CRC32C.checksum(body) == checksum else { break }
            var sequence: UInt64 = 0
            for index in 0..<8 { sequence |= UInt64(body[index]) << (8 * UInt64(index)) }
            if let previous = records.last?.sequence, sequence != previous + 1 { break }
            records.append((sequence, Array(body[8...])))
            offset += 8 + length
        }
        return (records, offset)
    }

    /// Whole, valid records with a sequence above `sequence` anywhere from `offset` on. Reading
    /// stops at the first bad record; there should be none of these after it (what follows a
    /// round is zeros or older rounds' records), so each one found is an acknowledged batch that
    /// a damaged record hides. Every offset is tried, cheaply: the length and sequence must be
    /// plausible before the checksum is computed.
    func strayRecords(from offset: Int, after sequence: UInt64) throws -> [(offset: Int, sequence: UInt64, body: [UInt8])] {
        let total = size
        guard offset < total else { return [] }
        var bytes = [UInt8](repeating: 0, count: total - offset)
        guard try read(&bytes, at: offset) else { return [] }
        var found: [(offset: Int, sequence: UInt64, body: [UInt8])] = []
        var checksummed = 0
        let zeros = [UInt8](repeating: 0, count: Self.zeroRun)
        bytes.withUnsafeBytes { raw in
            var position = 0
            while position + 16 <= raw.count {
                // Most offsets fail here at once (zeros, or a length past the end).
                let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
                if length == 0 {
                    // No offset inside a run of `zeroRun` zeros but its last three can start a
                    // record (its length would be 0): the unwritten rest of a file is passed over
                    // a run at a time. Offset by offset, the 2 MiB of a new file took 110-140 ms
                    // of every start in a debug build.
                    let isZeroRun = position + Self.zeroRun <= raw.count && memcmp(raw.baseAddress! + position, zeros, Self.zeroRun) == 0
                    position += isZeroRun ? Self.zeroRun - 3 : 1
                    continue
                }
                if length >= 8, length <= raw.count - position - 8 {
                    let candidate = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position + 8, as: UInt64.self))
                    // The first whole record after a damaged one is a few sequence numbers on;
                    // a narrow window keeps the numbers inside batches (job ids) from passing
                    // for record starts and costing a checksum each.
                    if candidate > sequence, candidate - sequence <= Self.strayWindow, checksummed < Self.strayChecksumBudget {
                        checksummed += length
                        let body = Array(raw[(position + 8)..<(position + 8 + length)])
                        let checksum = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
                        if CRC32C.checksum(body) == checksum {
                            found.append((offset + position, candidate, Array(body[8...])))
                            position += 8 + length
                            continue
                        }
                    }
                }
                position += 1
            }
        }
        return found
    }

    /// Whether what follows the round's records, at `offset`, begins the record after
    /// `sequence` (a plausible length, then that sequence number) which reading stopped at: it
    /// was cut short or fails its checksum. Zeros or an older round's record there are a clean end.
    func holdsBrokenRecord(at offset: Int, after sequence: UInt64) throws -> Bool {
        var header = [UInt8](repeating: 0, count: 16)
        guard try read(&header, at: offset) else { return false }
        var next: UInt64 = 0
        for index in 0..<8 { next |= UInt64(header[8 + index]) << (8 * UInt64(index)) }
        return Self.uint32(header, 0) >= 8 && next == sequence + 1
    }

    /// Fills `buffer` from `offset`; false if the file ends first.
    private func read(_ buffer: inout [UInt8], at offset: Int) throws -> Bool {
        var done = 0
        while done < buffer.count {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw StoreError("cannot read \(path): \(String(cString: strerror(errno)))") }
            if count == 0 { return false }
            done += count
        }
        return true
    }

    /// Writes `batches` after the records before them, as one record under `sequence`, and
    /// with `flush` waits until it is on disk: one write and one flush for however many batches
    /// there are. Without it (`SyncMode.none`) the record is in the page cache when this
    /// returns, which a docketd crash keeps and a power loss may tear (see `DataDirectory`).
    func append(sequence: UInt64, batches: [StoreBatch], flush: Bool = true) throws {
        // The body is written after room for the header, which is filled in once the body's
        // length and checksum are known: one buffer, sized once, no copy.
        let total = batches.reduce(16) { $0 + BatchCodec.encodedSize($1) }
        var record = [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            var writer = BatchCodec.Writer(raw: UnsafeMutableRawBufferPointer(buffer), position: 8)
            writer.uint64(sequence)
            for batch in batches { BatchCodec.write(batch, to: &writer) }
            precondition(writer.position == total, "record encoded as \(writer.position) bytes, counted \(total)")
            count = total
        }
        let checksum = record.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[8...])) }
        let bodyLength = UInt32(record.count - 8)
        record.withUnsafeMutableBytes { header in
            header.storeBytes(of: bodyLength.littleEndian, toByteOffset: 0, as: UInt32.self)
            header.storeBytes(of: checksum.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
        var written = 0
        while written < record.count {
            let count = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + written, record.count - written, off_t(position + written)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw StoreError("cannot write to \(path): \(String(cString: strerror(errno)))") }
            written += count
        }
        // Past the preallocated size the file grows, which is slower but just as safe.
        if flush { try self.flush() }
        position += record.count
    }

    /// Makes what was written so far durable.
    func flush() throws {
        guard fdatasync(descriptor) == 0 else { throw StoreError("fdatasync of \(path) failed: \(String(cString: strerror(errno)))") }
    }

    /// Starts a new round at the file's beginning, once everything in it is in LMDB.
    func rewind() {
        position = 0
    }

    private static func uint32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }
}

/// A `StoreBatch` as bytes, for the write-ahead log: each list as a count and its entries,
/// integers little-endian, byte strings length-prefixed.
enum BatchCodec {
    /// How many bytes `encode` appends for `batch`.
    static func encodedSize(_ batch: StoreBatch) -> Int {
        var size = 6 * 4 + 2
        for (_, range) in batch.puts { size += 12 + range.count }
        for (_, bytes) in batch.payloads { size += 12 + bytes.count }
        size += 8 * (batch.payloadDeletes.count + batch.deletes.count)
        for (name, bytes) in batch.queues { size += 8 + name.utf8.count + bytes.count }
        for (_, bytes) in batch.routes { size += 9 + (bytes.map { 4 + $0.count } ?? 0) }
        size += (batch.nextID == nil ? 0 : 8) + (batch.nextRouteID == nil ? 0 : 8)
        return size
    }

    /// Appends `batch` to `out` (one batch alone; the log writes its records with `write`).
    static func encode(_ batch: StoreBatch, into out: inout [UInt8]) {
        let size = encodedSize(batch)
        out += [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var writer = Writer(raw: UnsafeMutableRawBufferPointer(buffer), position: 0)
            write(batch, to: &writer)
            precondition(writer.position == size, "batch encoded as \(writer.position) bytes, counted \(size)")
            count = size
        }
    }

    /// Stores `batch` at the writer's position, in exactly `encodedSize(batch)` bytes. Stored in
    /// place into room made once: appending field by field to an array cost about a hundred
    /// instructions per field (8 % of the commit's work in the durable job cycle).
    static func write(_ batch: StoreBatch, to writer: inout Writer) {
        writer.count(batch.puts.count)
        batch.records.withUnsafeBytes { records in
            for (id, range) in batch.puts {
                writer.uint64(id)
                writer.blob(UnsafeRawBufferPointer(rebasing: records[range]))
            }
        }
        writer.count(batch.payloads.count)
        for (id, bytes) in batch.payloads {
            writer.uint64(id)
            bytes.withUnsafeBytes { writer.blob($0) }
        }
        writer.count(batch.payloadDeletes.count)
        for id in batch.payloadDeletes { writer.uint64(id) }
        writer.count(batch.deletes.count)
        for id in batch.deletes { writer.uint64(id) }
        writer.count(batch.queues.count)
        for (name, bytes) in batch.queues {
            var name = name
            name.withUTF8 { writer.blob(UnsafeRawBufferPointer($0)) }
            bytes.withUnsafeBytes { writer.blob($0) }
        }
        writer.count(batch.routes.count)
        for (id, bytes) in batch.routes {
            writer.uint64(id)
            if let bytes {
                writer.byte(1)
                bytes.withUnsafeBytes { writer.blob($0) }
            } else {
                writer.byte(0)
            }
        }
        for value in [batch.nextID, batch.nextRouteID] {
            if let value {
                writer.byte(1)
                writer.uint64(value)
            } else {
                writer.byte(0)
            }
        }
    }

    /// Stores into room made for a record, little-endian; a store past its end stops the
    /// server before such a record is written.
    struct Writer {
        let raw: UnsafeMutableRawBufferPointer
        var position: Int

        mutating func byte(_ value: UInt8) {
            precondition(position < raw.count)
            raw[position] = value
            position += 1
        }

        mutating func uint64(_ value: UInt64) {
            precondition(position + 8 <= raw.count)
            raw.storeBytes(of: value.littleEndian, toByteOffset: position, as: UInt64.self)
            position += 8
        }

        mutating func count(_ value: Int) {
            precondition(position + 4 <= raw.count)
            raw.storeBytes(of: UInt32(value).littleEndian, toByteOffset: position, as: UInt32.self)
            position += 4
        }

        mutating func blob(_ bytes: UnsafeRawBufferPointer) {
            count(bytes.count)
            precondition(position + bytes.count <= raw.count)
            if let base = bytes.baseAddress, !bytes.isEmpty { (raw.baseAddress! + position).copyMemory(from: base, byteCount: bytes.count) }
            position += bytes.count
        }
    }

    /// The batches `encode` wrote one after the other (at least one); nil if the bytes are not
    /// that.
    static func decodeAll(_ bytes: [UInt8]) -> [StoreBatch]? {
        var reader = Reader(bytes: bytes)
        var batches: [StoreBatch] = []
        repeat {
            guard let batch = decode(from: &reader) else { return nil }
            batches.append(batch)
        } while !reader.atEnd
        return batches
    }

    /// The batch that starts at the reader's position, leaving the reader after it.
    private static func decode(from reader: inout Reader) -> StoreBatch? {
        var batch = StoreBatch()
        guard let puts = reader.count() else { return nil }
        for _ in 0..<puts {
            guard let id = reader.uint64(), let record = reader.blob() else { return nil }
            batch.put(id: id, bytes: record)
        }
        guard let payloads = reader.count() else { return nil }
        for _ in 0..<payloads {
            guard let id = reader.uint64(), let payload = reader.blob() else { return nil }
            batch.payloads.append((id, payload))
        }
        guard let payloadDeletes = reader.count() else { return nil }
        for _ in 0..<payloadDeletes {
            guard let id = reader.uint64() else { return nil }
            batch.payloadDeletes.append(id)
        }
        guard let deletes = reader.count() else { return nil }
        for _ in 0..<deletes {
            guard let id = reader.uint64() else { return nil }
            batch.deletes.append(id)
        }
        guard let queues = reader.count() else { return nil }
        for _ in 0..<queues {
            guard let name = reader.blob(), let config = reader.blob() else { return nil }
            batch.queues.append((String(decoding: name, as: UTF8.self), config))
        }
        guard let routes = reader.count() else { return nil }
        for _ in 0..<routes {
            guard let id = reader.uint64(), let flag = reader.byte() else { return nil }
            if flag == 1 {
                guard let text = reader.blob() else { return nil }
                batch.routes.append((id, text))
            } else {
                batch.routes.append((id, nil))
            }
        }
        for field in [\StoreBatch.nextID, \StoreBatch.nextRouteID] {
            guard let present = reader.byte() else { return nil }
            if present == 1 {
                guard let value = reader.uint64() else { return nil }
                batch[keyPath: field] = value
            }
        }
        return batch
    }

    struct Reader {
        let bytes: [UInt8]
        var position = 0

        var atEnd: Bool { position == bytes.count }

        mutating func byte() -> UInt8? {
            guard position < bytes.count else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func uint64() -> UInt64? {
            guard position + 8 <= bytes.count else { return nil }
            var value: UInt64 = 0
            for index in 0..<8 { value |= UInt64(bytes[position + index]) << (8 * UInt64(index)) }
            position += 8
            return value
        }

        mutating func count() -> Int? {
            guard position + 4 <= bytes.count else { return nil }
            var value = 0
            for index in 0..<4 { value |= Int(bytes[position + index]) << (8 * index) }
            position += 4
            // Every entry takes at least 8 bytes: a count beyond that is corruption.
            return value <= (bytes.count - position) / 8 + 1 ? value : nil
        }

        mutating func blob() -> [UInt8]? {
            guard let length = count32(), position + length <= bytes.count else { return nil }
            defer { position += length }
            return Array(bytes[position..<(position + length)])
        }

        private mutating func count32() -> Int? {
            guard position + 4 <= bytes.count else { return nil }
            var value = 0
            for index in 0..<4 { value |= Int(bytes[position + index]) << (8 * index) }
            position += 4
            return value
        }
    }
}
