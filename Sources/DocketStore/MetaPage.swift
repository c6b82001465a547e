import Glibc

/// One of the two meta pages at the start of `data.mdb`, read without LMDB: what start-up
/// needs to know whether LMDB can open the file, and to rebuild a damaged page from the other.
///
/// LMDB keeps two so that a commit never overwrites the description of the last one: commit n
/// writes page n % 2, after its data pages are on disk. A power cut during that write can
/// damage only the page being written; the other still describes the last commit that
/// completed, whose pages no later commit has reused. But LMDB 0.9.24 (Debian's) refuses the
/// whole file (`MDB_INVALID`) when either page is not a meta page, and has no way to be told to
/// use the other (`MDB_PREVSNAPSHOT` came in later versions). `checkAndRepair` does what it
/// would: when exactly one page is sound, and the trees it names start where it says, the
/// damaged one is rewritten from it before LMDB opens the file.
///
/// Nothing acknowledged is lost by that. A commit is acknowledged once its batch is in the
/// write-ahead log, and a checkpoint's batches stay in the log until the commit that applied
/// them has returned, so the log holds every batch after the sound page's commit when the
/// damage is a torn write (the commit being written never returned). Damage to a page whose
/// commit did return (bit rot, not a power cut) can leave a gap: the log's next round may have
/// overwritten batches only that commit held. The replay finds any gap by sequence number and
/// refuses the start, as for a damaged log.
struct MetaPage {
    /// Byte offsets in the page, for LMDB 0.9 on a 64-bit machine. The page header: its page
    /// number (8 bytes), padding (2), flags (2), two 2-byte bounds. Then the meta record: magic
    /// (4), format version (4), fixed map address (8), map size (8), the records of the
    /// free-page database and the main database (48 bytes each: a 4-byte pad, which in the
    /// free-page database's record holds the page size; flags, 2; depth, 2; counts of branch,
    /// leaf and overflow pages, of entries, and the root page, 8 each), the last page in use (8)
    /// and the id of the transaction that wrote it (8).
    static let flagsOffset = 10
    static let magicOffset = 16
    static let versionOffset = 20
    static let mapSizeOffset = 32
    static let pageSizeOffset = 40
    static let databaseOffsets = [40, 88]
    static let lastPageOffset = 136
    static let transactionOffset = 144
    /// The page header and the meta record: what is read, and what a rebuilt page copies.
    static let length = 152

    static let magic: UInt32 = 0xBEEF_C0DE
    /// LMDB 0.9's data format.
    static let formatVersion: UInt32 = 1
    /// Page flags: a meta page, a branch page, a leaf page.
    static let metaFlag: UInt16 = 0x08
    static let treeFlags: UInt16 = 0x01 | 0x02
    /// The root of a database with no entries.
    static let noRoot = UInt64.max
    /// The largest map a sound header names: `--max-store` goes to 1 TiB, and a replay may grow
    /// the map past it by what the log holds. A bit flipped high in the map size made LMDB map
    /// exabytes, and the start ended in `Cannot allocate memory` without naming data.mdb.
    static let mostMapBytes: UInt64 = 1 << 42

    /// Which of the two pages this is (0 or 1), and its bytes (`length` of them).
    let index: Int
    let bytes: [UInt8]

    var pageSize: Int { Int(uint32(Self.pageSizeOffset)) }
    var lastPage: UInt64 { uint64(Self.lastPageOffset) }
    var mapSize: UInt64 { uint64(Self.mapSizeOffset) }
    var transaction: UInt64 { uint64(Self.transactionOffset) }
    /// The root pages of the free-page and main databases that are not empty.
    var roots: [UInt64] { Self.databaseOffsets.map { uint64($0 + 40) }.filter { $0 != Self.noRoot } }

    /// Why the bytes read at page `index` (at `offset`) are not a meta page LMDB can use; nil
    /// when they are. Only the page itself is judged here, not whether the file holds what it
    /// describes.
    static func damage(of bytes: [UInt8], index: Int, offset: Int) -> String? {
        guard bytes.count == length else { return "the file ends within it" }
        let page = MetaPage(index: index, bytes: bytes)
        if page.uint16(flagsOffset) & metaFlag == 0 { return "it is not marked as a header page" }
        if page.uint64(0) != UInt64(index) { return "it names itself page \(page.uint64(0))" }
        if page.uint32(magicOffset) != magic { return "its magic number is wrong" }
        if page.uint32(versionOffset) != formatVersion { return "its format version is \(page.uint32(versionOffset))" }
        let size = page.pageSize
        if size < 512 || size > 65_536 || size & (size - 1) != 0 || index * size != offset { return "its page size, \(size), is wrong" }
        if page.lastPage < 1 { return "its last page, \(page.lastPage), is wrong" }
        // LMDB never uses a page past its map, and writes the map's size with every commit.
        let used = (page.lastPage + 1).multipliedReportingOverflow(by: UInt64(size))
        if page.mapSize > mostMapBytes || used.overflow || page.mapSize < used.partialValue {
            return "its map size, \(page.mapSize) bytes, is impossible"
        }
        for database in databaseOffsets {
            let root = page.uint64(database + 40)
            let depth = page.uint16(database + 6)
            // An empty database has no root and no depth; any other has both, its root past the
            // two meta pages and within the pages in use.
            if (root == noRoot) != (depth == 0) || (root != noRoot && (root < 2 || root > page.lastPage)) {
                return "a database root it names (page \(root), depth \(depth)) is impossible"
            }
        }
        return nil
    }

