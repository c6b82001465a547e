import CLMDB
import Glibc

/// The server's data directory: created if missing, locked against a second server, and home
/// of the LMDB environment whose layout version is checked on every open.
///
/// The job store (issue 3) grows inside this environment; for now it holds the layout record,
/// which is what lets a later version refuse, or migrate, data it does not understand.
public final class DataDirectory: JobStore {
    /// Version of the on-disk layout. Bump it whenever a key or value format changes, and teach
    /// `open` to migrate the previous version (read with the old codec, rewrite with the new,
    /// in one write transaction) before raising it.
    ///
    /// Version 2 added the write-ahead log (`wal-a.log`, `wal-b.log`): a version 1 docketd would ignore it and
    /// lose what it holds, so it must refuse a version 2 directory. Version 3 seals every job
    /// record, payload, queue record and route with a checksum (`SealedValue`). Version 1 and 2
    /// directories are upgraded on open: every value is sealed in one transaction.
    public static let layoutVersion: UInt32 = 3

    public let path: String
    public let syncMode: SyncMode
    private var env: OpaquePointer?
    private var lockDescriptor: Int32 = -1
    /// `data.mdb` itself, locked too: deleting `LOCK` (or LMDB's `lock.mdb`) must not let a
    /// second server in, and the data file is the one thing that cannot go while we hold it.
    private var dataLockDescriptor: Int32 = -1
    private var jobsDB: MDB_dbi = 0
    private var payloadsDB: MDB_dbi = 0
    private var queuesDB: MDB_dbi = 0
    private var routesDB: MDB_dbi = 0
    private var metaDB: MDB_dbi = 0
    /// Bytes in use as of the last commit; written by the commit thread, hence the lock.
    public var usedBytes: Int {
        pthread_mutex_lock(usageLock)
        defer { pthread_mutex_unlock(usageLock) }
        return lastUsedBytes + unappliedBytes
    }
    private var lastUsedBytes = 0
    /// Bytes logged and not yet moved into LMDB by a checkpoint, as estimated for `usedBytes`:
    /// the batches behind them wait in memory until then, so a writer faster than the
    /// checkpoints grows the process by about this much.
    public var checkpointBacklogBytes: Int { withLock(usageLock) { unappliedBytes } }

    /// Whether the checkpoints have stopped on an error: the backlog will not shrink, and the
    /// next commit fails with that error (which stops the server), so no writer should wait.
    public var checkpointsFailed: Bool { checkpointError != nil }

    /// Starts the next checkpoint now rather than at its interval: writers wait for it.
    public func hurryCheckpoint() { checkpointer?.nudge() }
    /// Bytes free on the file system under the directory, as last measured, less what the
    /// store has come to use since: between two measurements (every checkpoint tick,
    /// 100 ms) a burst of writes would otherwise look as if it took no room. Nil until measured.
    public var diskFreeBytes: Int? {
        pthread_mutex_lock(usageLock)
        defer { pthread_mutex_unlock(usageLock) }
        guard let measuredDiskFree else { return nil }
        return measuredDiskFree - max(0, lastUsedBytes + unappliedBytes - usedAtDiskMeasure)
    }
    private var measuredDiskFree: Int?
    private var usedAtDiskMeasure = 0
    /// Allocated apart, like `CommitWriter`'s: a pthread mutex must not move.
    private let usageLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var writer: CommitWriter?
    /// Durable batches not yet in LMDB (see `WriteAheadLog`): the log file being written, the
    /// batches logged since the last checkpoint with their estimated size, and the next
    /// sequence number. The commit thread writes; the checkpoint thread takes the batches and
    /// switches the commit thread to the other file (`spareLog`, whose batches are all in
    /// LMDB); `logLock` keeps the two apart.
    private var log: WriteAheadLog?
    private var spareLog: WriteAheadLog?
    private var nextSequence: UInt64 = 1
    private var unapplied: [(batch: StoreBatch, bytes: Int)] = []
    private let logLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var checkpointer: PeriodicThread?
    /// A checkpoint took several transactions since memory was last trimmed (checkpoint
    /// thread only).
    private var burstApplied = false
    /// An error of the last checkpoint: the next commit fails with it. The batches a checkpoint
    /// could not apply are in the log (under `SyncMode.none` unflushed: safe from a docketd
    /// crash, not from a power loss), and replay on restart tries again.
    private var checkpointError: StoreError? {
        get { withLock(logLock) { storedCheckpointError } }
        set {
            let first = withLock(logLock) { () -> Bool in
                let first = storedCheckpointError == nil && newValue != nil
                storedCheckpointError = newValue
                return first
            }
            if first, let newValue { backgroundFailure?(newValue) }
        }
    }
    /// The first commit that failed after it may have written something (a log record, pages
    /// of a transaction); every later commit fails with it (commit thread only). A later batch
    /// can depend on the failed one (the ACK of a job the failed ENQ made): logged over or after
    /// it, it left a directory that refused to start (a job without its payload) when the first
    /// log flush failed, seen with an injected EIO of that `fdatasync`. And a failed flush is not
    /// retried by the next one: the kernel may have dropped the pages it could not write.
    private var failedWrite: StoreError?
    /// Told, on the checkpoint thread, of the first failure there: the next commit fails
    /// with it, but an idle server may not commit for a long time, and the operator should hear
    /// of a failing disk when it fails. Set before background work starts.
    public var backgroundFailure: (@Sendable (StoreError) -> Void)?
    private var storedCheckpointError: StoreError?
    /// Payloads of unapplied batches, by job id, with the sequence of the batch that wrote each
    /// (a job's payload can be written again, by ENQ `replace=true`, while a checkpoint applies
    /// the batch with the old one): the loop thread reads them while the commit and checkpoint
    /// threads add and drop them, hence the lock.
    private var unappliedPayloads = IDTable<(sequence: UInt64, bytes: [UInt8])>()
    /// Tests only: runs between a checkpoint's transaction and its forgetting the payloads it
    /// applied.
    var checkpointApplied: (() -> Void)?
    private let unappliedLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Bytes the unapplied batches will take in LMDB, estimated as the server estimates.
    private var unappliedBytes = 0
    /// How often logged batches are moved into LMDB.
    public static let checkpointMilliseconds = 100

    /// The loop thread's read-only transaction for payloads. It is renewed by the first read
    /// after a commit completes and reset just before any completion runs, so a read never
    /// sees a snapshot older than the commits the caller has heard of, and never holds back
    /// the writer's page reuse for longer than one commit.
    private var reader: OpaquePointer?
    private var readerIsCurrent = false
    public let capacityBytes: Int
    /// LMDB's map: `capacityBytes`, unless a replay needed more.
    private var mapBytes: Int
    /// What the open found and did that an operator must hear of (damage a salvage dropped, a map
    /// grown for a replay), for the log; empty when nothing was.
    public private(set) var recoveryNotes: [String] = []
    /// What the open did to a damaged meta page of data.mdb (see `MetaPage`), if it did.
    private var rebuiltHeader: String?
    /// What the open did that is worth a line but is no trouble (a layout upgrade).
    public private(set) var openNotes: [String] = []
    /// How many times a server has opened this directory, this one included.
    public private(set) var bootCount: UInt64 = 0

