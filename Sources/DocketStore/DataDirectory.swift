import CLMDB
import Glibc

/// The server's data directory: created if missing, locked against a second server, and home
/// of the LMDB environment whose layout version is checked on every open.
///
/// The job store (issue 3) grows inside this environment; for now it holds the layout record,
/// which is what lets a later version refuse, or migrate, data it does not understand.
public final class DataDirectory {
    /// Version of the on-disk layout. Bump it whenever a key or value format changes, and teach
    /// `open` to migrate the previous version (read with the old codec, rewrite with the new,
    /// in one write transaction) before raising it.
    public static let layoutVersion: UInt32 = 1

    public let path: String
    private var env: OpaquePointer?
    private var lockDescriptor: Int32 = -1

    /// Opens (creating if needed) the data directory at `path`.
    /// - Parameter mapSize: the most bytes LMDB may map; the file is sparse, so this is a cap.
    public init(path: String, mapSize: Int = 1 << 32) throws {
        self.path = path
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw StoreError("cannot create data directory \(path): \(String(cString: strerror(errno)))")
        }
        lockDescriptor = open(path + "/LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockDescriptor >= 0 else {
            throw StoreError("cannot open \(path)/LOCK: \(String(cString: strerror(errno)))")
        }
        // LMDB lets several processes share an environment; two servers on one directory
        // would each believe they own every job, so the second one is refused.
        guard flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(lockDescriptor)
            lockDescriptor = -1
            throw StoreError("data directory \(path) is in use by another docketd")
        }
        do {
            try openEnvironment(mapSize: mapSize)
            try checkLayout()
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    private func openEnvironment(mapSize: Int) throws {
        try check(mdb_env_create(&env), "mdb_env_create")
        try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
        try check(mdb_env_set_maxdbs(env, 16), "mdb_env_set_maxdbs")
        try check(mdb_env_open(env, path, UInt32(MDB_NOTLS), 0o644), "mdb_env_open")
    }

    /// Reads the layout record, writing it on first open; refuses a layout it does not know.
    private func checkLayout() throws {
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var committed = false
        defer { if !committed { mdb_txn_abort(txn) } }
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(txn, "meta", UInt32(MDB_CREATE), &dbi), "mdb_dbi_open meta")
        var keyBytes = Array("layout_version".utf8)
        var found = MDB_val()
        let status = keyBytes.withUnsafeMutableBytes { key -> Int32 in
            var keyVal = MDB_val(mv_size: key.count, mv_data: key.baseAddress)
            return mdb_get(txn, dbi, &keyVal, &found)
        }
        if status == MDB_NOTFOUND {
            var version = Self.layoutVersion.bigEndian
            try keyBytes.withUnsafeMutableBytes { key throws in
                var keyVal = MDB_val(mv_size: key.count, mv_data: key.baseAddress)
                try withUnsafeMutableBytes(of: &version) { value throws in
                    var valueVal = MDB_val(mv_size: value.count, mv_data: value.baseAddress)
                    try check(mdb_put(txn, dbi, &keyVal, &valueVal, 0), "mdb_put layout_version")
                }
            }
        } else {
            try check(status, "mdb_get layout_version")
            guard found.mv_size == 4 else { throw StoreError("layout record is corrupt in \(path)") }
            let stored = UInt32(bigEndian: found.mv_data.loadUnaligned(as: UInt32.self))
            guard stored == Self.layoutVersion else {
                throw StoreError(
                    "data directory \(path) has layout version \(stored); this docketd reads version \(Self.layoutVersion)")
            }
        }
        try check(mdb_txn_commit(txn), "mdb_txn_commit")
        committed = true
    }

    /// Flushes and closes the environment and releases the directory lock. Safe to call twice.
    public func close() {
        if let env {
            mdb_env_sync(env, 1)
            mdb_env_close(env)
            self.env = nil
        }
        if lockDescriptor >= 0 {
            Glibc.close(lockDescriptor)
            lockDescriptor = -1
        }
    }

    private func check(_ status: Int32, _ operation: String) throws {
        guard status == 0 else {
            throw StoreError("\(operation) failed in \(path): \(String(cString: mdb_strerror(status)))")
        }
    }
}

/// A storage failure, with a message fit for the log.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
