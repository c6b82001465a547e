import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import docket_bench

/// `--postgres`: which clusters are accepted, and how a run's own database is named.
@Suite struct PostgresTargetTests {
    @Test func aURIGetsTheRunsDatabaseInPlaceOfItsOwn() throws {
        let target = try PostgresTarget("postgres://docket@127.0.0.1:5433/postgres")
        #expect(target.conninfo(database: "run_1") == "postgres://docket@127.0.0.1:5433/run_1")
        let bare = try PostgresTarget("postgresql://127.0.0.1")
        #expect(bare.conninfo(database: "run_1") == "postgresql://127.0.0.1/run_1")
        // Parameters stay; a dbname among them would win over the path, so it goes.
        let withParameters = try PostgresTarget("postgres://u:p%40ss@localhost:5432/x?dbname=x&connect_timeout=5")
        #expect(withParameters.conninfo(database: "run_1") == "postgres://u:p%40ss@localhost:5432/run_1?connect_timeout=5")
    }

    @Test func keywordsGetADatabaseKeywordAfterTheirOwn() throws {
        let target = try PostgresTarget("host=127.0.0.1 port=5433 user=docket dbname=postgres")
        #expect(target.conninfo(database: "run_1") == "host=127.0.0.1 port=5433 user=docket dbname=postgres dbname=run_1")
    }

    @Test func acceptsOnlyThisMachine() throws {
        for local in [
            "postgres://docket@127.0.0.1:5432/postgres", "postgres://[::1]:5432/db", "postgres://localhost,127.0.0.2:6000/db",
            "postgres:///db?host=%2Ftmp%2Fpg", "host=/var/run/postgresql", "hostaddr=127.0.0.1 port=1", "dbname=x",
        ] {
            _ = try PostgresTarget(local)
        }
        for remote in [
            "postgres://docket@10.0.0.1:5432/postgres", "postgres://db.example.com/x", "postgres://127.0.0.1,10.1.1.1/x",
            "postgres:///x?host=example.com", "host=example.com", "host='10.0.0.1' port=5432", "hostaddr=192.168.1.1",
        ] {
            #expect(throws: BenchError.self, "\(remote)") { _ = try PostgresTarget(remote) }
        }
        // With no host, libpq would follow PGHOST.
        #expect(throws: BenchError.self) { _ = try PostgresTarget("dbname=x", environment: ["PGHOST": "db.example.com"]) }
        _ = try PostgresTarget("dbname=x", environment: ["PGHOST": "/tmp"])
    }

    @Test func readsQuotedKeywordValues() throws {
        let pairs = try PostgresTarget.keywords(#"host = '127.0.0.1'  password='it\'s here' user=a\ b"#)
        #expect(pairs.map(\.0) == ["host", "password", "user"])
        #expect(pairs.map(\.1) == ["127.0.0.1", "it's here", "a b"])
        #expect(throws: BenchError.self) { _ = try PostgresTarget.keywords("host='127.0.0.1") }
        #expect(throws: BenchError.self) { _ = try PostgresTarget.keywords("postgres") }
    }
}

@Suite struct ProcessTreeCPUTests {
    @Test func readsAProcessAndItsParent() {
        #expect(ProcessTreeCPU.parent(of: getpid()) == getppid())
        let own = ProcessTreeCPU.seconds(root: getpid())
        #expect(own != nil)
        #expect((own ?? -1) >= 0)
        #expect(ProcessTreeCPU.seconds(root: Int32.max) == nil)
    }
}