    /// Opens (creating if needed) the data directory at `path`.
    /// - Parameter mapSize: the most bytes LMDB may map; the file is sparse, so this is a cap.
    /// - Parameter salvage: start even though the write-ahead log is damaged, applying every
    ///   valid batch (see `replayLog`); what was lost is in `recoveryNotes`.
    public init(path: String, mapSize: Int = 1 << 30, syncMode: SyncMode = .always, salvage: Bool = false) throws {
        self.path = path
        self.syncMode = syncMode
        self.capacityBytes = mapSize
        self.mapBytes = mapSize
        usageLock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(usageLock, nil)
        unappliedLock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(unappliedLock, nil)
        logLock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(logLock, nil)
        let made = mkdir(path, 0o755) == 0
        if !made && errno != EEXIST {
            throw StoreError("cannot create data directory \(path): \(String(cString: strerror(errno)))")
        }
        // A new directory's own name is durable only once its parent is flushed: without it, a
        // power loss could take the whole directory, every acknowledged job with it, although
        // each of its files was flushed (the power-loss simulator found it). Every start flushes
        // it, since one that crashed after its mkdir left the name in the same state.
        try syncDirectory(containing: path, required: made)
        lockDescriptor = open(path + "/LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockDescriptor >= 0 else {
            throw StoreError("cannot open \(path)/LOCK: \(String(cString: strerror(errno)))")
        }
        // LMDB lets several processes share an environment; two servers on one directory
        // would each believe they own every job, so the second one is refused.
        guard Self.lockSoon(lockDescriptor) else {
            let holder = Self.holderText(lockDescriptor)
            Glibc.close(lockDescriptor)
            lockDescriptor = -1
            throw StoreError("data directory \(path) is in use by another docketd\(holder)")
        }
        dataLockDescriptor = open(path + "/data.mdb", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard dataLockDescriptor >= 0, Self.lockSoon(dataLockDescriptor) else {
            let reason = dataLockDescriptor < 0
                ? "cannot open \(path)/data.mdb: \(String(cString: strerror(errno)))"
                : "data directory \(path) is in use by another docketd\(Self.holderText(dataLockDescriptor)) (its LOCK file was removed)"
            if dataLockDescriptor >= 0 { Glibc.close(dataLockDescriptor) }
            dataLockDescriptor = -1
            Glibc.close(lockDescriptor)
            lockDescriptor = -1
            throw StoreError(reason)
        }
        do {
            try checkDataFileIsNotLost(salvage: salvage)
            try openEnvironment(mapSize: mapSize)
            // The open writes (the boot count, below) before anything else: a map of exactly
            // what data.mdb holds (LMDB's least, given a smaller --max-store) has no room for it.
            try keepRoomToFinishJobs()
            let stored = try checkLayout()
            if stored < 3 { try sealEveryValue(from: stored) }
            do {
                try replayLog(salvage: salvage)
            } catch let error as StoreError where rebuiltHeader != nil {
                // The log does not reach back to the commit the start fell back to: say why it had to.
                throw StoreError("\(rebuiltHeader ?? ""). But \(error.description)", status: error.status)
            }
            if salvage { try dropDamagedValues() }
            // Admission must see the real use from the first command on, not 0 until the
            // first commit measures it.
            var txn: OpaquePointer?
            try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
            lastUsedBytes = measureUse(txn)
            mdb_txn_abort(txn)
            measureDiskFree()
            try keepRoomToFinishJobs()
            try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
            // A value read in a read-only transaction lies in LMDB's map (the layout record is
            // always there): the map is the mapping around it.
            var info = MDB_envinfo()
            var keyBytes = Array("layout_version".utf8)
            var found = MDB_val()
            let status = keyBytes.withUnsafeMutableBytes { key -> Int32 in
                var keyVal = MDB_val(mv_size: key.count, mv_data: key.baseAddress)
                return mdb_get(txn, metaDB, &keyVal, &found)
            }
            if status == 0, mdb_env_info(env, &info) == 0, let inside = found.mv_data {
                mappedRegion = Self.findMapping(containing: inside, size: info.me_mapsize)
            }
            mdb_txn_abort(txn)
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        pthread_mutex_destroy(usageLock)
        usageLock.deallocate()
        pthread_mutex_destroy(unappliedLock)
        unappliedLock.deallocate()
        pthread_mutex_destroy(logLock)
        logLock.deallocate()
    }

    /// Refuses a data.mdb that is empty beside log files.
    ///
    /// An empty data.mdb is a new directory to LMDB. But the log files are made only after
    /// data.mdb's first commits, so with them there, data.mdb was deleted or emptied, and its
    /// jobs are not all in the log: only the batches since the last checkpoints are. Such a directory started as a new one, every
    /// acknowledged job gone and not a word said. `--salvage` goes on with what the log holds.
    private func checkDataFileIsNotLost(salvage: Bool) throws {
        var info = stat()
        guard fstat(dataLockDescriptor, &info) == 0 else {
            throw StoreError("cannot read \(path)/data.mdb: \(String(cString: strerror(errno)))")
        }
        guard info.st_size == 0 else { return }
        let logs = ["wal-a.log", "wal-b.log"].filter { access(path + "/" + $0, F_OK) == 0 }
        guard !logs.isEmpty else { return }
        let finding = "\(path)/data.mdb is missing or empty, but its write-ahead log (\(logs.joined(separator: ", "))) is there: the directory held jobs, and the log holds at most those of the last moments"
        guard salvage else {
            throw StoreError(
                "\(finding). Restore data.mdb from a backup; or start once with --salvage to keep only what the log holds; or, to start over with no jobs, remove wal-a.log and wal-b.log too")
        }
        recoveryNotes.append("salvage: \(finding); only what the log holds is kept")
    }

    private func openEnvironment(mapSize: Int) throws {
        // Also what LMDB would trust blindly: a data.mdb shorter than its own header says would
        // make it read past the end of its mapping (SIGBUS) instead of failing.
        rebuiltHeader = try MetaPage.checkAndRepair(path + "/data.mdb")
        if let rebuiltHeader { recoveryNotes.append(rebuiltHeader) }
        try check(mdb_env_create(&env), "mdb_env_create")
        try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
        try check(mdb_env_set_maxdbs(env, 16), "mdb_env_set_maxdbs")
        // LMDB aborts on a page that is not what it should be. A damaged file ends docketd as
        // every other damage does: one line saying so and what to do, and exit 1, not a signal
        // (what was acknowledged is in the log or data.mdb already; nothing waits on this).
        mdb_env_set_assert(env) { env, message in
            var directory: UnsafePointer<CChar>?
            mdb_env_get_path(env, &directory)
            let path = directory.map { String(cString: $0) } ?? "the data directory"
            let text = message.map { String(cString: $0) } ?? "an assertion failed"
            let line = "docketd: \(DataDirectory.damagedByLMDBMessage(path, text))\n"
            _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
            _exit(1)
        }
        // Every LMDB commit is flushed, under either `SyncMode`: with `MDB_NOSYNC` LMDB writes its
        // meta page in place before the pages it names are on disk, and a power loss that kept
        // the one and not the others left a data.mdb no start could open (the power-loss
        // simulator's crash states). Under `SyncMode.none` only the log goes without flushes.
        try allocateLockFile()
        try check(mdb_env_open(env, path, UInt32(MDB_NOTLS), 0o644), "mdb_env_open")
    }

    /// Gives LMDB's lock.mdb its disk blocks before LMDB maps it. LMDB makes the file with
    /// `ftruncate`, which allocates nothing, then writes it through a shared mapping: on a full
    /// disk the first write into the mapping found no block for its page and the kernel sent
    /// SIGBUS (a new directory on a full tmpfs was refused as "data.mdb is garbled"). Allocated
    /// first, a full disk is an ENOSPC here, with its name. LMDB sizes a new file for its 126
    /// readers at 8 KiB, and takes an existing one as it is.
    private func allocateLockFile() throws {
        let lockPath = path + "/lock.mdb"
        // A file it cannot open is left to LMDB's own open, whose failure the start explains
        // (which user cannot write which file).
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return }
        let status = posix_fallocate(fd, 0, max(info.st_size, 8192))
        guard status == 0 else { throw StoreError("cannot make room for \(lockPath): \(String(cString: strerror(status)))") }
    }

    /// Reads the layout record, writing it on first open, and returns the version found;
    /// refuses a layout it does not know.
    private func checkLayout() throws -> UInt32 {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var committed = false
        defer { if !committed { mdb_txn_abort(txn) } }
        try check(mdb_dbi_open(txn, "meta", UInt32(MDB_CREATE), &metaDB), "mdb_dbi_open meta")
        try check(mdb_dbi_open(txn, "jobs", UInt32(MDB_CREATE), &jobsDB), "mdb_dbi_open jobs")
        try check(mdb_dbi_open(txn, "payloads", UInt32(MDB_CREATE), &payloadsDB), "mdb_dbi_open payloads")
        try check(mdb_dbi_open(txn, "queues", UInt32(MDB_CREATE), &queuesDB), "mdb_dbi_open queues")
        try check(mdb_dbi_open(txn, "routes", UInt32(MDB_CREATE), &routesDB), "mdb_dbi_open routes")
        let dbi = metaDB
        var keyBytes = Array("layout_version".utf8)
        var found = MDB_val()
        let status = keyBytes.withUnsafeMutableBytes { key -> Int32 in
            var keyVal = MDB_val(mv_size: key.count, mv_data: key.baseAddress)
            return mdb_get(txn, dbi, &keyVal, &found)
        }
        func writeCurrentVersion() throws {
            var version = Self.layoutVersion.bigEndian
            try keyBytes.withUnsafeMutableBytes { key throws in
                var keyVal = MDB_val(mv_size: key.count, mv_data: key.baseAddress)
                try withUnsafeMutableBytes(of: &version) { value throws in
                    var valueVal = MDB_val(mv_size: value.count, mv_data: value.baseAddress)
                    try check(mdb_put(txn, dbi, &keyVal, &valueVal, 0), "mdb_put layout_version")
                }
            }
        }
        var stored = Self.layoutVersion
        if status == MDB_NOTFOUND {
            try writeCurrentVersion()
        } else {
            try check(status, "mdb_get layout_version")
            guard found.mv_size == 4 else { throw StoreError("layout record is corrupt in \(path)") }
            stored = UInt32(bigEndian: found.mv_data.loadUnaligned(as: UInt32.self))
            guard (1...Self.layoutVersion).contains(stored) else {
                throw StoreError(
                    "data directory \(path) has layout version \(stored); this docketd reads versions 1 to \(Self.layoutVersion)")
            }
            // Versions 1 and 2 are raised once their values are sealed (`sealEveryValue`).
        }
        // Counted durably before anything is served, so that what is numbered per start (the
        // delivery ids) never repeats, crashes included.
        bootCount = (getMeta(txn, "boot_count") ?? 0) + 1
        try putMeta(txn, "boot_count", bootCount)
        // mdb_txn_commit frees the transaction even when it fails (a full disk): aborting it
        // after that was a double free.
        committed = true
        try check(mdb_txn_commit(txn), "mdb_txn_commit")
        return stored
    }

    /// Upgrades a layout 1 or 2 directory: every job record, payload, queue record and route is
    /// rewritten sealed, and the version raised, in one transaction (a crash meanwhile leaves
    /// the old layout, upgraded again at the next start). Sealing adds four bytes a value: a map
    /// filled to its edge grows for it, as for a replay.
    private func sealEveryValue(from version: UInt32) throws {
        while true {
            do {
                try transaction { txn in
                    for dbi in [jobsDB, payloadsDB, queuesDB, routesDB] { try sealValues(of: dbi, in: txn) }
                    var keyBytes = Array("layout_version".utf8)
                    var version = Self.layoutVersion.bigEndian
                    let status = keyBytes.withUnsafeMutableBytes { key in
                        withUnsafeMutableBytes(of: &version) { value -> Int32 in
                            var keyVal = MDB_val(mv_size: key.count, mv_data: key.baseAddress)
                            var valueVal = MDB_val(mv_size: value.count, mv_data: value.baseAddress)
                            return mdb_put(txn, metaDB, &keyVal, &valueVal, 0)
                        }
                    }
                    try check(status, "mdb_put layout_version")
                }
                openNotes.append("upgraded the data directory from layout version \(version) to \(Self.layoutVersion) (values checksummed)")
                return
            } catch let error as StoreError where error.isMapFull && mapBytes < 1 << 42 {
                mapBytes *= 2
                try check(mdb_env_set_mapsize(env, mapBytes), "mdb_env_set_mapsize")
            }
        }
    }

    /// Seals every value of one database, a chunk at a time: a chunk's entries are copied out,
    /// the cursor closed, and each rewritten with a plain put (rewriting under a live cursor,
    /// with a size change, lost entries on overflow pages).
    private func sealValues(of dbi: MDB_dbi, in txn: OpaquePointer?) throws {
        var resumeAfter: [UInt8]? = nil
        while true {
            var chunk: [(key: [UInt8], value: [UInt8])] = []
            var cursor: OpaquePointer?
            try check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
            var key = MDB_val()
            var value = MDB_val()
            var status: Int32
            if var last = resumeAfter {
                status = last.withUnsafeMutableBytes { raw -> Int32 in
                    key = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
                    return mdb_cursor_get(cursor, &key, &value, MDB_SET)
                }
                if status == 0 { status = mdb_cursor_get(cursor, &key, &value, MDB_NEXT) }
            } else {
                status = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
            }
            // At most 1,024 entries or 16 MiB of values a chunk (payloads can be large).
            var chunkBytes = 0
            while status == 0 && chunk.count < 1024 && chunkBytes < 16 << 20 {
                chunk.append((
                    Array(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)),
                    Array(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))))
                chunkBytes += value.mv_size
                status = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
            }
            mdb_cursor_close(cursor)
            if status != 0 && status != MDB_NOTFOUND { try check(status, "mdb_cursor_get (sealing)") }
            for (entryKey, entryValue) in chunk { try putSealed(txn, dbi, entryKey, entryValue, "mdb_put (sealing)") }
            guard status == 0, let last = chunk.last else { return }
            resumeAfter = last.key
        }
    }

    /// Puts `value` under `key` in `dbi`, sealed; for the few values not written through a
    /// `KeyCursor` (queue records, an upgrade).
    private func putSealed(
        _ txn: OpaquePointer?, _ dbi: MDB_dbi, _ key: [UInt8], _ value: [UInt8], _ operation: @autoclosure () -> String
    ) throws {
        var key = key
        try key.withUnsafeMutableBytes { keyRaw in
            try value.withUnsafeBytes { plain in
                try SealedValue.put(key: UnsafeRawBufferPointer(keyRaw), value: plain) { size in
                    var keyVal = MDB_val(mv_size: keyRaw.count, mv_data: keyRaw.baseAddress)
                    var room = MDB_val(mv_size: size, mv_data: nil)
                    try check(mdb_put(txn, dbi, &keyVal, &room, UInt32(MDB_RESERVE)), operation())
                    return room.mv_data
                }
            }
        }
    }

    /// With `--salvage`: deletes every value whose checksum fails, each noted. A job whose
    /// record is damaged goes with its payload (nothing says what it was); a job whose payload
    /// is damaged keeps its record and is then a job without a payload, which the server marks
    /// dead; a damaged queue record leaves the queue with the default settings (a schedule's,
    /// the schedule gone), and a damaged route goes.
    private func dropDamagedValues() throws {
        try transaction { txn in
            for (dbi, kind) in [(jobsDB, "job"), (payloadsDB, "payload"), (queuesDB, "queue record"), (routesDB, "route")] {
                var damagedKeys: [(key: [UInt8], readable: Bool)] = []
                var cursor: OpaquePointer?
                try check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
                defer { mdb_cursor_close(cursor) }
                var key = MDB_val()
                var value = MDB_val()
                var previous: [UInt8]? = nil
                let limit = dbi == routesDB ? getMeta(txn, "next_route_id") : dbi == queuesDB ? nil : getMeta(txn, "next_job_id")
                var status = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
                while status == 0 {
                    let keyBytes = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
                    guard SealedValue.open(key: keyBytes, stored: value) == nil else {
                        previous = Array(keyBytes)
                        status = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
                        continue
                    }
                    damagedKeys.append((Array(keyBytes), keyIsReadable(keyBytes, dbi, after: previous, cursor: cursor, below: limit)))
                    // Deleted where the cursor stands, not by key: a garbled key sits out of
                    // order, where a lookup by that key finds nothing (the salvage failed with
                    // MDB_NOTFOUND) or finds the sound entry that holds it (which was deleted in
                    // its place, and the damaged one kept). The cursor then stands on the next.
                    try check(mdb_cursor_del(cursor, 0), "mdb_cursor_del (salvage)")
                    status = mdb_cursor_get(cursor, &key, &value, MDB_GET_CURRENT)
                }
                if status != MDB_NOTFOUND { try check(status, "mdb_cursor_get (salvage)") }
                for (var damagedKey, readable) in damagedKeys {
                    try damagedKey.withUnsafeMutableBytes { raw in
                        var keyVal = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
                        // Nothing says what a job with a damaged record was: its payload goes too,
                        // unless a sound record holds the id (the damaged one's key was garbled
                        // into it), whose payload it is.
                        if dbi == jobsDB, mdb_get(txn, jobsDB, &keyVal, &value) == MDB_NOTFOUND {
                            let dropped = mdb_del(txn, payloadsDB, &keyVal, nil)
                            if dropped != MDB_NOTFOUND { try check(dropped, "mdb_del payload (salvage)") }
                        }
                        recoveryNotes.append(
                            "salvage: \(Self.describe(UnsafeRawBufferPointer(raw), kind, readable: readable)) in \(path)/data.mdb failed its checksum and was dropped")
                    }
                }
            }
        }
    }

    /// "job 12", "the payload of job 12", "the queue record emails", "route 3"; for a key that
    /// is not `readable`, "a job record whose key is damaged (key bytes 00 00 … 1e)": a garbled
    /// key read as an id named another job (or none), and the operator went looking for it.
    private static func describe(_ key: UnsafeRawBufferPointer, _ kind: String, readable: Bool = true) -> String {
        let name = kind == "queue record" ? String(validating: Array(key), as: UTF8.self) : nil
        let printable = name.map { !$0.isEmpty && $0.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F } } ?? false
        guard readable, kind == "queue record" ? printable : key.count == 8 else {
            let hex = key.prefix(32).map { byte in String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16) }.joined(separator: " ")
            let whose = ["job": "a job record", "payload": "a payload"][kind] ?? "a \(kind)"
            return "\(whose) whose key is damaged (key bytes \(hex)\(key.count > 32 ? " …" : ""))"
        }
        if let name { return "the queue record \(name)" }
        let id = UInt64(bigEndian: key.loadUnaligned(as: UInt64.self))
        return kind == "payload" ? "the payload of job \(id)" : "\(kind) \(id)"
    }

    /// Whether the key of an entry that failed its checksum reads as the key it was written
    /// under: in order between the sound key before it (`previous`) and the key after it (the
    /// cursor, which stands on the entry, looks and comes back), and, an id, 8 bytes and below
    /// `limit` (the next id to be given). A garbled key keeps its place in the tree, which is
    /// where the entry was written, so it is out of order there (or past every id given).
    private func keyIsReadable(
        _ key: UnsafeRawBufferPointer, _ dbi: MDB_dbi, after previous: [UInt8]?, cursor: OpaquePointer?, below limit: UInt64?
    ) -> Bool {
        if dbi != queuesDB {
            guard key.count == 8 else { return false }
            if let limit, UInt64(bigEndian: key.loadUnaligned(as: UInt64.self)) >= limit { return false }
        }
        if let previous, !previous.lexicographicallyPrecedes(key) { return false }
        var nextKey = MDB_val()
        var nextValue = MDB_val()
        guard mdb_cursor_get(cursor, &nextKey, &nextValue, MDB_NEXT) == 0 else { return true }
        let next = Array(UnsafeRawBufferPointer(start: nextKey.mv_data, count: nextKey.mv_size))
        var here = MDB_val()
        _ = mdb_cursor_get(cursor, &here, &nextValue, MDB_PREV)
        return key.lexicographicallyPrecedes(next)
    }

    /// The error for a value that fails its checksum: the start stops before trusting it.
    public static func damagedPayloadMessage(_ path: String, job id: UInt64) -> String {
        var key = id.bigEndian
        return withUnsafeBytes(of: &key) { damagedMessage(path, $0, "payload") }
    }

    private static func damagedMessage(_ path: String, _ key: UnsafeRawBufferPointer, _ kind: String, readable: Bool = true) -> String {
        "\(path)/data.mdb is damaged: \(describe(key, kind, readable: readable)) fails its checksum. Restore the data directory from a backup; only without one, start once with --salvage to drop what is damaged (each is logged; a job whose payload is damaged becomes dead)"
    }

    private func damaged(_ key: UnsafeRawBufferPointer, _ kind: String, readable: Bool = true) -> StoreError {
        StoreError(Self.damagedMessage(path, key, kind, readable: readable))
    }

    /// A B-tree whose walk does not add up: records it hides are not there to drop, so not
    /// even --salvage can start from it.
    private func damagedTree(_ database: String, _ finding: String) -> StoreError {
        StoreError("\(path)/data.mdb is damaged: a page of its \(database) database points to the wrong place (\(finding)). Restore the data directory from a backup: the records such a page hides cannot be read, so --salvage cannot start from it either")
    }

    /// Writes a layout version directly, to test that an unknown one is refused.
    public static func overwriteLayoutVersionForTesting(path: String, version: UInt32) throws {
        var env: OpaquePointer?
        mdb_env_create(&env)
        mdb_env_set_maxdbs(env, 16)
        defer { mdb_env_close(env) }
        guard mdb_env_open(env, path, UInt32(MDB_NOTLS), 0o644) == 0 else { throw StoreError("cannot open \(path)") }
        var txn: OpaquePointer?
        mdb_txn_begin(env, nil, 0, &txn)
        var dbi: MDB_dbi = 0
        mdb_dbi_open(txn, "meta", 0, &dbi)
        var key = Array("layout_version".utf8)
        var value = version.bigEndian
        key.withUnsafeMutableBytes { keyRaw in
            withUnsafeMutableBytes(of: &value) { valueRaw in
                var keyVal = MDB_val(mv_size: keyRaw.count, mv_data: keyRaw.baseAddress)
                var valueVal = MDB_val(mv_size: 4, mv_data: valueRaw.baseAddress)
                _ = mdb_put(txn, dbi, &keyVal, &valueVal, 0)
            }
        }
        guard mdb_txn_commit(txn) == 0 else { throw StoreError("commit failed") }
    }

    // MARK: JobStore

    public func load(jobs visit: (StoredJobRecord) throws -> Void) throws -> StoredState {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
        defer { mdb_txn_abort(txn) }
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, jobsDB, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        // A job's payload is under the same key, so one cursor per database walking side by
        // side finds each payload's size without a lookup (and without reading it).
        var payloadCursor: OpaquePointer?
        try check(mdb_cursor_open(txn, payloadsDB, &payloadCursor), "mdb_cursor_open payloads")
        defer { mdb_cursor_close(payloadCursor) }
        var key = MDB_val()
        var value = MDB_val()
        var payloadKey = MDB_val()
        var payload = MDB_val()
        var status = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
        var payloadStatus = mdb_cursor_get(payloadCursor, &payloadKey, &payload, MDB_FIRST)
        var walked = 0
        var previousID: UInt64 = 0
        let nextJobID = getMeta(txn, "next_job_id")
        while status == 0 {
            // Written 8 bytes long and sealed with its value: any other length is damage, which
            // the checksum also sees (and --salvage drops).
            guard key.mv_size == 8 else { throw damaged(UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size), "job", readable: false) }
            let id = UInt64(bigEndian: key.mv_data.loadUnaligned(as: UInt64.self))
            // Skip payloads without a job (none should exist); a job may have none (completed).
            while payloadStatus == 0, payloadKey.mv_size == 8,
                UInt64(bigEndian: payloadKey.mv_data.loadUnaligned(as: UInt64.self)) < id
            {
                payloadStatus = mdb_cursor_get(payloadCursor, &payloadKey, &payload, MDB_NEXT)
            }
            let hasPayload = payloadStatus == 0 && payloadKey.mv_size == 8
                && UInt64(bigEndian: payloadKey.mv_data.loadUnaligned(as: UInt64.self)) == id
            let keyBytes = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
            guard let record = SealedValue.open(key: keyBytes, stored: value) else {
                let previous = walked == 0 ? nil : withUnsafeBytes(of: previousID.bigEndian) { Array($0) }
                throw damaged(keyBytes, "job", readable: keyIsReadable(keyBytes, jobsDB, after: previous, cursor: cursor, below: nextJobID))
            }
            // The records' checksums cannot see a damaged branch page: pointing at another
            // subtree, it shows that one twice, out of order, and hides its own records. (A
            // garbled key is out of order too, but fails its checksum above: --salvage drops it.)
            guard walked == 0 || id > previousID else { throw damagedTree("jobs", "job \(id) follows job \(previousID)") }
            previousID = id
            // Not where the walk is: finished jobs have none, but a garbled key can also throw
            // the walk off its order, so the payload is looked up before it counts as lost.
            // Payloads are checked here too: one found damaged only when its job is delivered
            // would end docketd then, and again after every restart.
            var found: MDB_val? = hasPayload ? payload : nil
            if !hasPayload {
                var lookedUp = MDB_val()
                if mdb_get(txn, payloadsDB, &key, &lookedUp) == 0 { found = lookedUp }
            }
            let sealed = found.map { SealedValue.open(key: keyBytes, stored: $0) }
            try visit(StoredJobRecord(
                id: id, record: record, payloadSize: found.map { SealedValue.valueSize($0.mv_size) },
                payloadDamaged: sealed.map { $0 == nil } ?? false))
            // As it goes, so that the walk's peak stays low too.
            walked += 1
            if walked % 65536 == 0 { releaseMappedPages() }
            status = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        releaseMappedPages()
        guard status == MDB_NOTFOUND else { try check(status, "mdb_cursor_get"); return StoredState(nextID: 1, nextRouteID: 1, queues: [], routes: []) }
        // The count in the database's root, kept by every commit, against what the walk found.
        var jobsStat = MDB_stat()
        try check(mdb_stat(txn, jobsDB, &jobsStat), "mdb_stat jobs")
        guard Int(jobsStat.ms_entries) == walked else {
            throw damagedTree("jobs", "it holds \(jobsStat.ms_entries) job records, and reading it found \(walked)")
        }
        var routes: [(id: UInt64, bytes: [UInt8])] = []
        var routeCursor: OpaquePointer?
        try check(mdb_cursor_open(txn, routesDB, &routeCursor), "mdb_cursor_open routes")
        defer { mdb_cursor_close(routeCursor) }
        status = mdb_cursor_get(routeCursor, &key, &value, MDB_FIRST)
        while status == 0 {
            let keyBytes = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
            guard key.mv_size == 8 else { throw damaged(keyBytes, "route", readable: false) }
            guard let route = SealedValue.open(key: keyBytes, stored: value) else {
                let readable = keyIsReadable(keyBytes, routesDB, after: routes.last.map { withUnsafeBytes(of: $0.id.bigEndian) { Array($0) } },
                    cursor: routeCursor, below: getMeta(txn, "next_route_id"))
                throw damaged(keyBytes, "route", readable: readable)
            }
            routes.append((UInt64(bigEndian: key.mv_data.loadUnaligned(as: UInt64.self)), Array(route)))
            status = mdb_cursor_get(routeCursor, &key, &value, MDB_NEXT)
        }
        return StoredState(
            nextID: getMeta(txn, "next_job_id") ?? 1, nextRouteID: getMeta(txn, "next_route_id") ?? 1,
            queues: try queueRecords(txn), routes: routes)
    }

    /// Every queue's stored record, by name (also part of `load`'s result; read first by a
    /// recovery that needs the settings before the jobs).
    public func loadQueueRecords() throws -> [(name: String, bytes: [UInt8])] {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
        defer { mdb_txn_abort(txn) }
        return try queueRecords(txn)
    }

    private func queueRecords(_ txn: OpaquePointer?) throws -> [(name: String, bytes: [UInt8])] {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(txn, queuesDB, &cursor), "mdb_cursor_open queues")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var value = MDB_val()
        var queues: [(name: String, bytes: [UInt8])] = []
        var status = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
        while status == 0 {
            let keyBytes = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
            guard let record = SealedValue.open(key: keyBytes, stored: value) else {
                let readable = keyIsReadable(keyBytes, queuesDB, after: queues.last.map { Array($0.name.utf8) }, cursor: cursor, below: nil)
                throw damaged(keyBytes, "queue record", readable: readable)
            }
            queues.append((String(decoding: keyBytes, as: UTF8.self), Array(record)))
            status = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        guard status == MDB_NOTFOUND else { try check(status, "mdb_cursor_get queues"); return queues }
        return queues
    }

    /// Every stored job at once, with copies of its record; for tests and tools.
    public func loadJobs() throws -> (records: [(id: UInt64, record: [UInt8], payloadSize: Int?)], state: StoredState) {
        var records: [(id: UInt64, record: [UInt8], payloadSize: Int?)] = []
        let state = try load { records.append(($0.id, Array($0.record), $0.payloadSize)) }
        return (records, state)
    }

    /// Payloads are read on the loop's thread in a read-only transaction of their own, which
    /// LMDB runs alongside the commit thread's writes; the handle is kept and renewed per read.
    public func readPayload(_ id: UInt64, completion: @escaping (Result<[UInt8], StoreError>) -> Void) {
        completion(readPayloadNow(id))
    }

    public func withPayloadAtOnce(_ id: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) -> Result<Void, StoreError>? {
        withPayloadNow(id, body)
    }

    private func readPayloadNow(_ id: UInt64) -> Result<[UInt8], StoreError> {
        var payload: [UInt8] = []
        return withPayloadNow(id) { payload = Array($0) }.map { payload }
    }

    private func withPayloadNow(_ id: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) -> Result<Void, StoreError> {
        pthread_mutex_lock(unappliedLock)
        let unappliedPayload = unappliedPayloads[id]?.bytes
        pthread_mutex_unlock(unappliedLock)
        if let unappliedPayload {
            unappliedPayload.withUnsafeBytes(body)
            return .success(())
        }
        var found = withStoredPayload(id, body)
        if found == .missing {
            // A checkpoint may have moved it into LMDB after this snapshot was taken.
            resetReader()
            found = withStoredPayload(id, body)
        }
        switch found {
        case .read: return .success(())
        case .missing: return .failure(StoreError("the payload of job \(id) is not in \(path)"))
        case .damaged:
            var key = id.bigEndian
            return .failure(withUnsafeBytes(of: &key) { damaged($0, "payload") })
        }
    }

    private enum PayloadRead { case read, missing, damaged }

    /// Calls `body` with the stored payload, in LMDB's map (valid until the reader is reset,
    /// which only this thread does), once its checksum matched.
    private func withStoredPayload(_ id: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) -> PayloadRead {
        if readerIsCurrent {
            // Still the snapshot of the newest completed commit.
        } else if let reader {
            guard mdb_txn_renew(reader) == 0 else { return .missing }
            readerIsCurrent = true
        } else {
            guard mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &reader) == 0 else { return .missing }
            readerIsCurrent = true
        }
        var key = id.bigEndian
        return withUnsafeMutableBytes(of: &key) { keyRaw in
            var keyVal = MDB_val(mv_size: 8, mv_data: keyRaw.baseAddress)
            var found = MDB_val()
            guard mdb_get(reader, payloadsDB, &keyVal, &found) == 0 else { return .missing }
            guard let payload = SealedValue.open(key: UnsafeRawBufferPointer(keyRaw), stored: found) else { return .damaged }
            body(payload)
            return .read
        }
    }

    /// Commits from now on run on a thread of their own (see `CommitWriter`); completions then
    /// run from `runFinishedCommits()`, which the owner calls when `completionDescriptor` is
    /// readable. Without this, `commit` completes before it returns.
    /// - Parameter checkpoints: false leaves logged batches in the log until `close`, so that
    ///   tests can abandon the directory with everything still to replay.
    public func startBackgroundCommits(checkpoints: Bool = true) throws {
        guard writer == nil else { return }
        writer = try CommitWriter { [unowned self] batches in commitNow(batches) }
        if syncMode == .always && checkpoints {
            checkpointer = try PeriodicThread(name: "checkpoint", intervalMilliseconds: Self.checkpointMilliseconds) { [unowned self] in
                checkpointRecordingErrors()
            }
        }
    }

    /// Readable when background commits have completions to run; -1 without background commits.
    public var completionDescriptor: Int32 { writer?.readDescriptor ?? -1 }

    /// Runs the completions of finished background commits, in order.
    public func runFinishedCommits() {
        resetReader()
        writer?.runFinished()
    }

    private func resetReader() {
        guard readerIsCurrent else { return }
        mdb_txn_reset(reader)
        readerIsCurrent = false
    }

    /// Blocks until at least one background commit has finished, then runs the completions.
    public func waitForCommits() {
        guard let writer else { return }
        var poller = pollfd(fd: writer.readDescriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&poller, 1, -1)
        resetReader()
        writer.runFinished()
    }

    public func commit(_ batch: StoreBatch, completion: @escaping (Result<Void, StoreError>) -> Void) {
        if let writer {
            writer.submit(batch, completion)
        } else {
            let result = commitNow([batch])
            resetReader()
            completion(result)
        }
    }

    private func commitNow(_ batches: [StoreBatch]) -> Result<Void, StoreError> {
        if let checkpointError { return .failure(checkpointError) }
        if let failedWrite { return .failure(failedWrite) }
        do {
            try appendToLog(batches)
            if writer == nil && checkpointer == nil { try checkpoint() }  // no thread to do it later
            return .success(())
        } catch let error as StoreError {
            // A batch refused for want of room wrote nothing, and the store takes what fits.
            if !error.isMapFull { failedWrite = error }
            return .failure(error)
        } catch {
            failedWrite = StoreError("\(error)")
            return .failure(failedWrite!)
        }
    }

    /// Runs `body` in a write transaction, records the space in use and commits; LMDB flushes
    /// before `mdb_txn_commit` returns. `applying` is the
    /// estimate of logged batches the transaction moves into LMDB: it leaves `unappliedBytes`
    /// in the same step as the measured use replaces it, so that `usedBytes` never counts
    /// them twice (the commit thread read such a moment as a full map and the server exited).
    private func transaction(applying estimate: Int = 0, flags: UInt32 = 0, _ body: (OpaquePointer?) throws -> Void) throws {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, flags, &txn), "mdb_txn_begin")
        var committed = false
        defer { if !committed { mdb_txn_abort(txn) } }
        try body(txn)
        let used = measureUse(txn)
        committed = true  // freed by mdb_txn_commit whatever it returns
        try check(mdb_txn_commit(txn), "mdb_txn_commit")
        pthread_mutex_lock(usageLock)
        lastUsedBytes = used
        unappliedBytes -= estimate
        pthread_mutex_unlock(usageLock)
    }

    /// Applies logged `batches`, leaving LMDB as if each had been applied in turn, in write
    /// transactions of at most `transactionBytes` (estimated) each; the last one also writes
    /// every batch's settings and whatever `finishing` writes (the checkpoint's sequence).
    ///
    /// Jobs and payloads are written once per key, with the last change the batches make to it,
    /// in ascending key order through one cursor per database. A checkpoint carries every batch
    /// of its 100 ms: a job enqueued, run and forgotten within them (common under load: in the
    /// 16x8 job cycle a job lives about 15 ms) wrote its payload and record, rewrote the record
    /// when it started and finished, and deleted both, and now costs LMDB nothing at all.
    ///
    /// A crash between two of the transactions leaves some last changes applied and the
    /// sequence not yet moved on, so the next start replays the same batches again: writing a
    /// key's last value and deleting a key are the same done twice. `estimate` (of the bytes the
    /// batches take, see `transaction`) is handed over a share per transaction.
    @discardableResult
    private func applyLogged(
        _ batches: [StoreBatch], applying estimate: Int = 0, finishing: (OpaquePointer?) throws -> Void
    ) throws -> Int {
        var records: [KeyChange] = []
        records.reserveCapacity(batches.reduce(0) { $0 + $1.puts.count + $1.deletes.count })
        var payloads: [KeyChange] = []
        payloads.reserveCapacity(batches.reduce(0) { $0 + $1.payloads.count + $1.payloadDeletes.count })
        for (number, batch) in batches.enumerated() {
            let batchNumber = UInt32(number)
            // Within a batch, writes come before deletes (as the server stages them).
            for (index, put) in batch.puts.enumerated() {
                records.append(KeyChange(id: put.id, order: UInt32(records.count), batch: batchNumber, index: Int32(index)))
            }
            for id in batch.deletes { records.append(KeyChange(id: id, order: UInt32(records.count), batch: batchNumber, index: -1)) }
            for (index, payload) in batch.payloads.enumerated() {
                payloads.append(KeyChange(id: payload.id, order: UInt32(payloads.count), batch: batchNumber, index: Int32(index)))
            }
            for id in batch.payloadDeletes { payloads.append(KeyChange(id: id, order: UInt32(payloads.count), batch: batchNumber, index: -1)) }
        }
        KeyChange.keepLast(&payloads)
        KeyChange.keepLast(&records)
        // Each batch is reached through `batches[…]` in place, never bound to a local: a copy of
        // the struct retained and released its seven arrays, about 1,000 instructions per job
        // cycle in callgrind.
        let weigh = { (change: KeyChange, values: Bool) -> Int in
            guard change.index >= 0 else { return Self.changeOverheadBytes }
            let count = values
                ? batches[Int(change.batch)].payloads[Int(change.index)].bytes.count
                : batches[Int(change.batch)].puts[Int(change.index)].bytes.count
            // A value larger than a page goes to pages of its own, which LMDB frees after the
            // commit instead of keeping: only its leaf entry counts.
            return (count > Self.largestKeptValue ? 0 : count) + Self.changeOverheadBytes
        }
        let plan = Self.splitIntoTransactions(
            payloads: payloads.map { weigh($0, true) }, records: records.map { weigh($0, false) },
            limit: transactionBytes)
        var handedOver = 0
        for (number, part) in plan.parts.enumerated() {
            let last = number == plan.parts.count - 1
            let share = last ? estimate - handedOver : Int((Double(estimate) * Double(part.weight) / Double(max(plan.weight, 1))).rounded(.down))
            handedOver += share
            // Only the last transaction's meta page must reach the disk before it returns: the
            // others' data is flushed, so a crash loses at most their meta page, and LMDB then
            // opens the one before (the replay redoes what it lost).
            try transaction(applying: share, flags: last ? 0 : UInt32(MDB_NOMETASYNC)) { txn in
                try applyLastChanges(payloads[part.payloads], to: payloadsDB, "payload", in: txn) { change, cursor in
                    try batches[Int(change.batch)].payloads[Int(change.index)].bytes.withUnsafeBytes { try cursor.put(change.id, $0) }
                }
                try applyLastChanges(records[part.records], to: jobsDB, "job", in: txn) { change, cursor in
                    let range = batches[Int(change.batch)].puts[Int(change.index)].bytes
                    try batches[Int(change.batch)].records.withUnsafeBytes { bytes in
                        try cursor.put(change.id, UnsafeRawBufferPointer(rebasing: bytes[range]))
                    }
                }
                guard last else { return }
                for batch in batches { try applySettings(of: batch, in: txn) }
                try finishing(txn)
            }
            if !last { try partCommitted?(number + 1) }
        }
        transactionsOfLastApply = plan.parts.count
        return plan.parts.count
    }

    /// The most one transaction of `applyLogged` writes, in bytes of values and their overhead.
    /// LMDB keeps every single page a write transaction dirtied on a list of its own, for reuse,
    /// until the environment closes: a checkpoint applying a bulk load's 100 ms in one
    /// transaction (about 25 MB of pages at 700k jobs/s) held that much of the server's memory
    /// for good. Each transaction but the last costs a flush of data.mdb more.
    /// Tests set it lower, to see a checkpoint split.
    var transactionBytes = 4 << 20
    /// Tests only: runs after each transaction of a split checkpoint or replay but the last,
    /// with how many have committed; what it throws ends the checkpoint there, as a crash would.
    var partCommitted: ((Int) throws -> Void)?
    /// Tests only: how many transactions the last checkpoint or replay took.
    private(set) var transactionsOfLastApply = 0
    /// What a change costs beyond its value's bytes: key, node header, and the slack of
    /// half-full pages; a delete costs this alone.
    static let changeOverheadBytes = 64
    /// The largest value (before its seal) whose dirty page LMDB keeps: one that fits a 4 KiB
    /// page with its header. A larger one spans several overflow pages, which LMDB frees after
    /// the commit, so splitting a checkpoint over such values would only add flushes (4 KB
    /// payloads, durable enqueues: 20 % slower with every 4 MiB of them split off).
    static let largestKeptValue = 4_096 - 16 - SealedValue.overhead

    /// What a value too large for a leaf page takes in data.mdb: whole overflow pages of its
    /// own, about its size and not the twice its size that estimates of small values (which
    /// share leaf pages that splits leave half full) count. nil for a small value. Counting a
    /// 1 MB payload twice refused ENQs as 89 % full while the store held 14 %, until the
    /// checkpoint measured the truth.
    public static func overflowBytes(ofValue size: Int) -> Int? {
        guard size > largestKeptValue else { return nil }
        return (size + SealedValue.overhead + 16 + 4_095) / 4_096 * 4_096
    }

    /// The ranges of `payloads` and `records` (weights of changes, in the order they are applied:
    /// payloads first) that each transaction applies, so that none weighs much over `limit`
    /// (a single change heavier than it goes alone). Always at least one part, so that the
    /// settings and the sequence are written even when no job changed.
    static func splitIntoTransactions(payloads: [Int], records: [Int], limit: Int)
        -> (parts: [(payloads: Range<Int>, records: Range<Int>, weight: Int)], weight: Int)
    {
        var parts: [(payloads: Range<Int>, records: Range<Int>, weight: Int)] = []
        var current = (payloads: 0..<0, records: 0..<0, weight: 0)
        var total = 0
        func add(_ weight: Int, _ extend: (inout (payloads: Range<Int>, records: Range<Int>, weight: Int)) -> Void) {
            if current.weight > 0 && current.weight + weight > limit {
                parts.append(current)
                current = (payloads: current.payloads.upperBound..<current.payloads.upperBound,
                           records: current.records.upperBound..<current.records.upperBound, weight: 0)
            }
            extend(&current)
            current.weight += weight
            total += weight
        }
        for weight in payloads { add(weight) { $0.payloads = $0.payloads.lowerBound..<($0.payloads.upperBound + 1) } }
        for weight in records { add(weight) { $0.records = $0.records.lowerBound..<($0.records.upperBound + 1) } }
        parts.append(current)
        return (parts, total)
    }

    /// Writes what `batch` changes besides jobs and payloads: routes, queue settings, schedules
    /// and the next ids.
    private func applySettings(of batch: StoreBatch, in txn: OpaquePointer?) throws {
        if !batch.routes.isEmpty {
            let routes = try KeyCursor(txn, routesDB, "route", check)
            defer { routes.close() }
            for (id, bytes) in batch.routes {
                if let bytes { try bytes.withUnsafeBytes { try routes.put(id, $0) } } else { try routes.delete(id) }
            }
        }
        for (name, bytes) in batch.queues {
            var nameBytes = Array(name.utf8)
            // No bytes: the queue was forgotten, and its record goes.
            if bytes.isEmpty {
                let status = nameBytes.withUnsafeMutableBytes { keyRaw -> Int32 in
                    var keyVal = MDB_val(mv_size: keyRaw.count, mv_data: keyRaw.baseAddress)
                    return mdb_del(txn, queuesDB, &keyVal, nil)
                }
                if status != MDB_NOTFOUND { try check(status, "mdb_del queue \(name)") }
                continue
            }
            try putSealed(txn, queuesDB, nameBytes, bytes, "mdb_put queue \(name)")
        }
        if let nextID = batch.nextID { try putMeta(txn, "next_job_id", nextID) }
        if let nextRouteID = batch.nextRouteID { try putMeta(txn, "next_route_id", nextRouteID) }
    }

    /// One change to a key of the jobs or payloads database: a write (`index` into its batch's
    /// list) or a delete (`index` -1), `order` being when the batches made it.
    /// Applies `changes` (one per key, in ascending key order) to database `dbi` through one
    /// cursor; `write` writes a change that is not a delete.
    private func applyLastChanges(
        _ changes: ArraySlice<KeyChange>, to dbi: MDB_dbi, _ kind: String, in txn: OpaquePointer?,
        write: (KeyChange, KeyCursor) throws -> Void
    ) throws {
        guard !changes.isEmpty else { return }
        let cursor = try KeyCursor(txn, dbi, kind, check)
        defer { cursor.close() }
        // A key above this was not there when the transaction began: its delete has nothing to
        // do. (An earlier transaction of the same checkpoint never wrote a key this one deletes:
        // each key has one change.)
        let highest = try cursor.highestKey()
        for change in changes {
            if change.index >= 0 {
                try write(change, cursor)
            } else if let highest, change.id <= highest {
                try cursor.delete(change.id)
            }
        }
    }

    // MARK: Write-ahead log

    /// Writes `batches` to the log, in order, with one flush (none under `SyncMode.none`); LMDB
    /// gets them at the next checkpoint.
    private func appendToLog(_ batches: [StoreBatch]) throws {
        // Once logged, a batch is acknowledged and must reach LMDB, so batches that might not
        // fit are refused here, before they become durable. As the server estimates staged
        // bytes: small values take about twice their bytes in B-tree pages, large ones their
        // overflow pages.
        func cost(_ size: Int) -> Int { Self.overflowBytes(ofValue: size).map { $0 + 128 } ?? 2 * (size + 64) }
        let sizes = batches.map { batch in
            batch.payloads.reduce(2 * (batch.records.count + 64 * batch.puts.count)) { $0 + cost($1.bytes.count) }
                + batch.queues.reduce(0) { $0 + cost($1.bytes.count) }  // schedules hold payloads
        }
        let bytes = sizes.reduce(0, +)
        let inUse = usedBytes
        guard inUse + bytes <= mapBytes else {
            throw StoreError(
                "MDB_MAP_FULL: a batch of about \(bytes) bytes would not fit in \(path) (\(inUse) of \(mapBytes) bytes in use); nothing of it was written",
                status: MDB_MAP_FULL)
        }
        // The lock is held across the flush so that a checkpoint never switches files between
        // a batch's write and its entry in `unapplied`.
        pthread_mutex_lock(logLock)
        defer { pthread_mutex_unlock(logLock) }
        guard let log else { throw StoreError("the write-ahead log of \(path) is not open") }
        let sequence = nextSequence
        try log.append(sequence: sequence, batches: batches, flush: syncMode == .always)
        nextSequence += 1
        unapplied.append(contentsOf: zip(batches, sizes).map { ($0, $1) })
        withLock(unappliedLock) {
            for batch in batches {
                for (id, payload) in batch.payloads { unappliedPayloads[id] = (sequence, payload) }
                for id in batch.payloadDeletes { unappliedPayloads[id] = nil }
            }
        }
        withLock(usageLock) { unappliedBytes += bytes }
    }

    /// Returns true when the checkpoint took several transactions: a burst is going on, and the
    /// next checkpoint comes sooner (see `PeriodicThread`), so that fewer batches wait for it in
    /// memory (a million-job durable fill: 202-207 MB right after the last `+OK` without this,
    /// 165-168 MB with it).
    private func checkpointRecordingErrors() -> Bool {
        measureDiskFree()
        guard checkpointError == nil else { return false }
        do {
            let transactions = try checkpoint()
            if transactions > 0 { withLock(usageLock) { completedCheckpoints += 1 } }
            if transactions > 1 {
                burstApplied = true
                return true
            } else if burstApplied {
                // The burst is over (a bulk load): what it held until its checkpoints (batches,
                // payloads, the checkpoints' own lists) is free now, but in holes between the
                // jobs that stay, which malloc keeps as the process's memory until asked.
                // Once per burst, not per checkpoint: a trim takes each heap's lock in turn, and
                // the loop's allocations may wait for it (5 ms after a million-job fill).
                burstApplied = false
                HeapMemory.trim()
            }
        } catch let error as StoreError {
            checkpointError = error
        } catch {
            checkpointError = StoreError("\(error)")
        }
        return false
    }

    /// Moves every logged batch into LMDB in one durable transaction that also records the
    /// last one's sequence. Writes go on meanwhile, into the other log file; this one becomes
    /// the spare once LMDB has its batches. If the transaction fails, the file keeps them (replay
    /// applies them on the next start), and so does memory.
    /// Returns how many transactions it took (0: nothing was logged since the last one).
    @discardableResult
    private func checkpoint() throws -> Int {
        guard let next = spareLog, !withLock(logLock, { unapplied.isEmpty }) else { return 0 }
        next.rewind()
        pthread_mutex_lock(logLock)
        let batches = unapplied
        let last = nextSequence - 1
        let old = log
        log = next
        spareLog = nil
        unapplied.removeAll()
        pthread_mutex_unlock(logLock)
        let bytes = batches.reduce(0) { $0 + $1.bytes }
        let transactions = try applyLogged(batches.map(\.batch), applying: bytes) { txn in
            try putMeta(txn, "applied_sequence", last)
            // Batches logged into the other file meanwhile are durable already: a start that
            // finds fewer knows the log lost some (it was cut, zeroed or replaced).
            try putMeta(txn, "logged_through", withLock(logLock) { nextSequence - 1 })
            // A file grows past its first size under a burst and keeps what it reached; a
            // start that finds it shorter knows it was cut. Under `SyncMode.none` no append made
            // that size durable: the flush here does, before the size is recorded.
            for file in [old, next].compactMap({ $0 }) {
                let size = file.size
                guard size > WriteAheadLog.preallocatedBytes else { continue }
                if syncMode == .none { try file.flush() }
                try putMeta(txn, Self.sizeKey(file.name), UInt64(size))
            }
        }
        // The next checkpoint writes over `old`, whose batches only this commit holds.
        try settleBothMetaPages(loggedThrough: withLock(logLock) { nextSequence - 1 })
        checkpointApplied?()
        releaseMappedPages()
        spareLog = old
        // A payload a later batch wrote again is not in LMDB yet: it stays.
        withLock(unappliedLock) {
            for (batch, _) in batches {
                for (id, _) in batch.payloads where unappliedPayloads[id].map({ $0.sequence <= last }) == true {
                    unappliedPayloads[id] = nil
                }
            }
            // A burst (a bulk load) can grow the table to hundreds of thousands of entries; a
            // table keeps its size when emptied, so it is given up once nothing is left.
            if unappliedPayloads.isEmpty && unappliedPayloads.capacity > 16 { unappliedPayloads = IDTable() }
        }
        return transactions
    }

    /// Applies what the log files hold beyond the last checkpoint, then starts writing the
    /// first of them from its beginning.
    ///
    /// A log never silently comes up short: a missing or cut file, a damaged record with valid
    /// newer ones after it, or fewer batches than the last checkpoint saw logged, all refuse the
    /// start with a message that names the file, the offset and the batches at stake. With
    /// `salvage`, every valid batch is applied in order, what was lost is listed in
    /// `recoveryNotes`, and the start goes on.
    private func replayLog(salvage: Bool) throws {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
        let checkpointed = getMeta(txn, "applied_sequence")
        let applied = checkpointed ?? 0
        // Batches the last checkpoint knew were durable in the log; at least these must be there.
        let loggedThrough = getMeta(txn, "logged_through") ?? applied
        let names = ["wal-a.log", "wal-b.log"]
        // The sizes the files had grown to at the last checkpoint (absent: never grown).
        let grownSizes = names.map { name in getMeta(txn, Self.sizeKey(name)).map(Int.init) ?? 0 }
        // Absent in directories older than the key: taken as logged, the careful reading.
        let lastStart = getMeta(txn, Self.lastStartLoggedKey)
        let lastStartLogged = lastStart != 0
        // The last start logged without flushes (`SyncMode.none`): only its checkpoints are sure
        // to be on disk, and a power loss may have kept any part of what it logged after the
        // last one (a torn record, whole ones after it, none at all). Such a log is read up to
        // its first gap, and the rest is dropped: the store is as it was at that batch, a moment
        // after the last checkpoint, never a mix.
        let unflushed = lastStart == Self.loggedUnflushed
        mdb_txn_abort(txn)
        var problems: [String] = []
        var files: [WriteAheadLog] = []
        var remade: [WriteAheadLog] = []
        for (name, grownTo) in zip(names, grownSizes) {
            let file = try WriteAheadLog(path: path + "/" + name)
            if !file.existed && checkpointed != nil && !lastStartLogged {
                // The last start applied the whole log and, under --sync none, wrote nothing
                // to it after: the file held nothing that is not in data.mdb.
                recoveryNotes.append(
                    "\(file.path) was missing; the last start ran with --sync none, which writes no log, so it held nothing (a new empty one was made)")
                remade.append(file)
            } else if !file.existed && checkpointed != nil {
                problems.append("\(file.path) was missing (a new empty one was made)")
            } else if file.size < WriteAheadLog.preallocatedBytes {
                problems.append("\(file.path) is \(file.size) bytes, shorter than the \(WriteAheadLog.preallocatedBytes) it was made with: it was cut")
            } else if file.size < grownTo {
                problems.append("\(file.path) is \(file.size) bytes, shorter than the \(grownTo) it had grown to: it was cut")
            }
            files.append(file)
        }
        var pending: [(sequence: UInt64, body: [UInt8], path: String)] = []
        // A file this open made holds only the zeros it wrote: nothing to read. Its stray-record
        // scan looks at every one of its 2 MiB of offsets: 110-140 ms of a new directory's start
        // in a debug build, twice, which the test suites pay for each of their servers.
        for file in files where file.existed {
            let (records, end) = try file.readRecords()
            for record in records where record.sequence > applied { pending.append((record.sequence, record.body, file.path)) }
            let floor = max(applied, records.last?.sequence ?? 0)
            let stray = try file.strayRecords(from: end, after: floor)
            if !stray.isEmpty && unflushed {
                // Past a gap: dropped below with the rest of the tail.
                for record in stray { pending.append((record.sequence, record.body, file.path)) }
            } else if let first = stray.first {
                problems.append(
                    "\(file.path) has a damaged record at offset \(end), and \(stray.count) valid newer batch(es) after it (from batch \(first.sequence) at offset \(first.offset))")
                for record in stray { pending.append((record.sequence, record.body, file.path)) }
            } else if try file.holdsBrokenRecord(at: end, after: floor) {
                // Most often a flush a crash interrupted, never acknowledged; but a record
                // damaged after its flush reads the same, so the operator hears of it.
                let why = unflushed
                    ? "taken for a write the machine stopped before it reached the disk (the last start ran with --sync none, whose log is not flushed: the batch may have been acknowledged, and is lost)"
                    : "taken for a write a crash interrupted, which was never acknowledged"
                recoveryNotes.append(
                    "\(file.path) ends with a record cut short or failing its checksum (batch \(floor + 1), at offset \(end)): \(why). If the machine did not stop at the time, the log is damaged and that batch's acknowledged changes are lost")
            }
        }
        pending.sort { $0.sequence < $1.sequence }
        var batches: [StoreBatch] = []
        var missing: [ClosedRange<UInt64>] = []
        var expected = applied + 1
        var previous: UInt64 = applied
        var dropped = Set<UInt64>()
        for record in pending where record.sequence > previous {
            if record.sequence > expected && unflushed {
                dropped.insert(record.sequence)
                continue
            }
            if record.sequence > expected { missing.append(expected...(record.sequence - 1)) }
            guard let logged = BatchCodec.decodeAll(record.body) else {
                problems.append("batch \(record.sequence) in \(record.path) has a valid checksum but cannot be read")
                missing.append(record.sequence...record.sequence)
                expected = record.sequence + 1
                previous = record.sequence
                continue
            }
            batches.append(contentsOf: logged)
            expected = record.sequence + 1
            previous = record.sequence
        }
        if loggedThrough >= expected && !unflushed { missing.append(expected...loggedThrough) }
        // Past every batch a log file shows, dropped ones included: none of them may ever be
        // read as a batch to apply.
        let newest = max(previous, loggedThrough, dropped.max() ?? 0)
        if unflushed && newest >= expected {
            recoveryNotes.append(
                "the last start ran with --sync none, whose log is not flushed, and the log ends at batch \(expected - 1) (\(expected - 1 - applied) applied after the last checkpoint): batches \(expected)-\(newest), acknowledged before the machine stopped, did not reach the disk whole and are lost (\(dropped.count) of them whole after the gap, dropped with it)")
        }
        if !missing.isEmpty {
            let lost = missing.reduce(0) { $0 + $1.count }
            let list = missing.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ", ")
            problems.append("\(lost) acknowledged batch(es) cannot be read from the log: \(list) (after checkpoint \(applied))")
        }
        if !problems.isEmpty {
            guard salvage else {
                throw StoreError(
                    "the write-ahead log of \(path) is damaged: " + problems.joined(separator: "; ")
                        + ". Acknowledged changes are at stake, so docketd will not start. Restore the directory from a backup, or start once with --salvage to keep the \(batches.count) valid batch(es) beyond the last checkpoint and drop the rest (each is logged)")
            }
            recoveryNotes += problems + ["salvage: applying \(batches.count) valid batch(es) beyond checkpoint \(applied); jobs whose payload was lost become dead"]
        }
        if !batches.isEmpty || newest > applied {
            // Acknowledged batches must reach LMDB whatever --max-store says now: a map too
            // small for them (a smaller setting, or a store filled to its edge before a crash)
            // grows for the replay, and admission then refuses new jobs until there is room.
            while true {
                do {
                    try applyLogged(batches) { txn in
                        try putMeta(txn, "applied_sequence", newest)
                        try putMeta(txn, "logged_through", newest)
                    }
                    break
                } catch let error as StoreError where error.isMapFull && mapBytes < 1 << 42 {
                    mapBytes *= 2
                    try check(mdb_env_set_mapsize(env, mapBytes), "mdb_env_set_mapsize")
                    recoveryNotes.append("the log's batches did not fit in --max-store \(capacityBytes) bytes; the map grew to \(mapBytes) bytes for them")
                }
            }
            if syncMode == .none { mdb_env_sync(env, 1) }
        } else if checkpointed == nil {
            // A new directory (or one that never reached a checkpoint): recorded now, so that
            // from the first acknowledged batch on a missing log file is refused, not taken for
            // the log of a directory that never had one.
            try transaction { txn in
                try putMeta(txn, "applied_sequence", newest)
                try putMeta(txn, "logged_through", newest)
            }
        }
        if unflushed {
            // What the log files hold is in LMDB now, or dropped; a dropped batch could sit past
            // any the reading above saw (after a run of torn records), where a later start would
            // take it for one of its own: the files are cleared before they are written again.
            for file in files where file.existed { try file.erase() }
        }
        if salvage && !problems.isEmpty {
            // The salvage accepted the files as they are: a cut one gets its full size back and
            // the sizes they grew to are forgotten, so that the next start, without --salvage,
            // does not refuse them again for what this one already dealt with.
            for file in files { try file.restoreFullSize() }
            try transaction { txn in
                for file in files { try putMeta(txn, Self.sizeKey(file.name), UInt64(file.size)) }
            }
        }
        // Writing starts over the first file's records, which the replay may just have applied.
        // How this start will log is recorded, durably, before it logs anything, for the next
        // start's view of a missing file and of a torn end.
        try settleBothMetaPages(loggedThrough: newest) { txn in
            try putMeta(txn, Self.lastStartLoggedKey, syncMode == .always ? 1 : Self.loggedUnflushed)
            for file in remade { try putMeta(txn, Self.sizeKey(file.name), UInt64(file.size)) }
        }
        files[0].rewind()
        log = files[0]
        spareLog = files[1]
        nextSequence = newest + 1
    }

    /// Commits once more, so that both of data.mdb's meta pages describe commits that hold every
    /// batch applied so far; called before a log file whose batches are applied is written over.
    ///
    /// LMDB writes its two meta pages in turn, and a start whose newer one is damaged starts
    /// from the other (see `MetaPage`), replaying the log from that commit's sequence. After a
    /// checkpoint that other page is the commit before it, whose batches were in the file the
    /// next checkpoint rewinds: with that page damaged after a crash (the newest complete commit's,
    /// not one torn while written), the start found batches missing from the log and refused in
    /// about one round in six of a probe that killed docketd under load. This commit costs
    /// the checkpoint thread one more durable LMDB commit per checkpoint; the commit path is
    /// not touched.
    private func settleBothMetaPages(loggedThrough: UInt64, also: (OpaquePointer?) throws -> Void = { _ in }) throws {
        try transaction { txn in
            try putMeta(txn, "logged_through", loggedThrough)
            try also(txn)
        }
    }

    /// The meta key saying how the last start wrote the log: flushed (`SyncMode.always`: 1),
    /// without flushes (`SyncMode.none`: `loggedUnflushed`), or not at all (0: `SyncMode.none`
    /// before it logged, in a directory a docketd of that time left).
    private static let lastStartLoggedKey = "last_start_logged"
    private static let loggedUnflushed: UInt64 = 2

    /// The meta key under which a log file's grown size is kept.
    private static func sizeKey(_ name: String) -> String { "log_bytes:" + name }

    private func putMeta(_ txn: OpaquePointer?, _ name: String, _ value: UInt64) throws {
        var key = Array(name.utf8)
        var bytes = value.bigEndian
        let status = key.withUnsafeMutableBytes { keyRaw in
            withUnsafeMutableBytes(of: &bytes) { valueRaw -> Int32 in
                var keyVal = MDB_val(mv_size: keyRaw.count, mv_data: keyRaw.baseAddress)
                var valueVal = MDB_val(mv_size: 8, mv_data: valueRaw.baseAddress)
                return mdb_put(txn, metaDB, &keyVal, &valueVal, 0)
            }
        }
        try check(status, "mdb_put \(name)")
    }

    private func getMeta(_ txn: OpaquePointer?, _ name: String) -> UInt64? {
        var key = Array(name.utf8)
        var found = MDB_val()
        let status = key.withUnsafeMutableBytes { keyRaw -> Int32 in
            var keyVal = MDB_val(mv_size: keyRaw.count, mv_data: keyRaw.baseAddress)
            return mdb_get(txn, metaDB, &keyVal, &found)
        }
        guard status == 0, found.mv_size == 8 else { return nil }
        return UInt64(bigEndian: found.mv_data.loadUnaligned(as: UInt64.self))
    }

    /// Room that commits finishing jobs always find beyond what data.mdb holds.
    private var finishingRoomBytes: Int { max(capacityBytes / 10, 1 << 20) }

    /// A directory filled under a larger --max-store, or by a replay that grew the map just
    /// enough, holds more than the map has room for: the next commit (the one that finishes a
    /// job, too) would not fit, and every start would end there. The map grows to what the file
    /// holds and some room beyond (admission still refuses new jobs until they are finished).
    private func keepRoomToFinishJobs() throws {
        var info = MDB_envinfo()
        try check(mdb_env_info(env, &info), "mdb_env_info")
        let held = max(lastUsedBytes, (Int(info.me_last_pgno) + 1) * pageSize)
        let needed = held + finishingRoomBytes
        guard needed > mapBytes else { return }
        mapBytes = (needed + pageSize - 1) / pageSize * pageSize
        try check(mdb_env_set_mapsize(env, mapBytes), "mdb_env_set_mapsize")
        recoveryNotes.append(
            "data.mdb holds \(held) bytes, more than --max-store \(capacityBytes) leaves room for; the map is \(mapBytes) bytes, and new jobs are refused until enough are finished or deleted")
    }

    /// Bytes in the pages held by every database (free-list included).
    /// Freed pages are reused, so this, unlike the file's high-water mark, goes down again.
    private func measureUse(_ txn: OpaquePointer?) -> Int {
        var pages = 0
        var pageSize = 4096
        for dbi in [MDB_dbi(0), MDB_dbi(1), jobsDB, payloadsDB, queuesDB, routesDB, metaDB] {
            var stat = MDB_stat()
            if mdb_stat(txn, dbi, &stat) == 0 {
                pages += Int(stat.ms_branch_pages) + Int(stat.ms_leaf_pages) + Int(stat.ms_overflow_pages)
                pageSize = Int(stat.ms_psize)
            }
        }
        return pages * pageSize
    }

    /// Payloads stored, whether or not a job record still has them; for tests and tools.
    public func storedPayloadCount() throws -> Int {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
        defer { mdb_txn_abort(txn) }
        var stat = MDB_stat()
        try check(mdb_stat(txn, payloadsDB, &stat), "mdb_stat payloads")
        return Int(stat.ms_entries)
    }

    /// Size of the data file on disk (LMDB grows it as pages are used).
    public var fileBytes: Int {
        var info = stat()
        return stat(path + "/data.mdb", &info) == 0 ? Int(info.st_size) : 0
    }

    /// Gives back this process's mapping of data.mdb's pages (they stay in the kernel's page
    /// cache: the next read of one is a minor fault). Reading through LMDB's map leaves every
    /// page read mapped, and each fault maps up to 15 cached neighbours too (the kernel's
    /// fault-around): a recovery that walks the file, or a writer appending to it, would
    /// otherwise keep the whole file in the server's resident set, where out-of-memory scoring
    /// and every RSS-based limit or alert count it as the server's memory. Called after the
    /// recovery walk and after every checkpoint (with `--sync none`, every tenth of a second).
    func releaseMappedPages() {
        guard let env, let region = mappedRegion else { return }
        var info = MDB_envinfo()
        // The map moves only when its size is set, which happens only while opening, before
        // `mappedRegion` is found; the check keeps a wrong range from ever being dropped.
        guard mdb_env_info(env, &info) == 0, info.me_mapsize == region.size else { return }
        let used = (Int(info.me_last_pgno) + 1) * pageSize
        _ = madvise(region.base, min(region.size, used), MADV_DONTNEED)
    }

    /// Where LMDB mapped data.mdb, found once it is open (LMDB does not say).
    private var mappedRegion: (base: UnsafeMutableRawPointer, size: Int)?
    private let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// The mapping of this process that holds `address`, if it is a shared one of `size` bytes
    /// (from /proc/self/maps). Only a shared mapping qualifies: dropping its pages loses nothing,
    /// as every page of it is the file's.
    static func findMapping(containing address: UnsafeRawPointer, size: Int) -> (base: UnsafeMutableRawPointer, size: Int)? {
        guard let maps = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(maps) }
        let target = UInt(bitPattern: address)
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), maps) != nil {
            // start-end perms offset major:minor inode path
            let fields = String(cString: line).split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2 else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                start <= target, target < end
            else { continue }
            guard fields[1].count == 4, fields[1].last == "s", Int(end - start) == size,
                let base = UnsafeMutableRawPointer(bitPattern: start)
            else { return nil }
            return (base, size)
        }
        return nil
    }

    /// With `SyncMode.none`, whose commits run on the caller's thread (the loop's): moves the
    /// logged batches into LMDB every `intervalMilliseconds`, durably, on a thread of its own,
    /// until `close`. Those checkpoints are what a power loss keeps: the log is never flushed,
    /// so what it holds beyond the last one can be lost (see `replayLog`).
    public func startCheckpoints(intervalMilliseconds: Int = checkpointMilliseconds) throws {
        guard syncMode == .none, checkpointer == nil else { return }
        checkpointer = try PeriodicThread(name: "checkpoint", intervalMilliseconds: intervalMilliseconds) { [unowned self] in
            checkpointRecordingErrors()
        }
    }

    /// Reads the room left on the directory's file system for `diskFreeBytes`. Blocks an
    /// unprivileged user could not take (ext4 keeps 5% for root) do not count: root may run
    /// docketd, but the space it would eat into is the operating system's.
    func measureDiskFree() {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return }
        let free = Int(stats.f_bavail) * Int(stats.f_frsize)
        withLock(usageLock) {
            measuredDiskFree = free
            usedAtDiskMeasure = lastUsedBytes + unappliedBytes
        }
    }

    /// Room in the table of payloads waiting for a checkpoint; for tests.
    var unappliedPayloadCapacity: Int { withLock(unappliedLock) { unappliedPayloads.capacity } }

    /// Checkpoints that moved batches into LMDB so far; for tests.
    public var checkpoints: Int { withLock(usageLock) { completedCheckpoints } }
    private var completedCheckpoints = 0

    /// Closes without a checkpoint, leaving the directory as a crash after the last commit
    /// would: what is only in the write-ahead log stays there. For tests of replay.
    public func abandonForTesting() {
        writer?.stop()
        writer = nil
        checkpointer?.stop(runningOnceMore: false)
        checkpointer = nil
        unapplied.removeAll()
        close()
    }

    /// Takes the exclusive lock on `descriptor`, waiting up to half a second for it. A lock can
    /// outlive its holder by a moment: a process that forks in the instant the directory is open
    /// keeps a copy of the (close-on-exec) descriptor until its child execs, and a restarted
    /// docketd can start while the old one is still exiting. A second server on the directory is
    /// still refused, half a second later.
    private static func lockSoon(_ descriptor: Int32) -> Bool {
        for _ in 0..<50 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            guard errno == EWOULDBLOCK || errno == EINTR else { return false }
            usleep(10_000)
        }
        return false
    }

    /// ` (pid N)` for the process holding the lock on `descriptor`, or "" when it cannot be told.
    private static func holderText(_ descriptor: Int32) -> String {
        LockHolder.of(descriptor).map { " (pid \($0))" } ?? ""
    }

    /// Flushes and closes the environment and releases the directory lock. Safe to call twice.
    /// Returns what went wrong on the way (a last checkpoint or flush that failed, a failure
    /// that stopped commits earlier): empty when everything acknowledged reached the disk.
    @discardableResult
    public func close() -> [String] {
        var problems: [String] = []
        writer?.stop()
        writer = nil
        checkpointer?.stop(runningOnceMore: true)
        checkpointer = nil
        if let checkpointError {
            problems.append("\(checkpointError) (the batches it could not apply stay in the log, which the next start replays)")
        } else if env != nil && !unapplied.isEmpty {
            do { try checkpoint() } catch { problems.append("the last checkpoint failed: \(error) (its batches stay in the log, which the next start replays)") }
        }
        log = nil
        spareLog = nil
        if let reader {
            mdb_txn_abort(reader)
            self.reader = nil
            readerIsCurrent = false
        }
        if let env {
            let status = mdb_env_sync(env, 1)
            if status != 0 { problems.append("the last flush of \(path)/data.mdb failed: \(String(cString: mdb_strerror(status)))") }
            mappedRegion = nil
            mdb_env_close(env)
            self.env = nil
        }
        if dataLockDescriptor >= 0 {
            Glibc.close(dataLockDescriptor)
            dataLockDescriptor = -1
        }
        if lockDescriptor >= 0 {
            Glibc.close(lockDescriptor)
            lockDescriptor = -1
        }
        return problems
    }

    /// Throws unless `status` is success. The description is built only on failure: puts run
    /// per job on the commit thread, and formatting a message for each cost 14% of it.
    private func check(_ status: Int32, _ operation: @autoclosure () -> String) throws {
        guard status == 0 else {
            // A page LMDB finds to be of the wrong kind, or pointing outside the file, or a meta
            // page without LMDB's mark (either of the two: LMDB reads both), is damage to
            // data.mdb, not a failed operation: say so, name the file and what to do, as the
            // assertion handler does for the damage LMDB finds deeper down.
            if status == MDB_CORRUPTED || status == MDB_PAGE_NOTFOUND || status == MDB_INVALID || wroteFarPastTheMap(status) {
                throw StoreError(Self.damagedByLMDBMessage(path, "\(operation()): \(String(cString: mdb_strerror(status)))"), status: status)
            }
            throw StoreError("\(operation()) failed in \(path): \(String(cString: mdb_strerror(status)))\(Self.hint(status, path))", status: status)
        }
    }

    /// Whether LMDB's write failed with EFBIG where only a damaged page can have sent it: no
    /// file-size limit (`ulimit -f`) and a file system whose files may be larger than the map.
    /// LMDB takes the page numbers of its free list as they are, and one garbled there (a bit
    /// flipped in the free list's page) made the start's first commit write terabytes past the
    /// file's end: "mdb_txn_commit failed: File too large", which sends an operator to the limits.
    private func wroteFarPastTheMap(_ status: Int32) -> Bool {
        guard status == EFBIG else { return false }
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur == rlim_t.max else { return false }
        let bits = pathconf(path, Int32(_PC_FILESIZEBITS))
        return bits >= 64 || (bits > 1 && 1 << (bits - 1) > mapBytes)
    }

    /// The line for damage LMDB itself found in `directory`'s data.mdb (`finding` is its words).
    static func damagedByLMDBMessage(_ directory: String, _ finding: String) -> String {
        "\(directory)/data.mdb is damaged (LMDB: \(finding)). Restore the data directory from a backup"
    }

    /// LMDB reports a short write as EIO, and a full disk or a file-size limit writes short: an
    /// operator told only "Input/output error" looks for a hardware fault. A refused write names
    /// the files that cannot be written.
    static func hint(_ status: Int32, _ path: String) -> String {
        if status == EACCES || status == EPERM || status == EROFS {
            // LMDB's own words name neither file: which one (a lock.mdb left by another user, a
            // directory the server may not write) is what an operator must change.
            let files: [String] = [path, path + "/data.mdb", path + "/lock.mdb"]
            let unwritable = files.filter { file in access(file, F_OK) == 0 && access(file, W_OK) != 0 }
            return unwritable.isEmpty ? "" : " (docketd runs as user \(getuid()), which cannot write \(unwritable.joined(separator: ", ")))"
        }
        guard status == EIO else { return "" }
        var parts: [String] = []
        var info = statvfs()
        if statvfs(path, &info) == 0 {
            let free = Int(info.f_bavail) * Int(info.f_frsize)
            parts.append("\(free) bytes are free on its file system")
        }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            parts.append("files may grow to \(limit.rlim_cur) bytes (ulimit -f)")
        }
        return " (LMDB reports a short write as an I/O error, which a full disk or a file-size limit also causes: \(parts.joined(separator: "; ")))"
    }
}