    /// Checks both meta pages of the `data.mdb` at `file`, and rebuilds one that is damaged
    /// from the other when that one is sound and the file holds the trees it names. Returns
    /// what was repaired, for the log; nil when nothing was. Throws, naming the damage, when
    /// LMDB cannot open the file and this cannot make it able to: both pages damaged, the file
    /// cut short of its pages, or a file that cannot be read or written.
    static func checkAndRepair(_ file: String) throws -> String? {
        var descriptor = open(file, O_RDWR | O_CLOEXEC)
        // A read-only file or mount: most damage needs no write to be found.
        let writeError = descriptor < 0 ? errno : 0
        if descriptor < 0 { descriptor = open(file, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { return nil }  // LMDB makes it, or says why it cannot
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_size > 0 else { return nil }
        let fileSize = Int(info.st_size)
        func read(_ count: Int, at offset: Int) throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
            // A read that fails is the disk's trouble (EIO), not garbled headers: say which.
            guard read >= 0 else {
                throw StoreError("cannot read \(file): \(String(cString: strerror(errno))); the disk failed to read it, so nothing about its contents is known")
            }
            return Array(bytes[0..<read])
        }
        // Page 1 is where page 0 says pages end, as LMDB reads it; with page 0 damaged, at this
        // machine's page size (LMDB's for a file it made).
        let first = try read(length, at: 0)
        let firstDamage = damage(of: first, index: 0, offset: 0)
        let secondOffset = firstDamage == nil ? MetaPage(index: 0, bytes: first).pageSize : Int(sysconf(Int32(_SC_PAGESIZE)))
        let second = try read(length, at: secondOffset)
        let secondDamage = damage(of: second, index: 1, offset: secondOffset)

        // The pages in use must all be in the file: LMDB would read past the end of its
        // mapping (SIGBUS) instead of failing.
        func checkLength(_ page: MetaPage) throws {
            let needed = (Int(page.lastPage) + 1) * page.pageSize
            guard fileSize >= needed else {
                throw StoreError(
                    "\(file) is damaged: it is \(fileSize) bytes but its header says it holds \(needed) (it was cut). Restore the data directory from a backup")
            }
        }
        switch (firstDamage, secondDamage) {
        case (nil, nil):
            let pages = [MetaPage(index: 0, bytes: first), MetaPage(index: 1, bytes: second)]
            // LMDB uses the newer one.
            try checkLength(pages[0].transaction >= pages[1].transaction ? pages[0] : pages[1])
            return nil
        case (let first?, let second?):
            throw StoreError(
                "\(file) is damaged: neither of its two header pages can be used (page 0: \(first); page 1: \(second)). Restore the data directory from a backup")
        default:
            break
        }
        let sound = firstDamage == nil ? MetaPage(index: 0, bytes: first) : MetaPage(index: 1, bytes: second)
        let damagedIndex = 1 - sound.index
        let reason = firstDamage ?? secondDamage ?? ""
        let what = "\(file) is damaged: its header page \(damagedIndex) cannot be used (\(reason))"
        try checkLength(sound)
        // The trees the sound page names must start where it says: a root page carries its own
        // number and is a branch or a leaf page. (The walk at start checks the rest, as always.)
        for root in sound.roots {
            let start = try read(16, at: Int(root) * sound.pageSize)
            let header = MetaPage(index: 0, bytes: start + [UInt8](repeating: 0, count: length - start.count))
            guard header.uint64(0) == root, header.uint16(flagsOffset) & treeFlags != 0, header.uint16(flagsOffset) & metaFlag == 0 else {
                throw StoreError(
                    "\(what), and the trees its other header page \(sound.index) names are damaged too (page \(root) is not the root it should be). Restore the data directory from a backup")
            }
        }
        guard writeError == 0 else {
            throw StoreError(
                "\(what); it can be rebuilt from header page \(sound.index), but \(file) cannot be written: \(String(cString: strerror(writeError)))")
        }
        // The rebuilt page is the sound one's copy, one transaction older, so that LMDB picks
        // the sound one and its next commit writes over the rebuilt one, as it would have.
        var page = [UInt8](repeating: 0, count: sound.pageSize)
        page.replaceSubrange(0..<length, with: sound.bytes)
        withUnsafeBytes(of: UInt64(damagedIndex).littleEndian) { page.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: (sound.transaction > 0 ? sound.transaction - 1 : 0).littleEndian) {
            page.replaceSubrange(transactionOffset..<(transactionOffset + 8), with: $0)
        }
        let written = page.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(damagedIndex * sound.pageSize)) }
        guard written == page.count, fsync(descriptor) == 0 else {
            throw StoreError("\(what), and rebuilding it from header page \(sound.index) failed: \(String(cString: strerror(errno)))")
        }
        return "\(file)'s header page \(damagedIndex) was damaged (\(reason)); it was rebuilt from header page \(sound.index), which describes the last commit whose header was whole (transaction \(sound.transaction)). The store starts from that commit, and the write-ahead log's batches after it are applied as after a crash"
    }

    private func uint16(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
    private func uint32(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) } }
    private func uint64(_ offset: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) } }
}