private func withLock<T>(_ lock: UnsafeMutablePointer<pthread_mutex_t>, _ body: () throws -> T) rethrows -> T {
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    return try body()
}


/// A storage failure, with a message fit for the log.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The LMDB status behind the error, if one is.
    public let status: Int32?
    public init(_ description: String, status: Int32? = nil) {
        self.description = description
        self.status = status
    }

    /// LMDB ran out of map: more room (a larger map) would let the same write through.
    public var isMapFull: Bool { status == MDB_MAP_FULL }
}

/// A write cursor on a database keyed by id (8 bytes, big-endian: jobs, payloads, routes).
private struct KeyCursor {
    typealias Check = (Int32, @autoclosure () -> String) throws -> Void
    let cursor: OpaquePointer?
    /// What the database holds, for error messages ("job", "payload").
    let kind: String
    let check: Check

    init(_ txn: OpaquePointer?, _ dbi: MDB_dbi, _ kind: String, _ check: @escaping Check) throws {
        var opened: OpaquePointer?
        try check(mdb_cursor_open(txn, dbi, &opened), "mdb_cursor_open \(kind)s")
        cursor = opened
        self.kind = kind
        self.check = check
    }

    func close() { mdb_cursor_close(cursor) }

    /// Writes `bytes` under `id`, sealed (`SealedValue`): LMDB reserves the room and the value
    /// is copied into the page once, as a plain put would copy it.
    func put(_ id: UInt64, _ bytes: UnsafeRawBufferPointer) throws {
        var key = id.bigEndian
        try withUnsafeMutableBytes(of: &key) { keyRaw in
            try SealedValue.put(key: UnsafeRawBufferPointer(keyRaw), value: bytes) { size in
                var keyVal = MDB_val(mv_size: 8, mv_data: keyRaw.baseAddress)
                var room = MDB_val(mv_size: size, mv_data: nil)
                try check(mdb_cursor_put(cursor, &keyVal, &room, UInt32(MDB_RESERVE)), "mdb_put \(kind) \(id)")
                return room.mv_data
            }
        }
    }

    /// The largest key in the database, nil when it is empty. Deletes of keys above it are
    /// skipped, so anything but a clear answer must not read as "empty": an LMDB error throws,
    /// and a key that is not 8 bytes (a damaged store) counts as the largest possible.
    func highestKey() throws -> UInt64? {
        var key = MDB_val()
        var value = MDB_val()
        let status = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
        if status == MDB_NOTFOUND { return nil }
        try check(status, "mdb_cursor_get last \(kind)")
        guard key.mv_size == 8 else { return .max }
        return UInt64(bigEndian: key.mv_data.loadUnaligned(as: UInt64.self))
    }

    /// Deletes `id`'s entry; one that is not there is not an error.
    func delete(_ id: UInt64) throws {
        var key = id.bigEndian
        let status = withUnsafeMutableBytes(of: &key) { keyRaw -> Int32 in
            var keyVal = MDB_val(mv_size: 8, mv_data: keyRaw.baseAddress)
            var found = MDB_val()
            // Not found leaves the cursor on the next key: only a found key is deleted.
            let position = mdb_cursor_get(cursor, &keyVal, &found, MDB_SET)
            return position == 0 ? mdb_cursor_del(cursor, 0) : position
        }
        if status != MDB_NOTFOUND { try check(status, "mdb_del \(kind) \(id)") }
    }
}
